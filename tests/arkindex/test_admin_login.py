"""The admin's login page shares the Login throttle: the same rate, the same counter."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "hunter22hunter"


@pytest.fixture
def login_rate(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "3/min"},
    }


def api_login(client, email, password):
    body = {"email": email, "password": password}
    return client.post("/api/v1/user/login/", body, content_type="application/json")


def admin_login(client, email, password):
    return client.post("/admin/login/", {"username": email, "password": password})


def test_wrong_passwords_on_the_admin_are_throttled(login_rate, superuser):
    client = Client()
    for _ in range(3):
        response = admin_login(client, superuser.email, "wrong")
        assert response.status_code == 200
        assert b"Please enter the correct" in response.content

    response = admin_login(client, superuser.email, PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"].isdigit()
    assert b"Too many login attempts" in response.content
    assert Session.objects.count() == 0


def test_the_admin_and_the_api_login_share_one_counter(login_rate, superuser):
    client = Client()
    assert api_login(client, superuser.email, "x").status_code == 401
    assert client.post("/ui/login/", {"email": superuser.email, "password": "x"}).status_code == 400
    assert admin_login(client, superuser.email, "wrong").status_code == 200

    assert admin_login(client, superuser.email, PASSWORD).status_code == 429
    assert api_login(client, superuser.email, PASSWORD).status_code == 429
    assert Session.objects.count() == 0


def test_the_admin_login_page_still_shows_and_the_right_password_gets_in(login_rate, superuser):
    client = Client()
    assert client.get("/admin/login/").status_code == 200

    response = admin_login(client, superuser.email, PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
