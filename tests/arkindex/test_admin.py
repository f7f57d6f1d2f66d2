"""The Django admin pages of every model (issue 2 §3), loaded by a superuser."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from arkindex.documents.elements import create_element
from arkindex.documents.models import ElementType, Transcription
from arkindex.users.models import User
from ponos.models import Agent, Artifact, Farm, Task
from process.models import WorkerActivity, WorkerVersion
from tests.conftest import agent_client, client_for
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
    run = WorkerRunFactory(process=running_task.process)
    page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
    page = create_element(corpus=corpus, type=page_type, name="Page 1", worker_run=run)
    Transcription.objects.create(element=page, text="Text", worker_run=run)
    now = timezone.now()
    WorkerActivity.objects.create(
        process=running_task.process, worker_run=run, element=page, created=now, updated=now
    )


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

    # Element paths are kept by the code that links elements, never edited by hand.
    inlined = {"corpusmembership", "farmmembership", "gpu", "logpiece", "workerrun", "elementpath"}
    for model in apps.get_models():
        if model._meta.app_label not in {"users", "corpora", "documents", "ponos", "process"}:
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


def test_a_farm_seed_is_regenerated_by_an_action(browser, farm, running_task, agent):
    old = farm.seed
    response = browser.post(
        reverse("admin:ponos_farm_changelist"),
        {"action": "regenerate_seed", "_selected_action": [farm.pk]},
        follow=True,
    )
    farm.refresh_from_db()
    assert farm.seed != old
    page = response.content.decode()
    assert f"New seed of Main farm: {farm.seed} (1 agent(s) revoked, 1 task(s)" in page
    assert Farm.objects.get(pk=farm.pk).seed == farm.seed
    # The agent registered with the old seed is revoked; the task it ran is in error.
    assert agent_client(agent).get("/api/v1/agent/actions/").status_code == 401
    assert Task.objects.get(pk=running_task.pk).state == "error"


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
    page = response.content.decode()
    assert running_task.token not in page
    assert running_task.token_mask not in page and running_task.token_hash not in page


def test_user_tokens_are_listed_without_key_nor_digest(browser, contributor):
    [token] = contributor.tokens.all()
    pages = [
        browser.get(reverse("admin:users_usertoken_changelist")),
        browser.get(reverse("admin:users_usertoken_change", args=[token.pk])),
        browser.get(reverse("admin:users_user_change", args=[contributor.pk])),
    ]
    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        assert contributor.auth_token_key not in page and token.key_hash not in page
    assert "cecil@example.com" in pages[0].content.decode()
    # DRF's own token page, which listed keys, is gone.
    assert browser.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_deleting_a_user_token_in_the_admin_revokes_it(browser, contributor):
    [token] = contributor.tokens.all()
    response = browser.post(
        reverse("admin:users_usertoken_delete", args=[token.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not contributor.tokens.exists()
    response = client_for(contributor).get("/api/v1/user/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["detail"] == "Invalid token."


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
