"""StartProcess and RetryProcess over HTTP: farms, refusals, answers."""

import pytest
from django.test import override_settings

from arkindex.corpora.models import Level
from ponos.models import State, Task
from process.models import ProcessMode
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import (
    CorpusMembershipFactory,
    FarmFactory,
    FarmMembershipFactory,
    ProcessFactory,
    UserFactory,
)
from tests.process.helpers import add_worker_run, finish_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(process):
    """The shared process, not started yet (no farm), with two worker runs."""
    process.farm = None
    process.save()
    first = add_worker_run(process, slug="first")
    add_worker_run(process, slug="second", parents=[first])
    return process


# These tests are about the runs themselves: without worker activities their tasks are
# scheduled at once (tests/process/test_worker_activities.py covers the activities).
def start(user, process, body=None):
    body = {"worker_activity": False, **(body or {})}
    return client_for(user).post(f"/api/v1/process/{process.id}/start/", body, format="json")


def retry(user, process, body=None):
    body = {"worker_activity": False, **(body or {})}
    return client_for(user).post(f"/api/v1/process/{process.id}/retry/", body, format="json")


class TestStart:
    def test_start_builds_run_zero_and_answers_the_detail(self, ready, contributor, farm):
        response = start(contributor, ready, {"farm": str(farm.id), "chunks": 2})

        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["farm"] == {"id": str(farm.id), "name": "Main farm"}
        assert body["state"] == "pending"
        assert body["started"] is not None and body["finished"] is None
        assert body["chunks"] == 2
        assert [(t["run"], t["slug"], t["state"]) for t in body["tasks"]] == [
            (0, "first_1", "pending"),
            (0, "first_2", "pending"),
            (0, "second_1", "unscheduled"),
            (0, "second_2", "unscheduled"),
        ]
        assert body["expiry"] is not None

    def test_the_default_farm_is_used_when_none_is_given(self, ready, contributor, default_farm):
        response = start(contributor, ready)
        assert response.status_code == 200, response.json()
        assert response.json()["farm"]["id"] == str(default_farm.id)

    def test_the_default_farm_is_open_to_everyone(self, ready, corpus_admin, other_farm):
        with override_settings(PONOS_DEFAULT_FARM=other_farm.pk):
            response = start(corpus_admin, ready)
        assert response.status_code == 200, response.json()

    def test_no_farm_and_no_default_farm_is_a_400(self, ready, contributor, settings):
        settings.PONOS_DEFAULT_FARM = None
        errors = assert_error(start(contributor, ready), 400, attr=["farm"])
        assert errors[0]["detail"] == (
            "No farm was given and there is no default farm (PONOS_DEFAULT_FARM): give the id "
            "of a farm from ListFarms."
        )

    def test_an_unknown_farm_is_a_400(self, ready, contributor):
        farm_id = "00000000-0000-4000-8000-000000000000"
        errors = assert_error(start(contributor, ready, {"farm": farm_id}), 400, attr=["farm"])
        assert errors[0]["detail"] == f"No farm has the id {farm_id}: ListFarms lists yours."

    def test_a_farm_the_caller_may_not_use_is_a_403(self, ready, contributor, other_farm):
        response = start(contributor, ready, {"farm": str(other_farm.id)})
        errors = assert_error(response, 403)
        assert errors[0]["detail"] == (
            f"You may not run processes on the farm 'Other farm' ({other_farm.id}): ask its "
            "admins for guest access, or choose a farm from ListFarms."
        )
        assert not Task.objects.filter(process=ready).exists()

    def test_already_started_is_a_400(self, ready, contributor, farm):
        start(contributor, ready, {"farm": str(farm.id)})
        errors = assert_error(
            start(contributor, ready, {"farm": str(farm.id)}), 400, error_type="validation_error"
        )
        assert errors[0]["detail"] == (
            "This process has already been started: use RetryProcess to run it again."
        )
        assert errors[0]["code"] == "already_started"

    @pytest.mark.parametrize("mode", [ProcessMode.TEMPLATE, ProcessMode.LOCAL])
    def test_templates_and_local_processes_are_refused(self, contributor, corpus, farm, mode):
        process = ProcessFactory(
            creator=contributor, mode=mode, corpus=corpus if mode == "template" else None
        )
        errors = assert_error(
            start(contributor, process, {"farm": str(farm.id)}),
            400,
            error_type="validation_error",
        )
        assert errors[0]["detail"] == (
            f"A {mode} process holds a configuration and never runs: create a workers "
            "process to run it."
        )

    def test_a_workers_process_without_worker_runs_is_refused(self, process, contributor, farm):
        errors = assert_error(
            start(contributor, process, {"farm": str(farm.id)}), 400, error_type="validation_error"
        )
        assert errors[0]["detail"] == (
            "This process has no worker runs: add at least one with CreateWorkerRun."
        )

    def test_a_version_that_is_not_available_is_refused(self, ready, contributor, farm):
        add_worker_run(ready, slug="new", state="created")
        errors = assert_error(
            start(contributor, ready, {"farm": str(farm.id)}), 400, error_type="validation_error"
        )
        assert errors[0]["detail"].startswith(
            "Every worker version must be available to run; these are not: new version"
        )

    def test_a_repository_process_starts_its_import_task(self, outsider, default_farm):
        process = ProcessFactory(
            creator=outsider, mode=ProcessMode.REPOSITORY, repository_url="https://g.example/r"
        )
        response = start(outsider, process)
        assert response.status_code == 200, response.json()
        assert [t["slug"] for t in response.json()["tasks"]] == ["import"]

    @pytest.mark.parametrize("body", [{"chunks": 0}, {"chunks": 11}, {"use_gpu": "maybe"}])
    def test_invalid_settings_are_a_400(self, ready, contributor, farm, body):
        [attr] = body
        assert_error(start(contributor, ready, {"farm": str(farm.id), **body}), 400, attr=[attr])


