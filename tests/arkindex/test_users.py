"""The user model of SPEC §4: email login, one admin flag, createsuperuser from variables."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from arkindex.users.models import User

pytestmark = pytest.mark.django_db


def test_the_user_model_logs_in_by_email():
    assert get_user_model() is User
    assert User.USERNAME_FIELD == "email"
    assert User.REQUIRED_FIELDS == []


def test_create_user_takes_an_email_and_an_optional_password():
    user = User.objects.create_user("Someone@EXAMPLE.com")
    assert user.email == "Someone@example.com"
    assert not user.has_usable_password()
    assert (user.is_admin, user.is_superuser, user.display_name) == (False, False, "")
    other = User.objects.create_user("other@example.com", "secret-pass", display_name="O")
    assert other.check_password("secret-pass")
    assert other.display_name == "O"


def test_create_user_needs_an_email():
    with pytest.raises(ValueError, match="email"):
        User.objects.create_user("")


def test_create_superuser_makes_an_admin():
    user = User.objects.create_superuser("root@example.com", "secret-pass")
    assert (user.is_admin, user.is_superuser, user.is_staff) == (True, True, True)


def test_unticking_is_admin_demotes_a_superuser(superuser):
    superuser.is_admin = False
    superuser.save()
    superuser.refresh_from_db()
    assert (superuser.is_admin, superuser.is_superuser, superuser.is_staff) == (False, False, False)


def test_is_admin_in_update_fields_saves_is_superuser_too(outsider):
    outsider.is_admin = True
    outsider.save(update_fields=["is_admin"])
    outsider.refresh_from_db()
    assert (outsider.is_admin, outsider.is_superuser) == (True, True)


def test_createsuperuser_reads_its_variables(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "admin@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password")
    call_command("createsuperuser", interactive=False, verbosity=0)
    user = User.objects.get(email="admin@example.com")
    assert user.is_admin
    assert user.check_password("a-long-password")
