"""The Django admin pages of every model (issue 2 §3), loaded by a superuser."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from arkindex.users.models import User
from ponos.models import Agent, Artifact, Farm, Task
from process.models import WorkerVersion
from tests.factories import WorkerRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(superuser):
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def objects(corpus, farm, running_task):
    """One row of every registered model."""
    Group.objects.create(name="Operators")
    Artifact.objects.create(task=running_task, path="out.json", size=2)
    WorkerRunFactory(process=running_task.process)


def registered_models():
    return [
        pytest.param(model, id=f"{model._meta.app_label}.{model._meta.model_name}")
        for model in admin.site._registry
        # django-rq's dashboard needs a Redis server, which the test suite does not run.
        if model._meta.app_label != "django_rq"
    ]


@pytest.mark.parametrize("model", registered_models())
def test_the_list_add_and_change_pages_load(browser, objects, model):
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    assert browser.get(reverse(f"{prefix}_changelist")).status_code == 200
    assert browser.get(reverse(f"{prefix}_add")).status_code in (200, 403)
    instance = model.objects.first()
    assert instance is not None, model
    assert browser.get(reverse(f"{prefix}_change", args=[instance.pk])).status_code == 200


def test_every_model_has_an_admin_page():
    from django.apps import apps

    inlined = {"corpusmembership", "farmmembership", "gpu", "logpiece", "workerrun"}
    for model in apps.get_models():
        if model._meta.app_label not in {"users", "corpora", "ponos", "process"}:
            continue
        assert model in admin.site._registry or model._meta.model_name in inlined, model


def test_the_admin_is_for_admins_only(outsider):
    client = Client()
    client.force_login(outsider)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_a_user_is_added_by_email(browser):
    response = browser.post(
        reverse("admin:users_user_add"),
        {"email": "new@example.com", "password1": "long-pass-123", "password2": "long-pass-123"},
    )
    assert response.status_code == 302, response.content
    assert User.objects.get(email="new@example.com").check_password("long-pass-123")


def test_an_admin_is_demoted_by_unticking_is_admin(browser, outsider):
    outsider.is_admin = True
    outsider.save()
    response = browser.post(
        reverse("admin:users_user_change", args=[outsider.pk]),
        {"email": outsider.email, "display_name": "Oscar", "is_active": "on"},
    )
    assert response.status_code == 302, response.content
    outsider.refresh_from_db()
    assert (outsider.is_admin, outsider.is_superuser) == (False, False)


def test_a_farm_page_hides_its_seed(browser, farm):
    response = browser.get(reverse("admin:ponos_farm_change", args=[farm.pk]))
    assert farm.seed not in response.content.decode()


def test_a_farm_seed_is_regenerated_by_an_action(browser, farm):
    old = farm.seed
    response = browser.post(
        reverse("admin:ponos_farm_changelist"),
        {"action": "regenerate_seed", "_selected_action": [farm.pk]},
        follow=True,
    )
    farm.refresh_from_db()
    assert farm.seed != old
    assert farm.seed in response.content.decode()
    assert Farm.objects.get(pk=farm.pk).seed == farm.seed


def test_an_agent_is_disabled_by_an_action(browser, agent):
    browser.post(
        reverse("admin:ponos_agent_changelist"),
        {"action": "disable", "_selected_action": [agent.pk]},
    )
    assert Agent.objects.get(pk=agent.pk).enabled is False


def test_tasks_are_filtered_by_state(browser, running_task):
    url = reverse("admin:ponos_task_changelist")
    running = browser.get(url, {"state__exact": "running"})
    assert running_task.slug in running.content.decode()
    pending = browser.get(url, {"state__exact": "pending"})
    assert pending.status_code == 200
    assert f">{running_task.slug}<" not in pending.content.decode()
    assert Task.objects.filter(state="running").count() == 1


def test_task_tokens_are_never_shown(browser, running_task):
    response = browser.get(reverse("admin:ponos_task_change", args=[running_task.pk]))
    assert running_task.token not in response.content.decode()


@pytest.mark.parametrize(
    "model",
    ["ponos_agent", "ponos_task", "process_workerversion"],
)
def test_rows_made_by_the_api_cannot_be_added_by_hand(browser, model):
    # Agents register with a seed, tasks come from the builder, versions are numbered by
    # the server: an admin form could only make broken rows.
    assert browser.get(reverse(f"admin:{model}_add")).status_code == 403


def test_a_worker_page_adds_no_version(browser):
    response = browser.post(
        reverse("admin:process_worker_add"),
        {
            "name": "Worker",
            "slug": "worker",
            "type": "recognizer",
            "versions-TOTAL_FORMS": 1,
            "versions-INITIAL_FORMS": 0,
            "versions-0-docker_image": "image",
            "versions-0-gpu_usage": "disabled",
            "versions-0-configuration": "{}",
            "versions-0-state": "available",
        },
    )
    assert response.status_code == 302
    assert not WorkerVersion.objects.exists()