class TestRetry:
    @pytest.fixture
    def ran(self, ready, contributor, farm):
        assert start(contributor, ready, {"farm": str(farm.id)}).status_code == 200
        finish_run(ready, State.FAILED)
        return ready

    def test_retry_builds_the_next_run_on_the_same_farm(self, ran, contributor, farm):
        response = retry(contributor, ran)

        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["farm"]["id"] == str(farm.id)
        assert body["state"] == "pending"
        assert body["finished"] is None
        assert [(t["run"], t["slug"]) for t in body["tasks"]] == [
            (0, "first"),
            (0, "second"),
            (1, "first"),
            (1, "second"),
        ]

    def test_a_completed_process_can_be_retried(self, ran, contributor):
        finish_run(ran, State.COMPLETED)
        assert retry(contributor, ran).status_code == 200

    def test_retry_on_another_farm(self, ran, contributor):
        farm = FarmFactory(name="Second farm")
        FarmMembershipFactory(farm=farm, user=contributor)
        response = retry(contributor, ran, {"farm": str(farm.id)})
        assert response.status_code == 200
        assert response.json()["farm"] == {"id": str(farm.id), "name": "Second farm"}

    def test_retry_on_a_farm_the_caller_may_not_use_is_a_403(self, ran, contributor, other_farm):
        assert_error(retry(contributor, ran, {"farm": str(other_farm.id)}), 403)

    def test_retry_rechecks_the_current_farm_for_the_caller(self, ran, corpus):
        # A corpus admin manages the process, but may not use the farm it ran on.
        manager = UserFactory()
        CorpusMembershipFactory(corpus=corpus, user=manager, level=Level.ADMIN)
        errors = assert_error(retry(manager, ran), 403)
        assert errors[0]["detail"].startswith("You may not run processes on the farm 'Main farm'")

    def test_an_active_process_is_refused(self, ran, contributor):
        assert retry(contributor, ran).status_code == 200
        errors = assert_error(retry(contributor, ran), 400, error_type="validation_error")
        assert errors[0]["detail"] == (
            "This process is still active (pending): stop it, or wait until it finishes, "
            "before retrying it."
        )

    def test_a_process_that_never_started_is_refused(self, ready, contributor):
        errors = assert_error(retry(contributor, ready), 400, error_type="validation_error")
        assert errors[0]["detail"] == "This process has not been started yet: use StartProcess."

    def test_a_cleaned_up_process_is_retried_from_its_worker_runs(self, ran, contributor):
        Task.objects.filter(process=ran).delete()
        response = retry(contributor, ran)
        assert response.status_code == 200
        assert [(t["run"], t["slug"]) for t in response.json()["tasks"]] == [
            (1, "first"),
            (1, "second"),
        ]

    def test_a_fixed_worker_run_is_picked_up_by_the_retry(self, ran, contributor):
        run = ran.worker_runs.get(version__worker__slug="second")
        response = client_for(contributor).patch(
            f"/api/v1/process/workers/{run.id}/", {"configuration": {"fixed": True}}, format="json"
        )
        assert response.status_code == 200, response.json()
        add_worker_run(ran, slug="third")
        assert retry(contributor, ran).status_code == 200
        assert set(Task.objects.filter(process=ran, run=1).values_list("slug", flat=True)) == {
            "first",
            "second",
            "third",
        }
