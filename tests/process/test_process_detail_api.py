"""RetrieveProcess, UpdateProcess / PartialUpdateProcess and the stop of a whole process."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from ponos.models import State, Task
from process.builder import start_process
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import TaskFactory
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db

DETAIL_FIELDS = {
    "id",
    "name",
    "mode",
    "corpus",
    "state",
    "farm",
    "creator",
    "created",
    "updated",
    "started",
    "finished",
    "tasks",
    "chunks",
    "use_gpu",
    "repository_url",
    "expiry",
    # The selection of a workers process and the state of its activities (SPEC §11).
    "element",
    "load_children",
    "element_type",
    "name_contains",
    "activity_state",
}
TASK_FIELDS = {
    "id",
    "run",
    "depth",
    "slug",
    "state",
    "parents",
    "requires_gpu",
    "original_task_id",
    "worker_run_id",
    "created",
    "updated",
    "started",
    "finished",
}


def url(process):
    return f"/api/v1/process/{process.id}/"


class TestRetrieve:
    def test_a_process_without_tasks(self, process, guest):
        response = client_for(guest).get(url(process))

        assert response.status_code == 200
        body = response.json()
        assert set(body) == DETAIL_FIELDS
        assert body["tasks"] == []
        assert body["expiry"] is None
        assert body["state"] == "unscheduled"
        assert body["chunks"] == 1 and body["use_gpu"] is False
        assert body["repository_url"] is None

    def test_tasks_of_every_run_in_run_depth_slug_order_with_parent_ids(self, process, contributor):
        a = TaskFactory(process=process, run=0, slug="b-root", state=State.FAILED)
        b = TaskFactory(process=process, run=0, slug="a-child", depth=1, state=State.UNSCHEDULED)
        b.parents.add(a)
        c = TaskFactory(process=process, run=1, slug="a-root", state=State.PENDING)
        restart = TaskFactory(
            process=process, run=0, slug="b-root_2", state=State.PENDING, original_task=a
        )
        expiries = [timezone.now() + timedelta(days=days) for days in (3, 9, 1, 2)]
        for task, expiry in zip([a, b, c, restart], expiries, strict=True):
            Task.objects.filter(pk=task.pk).update(expiry=expiry)
        process.last_run = 1
        process.save()

        body = client_for(contributor).get(url(process)).json()

        assert [(t["run"], t["depth"], t["slug"]) for t in body["tasks"]] == [
            (0, 0, "b-root"),
            (0, 0, "b-root_2"),
            (0, 1, "a-child"),
            (1, 0, "a-root"),
        ]
        child = body["tasks"][2]
        assert set(child) == TASK_FIELDS
        assert child["id"] == str(b.id)
        assert child["parents"] == [str(a.id)]
        assert child["state"] == "unscheduled"
        assert body["tasks"][1]["original_task_id"] == str(a.id)
        assert body["expiry"] == expiries[1].isoformat().replace("+00:00", "Z")
        # Secrets and definitions are not part of the process detail.
        assert not {"token", "env", "image", "command"} & set(child)

    def test_built_tasks_show_their_worker_run_and_gpu(self, process, contributor, farm):
        process.farm = None
        process.save()
        run = add_worker_run(process, slug="gpu", gpu_usage="required")
        start_process(process.pk, farm=farm)

        [task] = client_for(contributor).get(url(process)).json()["tasks"]
        assert task["worker_run_id"] == str(run.id)
        assert task["requires_gpu"] is True
        assert task["slug"] == "gpu"

    def test_no_storage_call(self, process, contributor):
        make_run(process, a=State.RUNNING)
        with mock.patch("ponos.storage.get_storage", side_effect=AssertionError):
            assert client_for(contributor).get(url(process)).status_code == 200

    @pytest.mark.parametrize("count", [1, 500])
    def test_query_count_does_not_grow_with_tasks(
        self, process, contributor, count, django_assert_num_queries
    ):
        tasks = Task.objects.bulk_create(
            Task(process=process, run=0, slug=f"t{n:03}", image="i", depth=min(n, 1))
            for n in range(count)
        )
        Task.parents.through.objects.bulk_create(
            Task.parents.through(from_task=task, to_task=tasks[0]) for task in tasks[1:]
        )
        client = client_for(contributor)

        # 1 the token with its user, 2 the readable process with its farm and creator,
        # 3 its tasks, 4 their parent links (through table); expiry is computed in Python.
        with django_assert_num_queries(4):
            response = client.get(url(process))

        assert len(response.json()["tasks"]) == count

    @pytest.mark.parametrize("user", ["outsider", "farm_guest"])
    def test_unreadable_processes_are_404(self, process, user, request):
        response = client_for(request.getfixturevalue(user)).get(url(process))
        assert_error(response, 404, code="not_found")

    def test_a_malformed_id_is_a_json_404(self, contributor):
        response = client_for(contributor).get("/api/v1/process/not-a-uuid/")
        assert_error(response, 404, code="not_found")


class TestUpdate:
    def patch(self, user, process, body):
        return client_for(user).patch(url(process), body, format="json")

    def test_the_name_changes_anytime_and_the_answer_is_the_detail(self, process, contributor):
        make_run(process, a=State.RUNNING)

        response = self.patch(contributor, process, {"name": "Renamed"})

        assert response.status_code == 200
        body = response.json()
        assert set(body) == DETAIL_FIELDS
        assert body["name"] == "Renamed"
        assert len(body["tasks"]) == 1
        process.refresh_from_db()
        assert process.name == "Renamed"

    def test_put_takes_optional_fields_too(self, process, corpus_admin):
        response = client_for(corpus_admin).put(url(process), {"chunks": 4}, format="json")
        assert response.status_code == 200
        assert response.json()["chunks"] == 4
        assert response.json()["name"] == "Main process"

    def test_chunks_and_gpu_change_before_start(self, process, contributor):
        response = self.patch(contributor, process, {"chunks": 5, "use_gpu": True})
        assert response.status_code == 200
        process.refresh_from_db()
        assert (process.chunks, process.use_gpu) == (5, True)

    @pytest.mark.parametrize("field,value", [("chunks", 2), ("use_gpu", True)])
    def test_chunks_and_gpu_are_frozen_once_started(self, process, contributor, field, value):
        make_run(process, a=State.COMPLETED)

        response = self.patch(contributor, process, {field: value, "name": "not applied"})

        errors = assert_error(response, 400, attr=[field], error_type="validation_error")
        assert errors[0]["detail"].startswith(f"{field} cannot change once the process has started")
        process.refresh_from_db()
        assert process.name == "Main process"

    def test_sending_the_current_values_after_start_is_fine(self, process, contributor):
        make_run(process, a=State.COMPLETED)
        response = self.patch(contributor, process, {"chunks": 1, "use_gpu": False})
        assert response.status_code == 200

    @pytest.mark.parametrize("chunks", [0, 11, "many"])
    def test_chunks_range(self, process, contributor, chunks):
        assert_error(self.patch(contributor, process, {"chunks": chunks}), 400, attr=["chunks"])

    def test_a_reader_may_not_update(self, process, guest):
        errors = assert_error(self.patch(guest, process, {"name": "x"}), 403)
        assert errors[0]["detail"].startswith("Managing this process needs admin rights")


class TestStop:
    def patch(self, user, process, body):
        return client_for(user).patch(url(process), body, format="json")

    def test_stopping_an_active_process_stops_its_last_run(self, process, contributor, agent):
        old = make_run(process, run=0, refresh=False, old=State.PENDING)["old"]
        tasks = make_run(
            process,
            run=1,
            held=State.PENDING,
            running=State.RUNNING,
            waiting=State.UNSCHEDULED,
            done=State.COMPLETED,
            free=State.PENDING,
        )
        Task.objects.filter(pk__in=[tasks["held"].pk, tasks["running"].pk]).update(agent=agent)

        response = self.patch(contributor, process, {"state": "stopping"})

        assert response.status_code == 200, response.json()
        states = {t["slug"]: t["state"] for t in response.json()["tasks"] if t["run"] == 1}
        assert states == {
            "held": "stopping",
            "running": "stopping",
            "waiting": "stopped",
            "done": "completed",
            "free": "stopped",
        }
        assert response.json()["state"] == "stopping"
        # Only the last run counts.
        old.refresh_from_db()
        assert old.state == State.PENDING

    def test_a_repeated_stop_is_a_no_op(self, process, contributor, agent):
        tasks = make_run(process, a=State.RUNNING)
        tasks["a"].agent = agent
        tasks["a"].save()
        assert self.patch(contributor, process, {"state": "stopping"}).status_code == 200

        response = self.patch(contributor, process, {"state": "stopping"})

        assert response.status_code == 200
        assert response.json()["state"] == "stopping"

    @pytest.mark.parametrize("state", [State.COMPLETED, State.FAILED, State.STOPPED])
    def test_stopping_a_process_that_is_not_active_is_a_400(self, process, contributor, state):
        make_run(process, a=state)

        response = self.patch(contributor, process, {"state": "stopping", "name": "not applied"})

        errors = assert_error(response, 400, attr=["state"], error_type="validation_error")
        assert errors[0]["detail"] == f"Only an active process can be stopped; this one is {state}."
        process.refresh_from_db()
        assert process.name == "Main process"

    def test_a_failed_dag_with_unscheduled_children_is_not_active(self, process, contributor):
        make_run(process, parent=State.FAILED, child=State.UNSCHEDULED)
        response = self.patch(contributor, process, {"state": "stopping"})
        assert_error(response, 400, attr=["state"], error_type="validation_error")

    def test_a_process_that_never_ran_cannot_be_stopped(self, process, contributor):
        response = self.patch(contributor, process, {"state": "stopping"})
        errors = assert_error(response, 400, attr=["state"], error_type="validation_error")
        assert "Only an active process can be stopped" in errors[0]["detail"]

    @pytest.mark.parametrize("state", ["running", "completed", "stopped", "pending", "junk"])
    def test_any_other_state_is_a_400(self, process, contributor, state):
        make_run(process, a=State.RUNNING)
        response = self.patch(contributor, process, {"state": state})
        errors = assert_error(response, 400, attr=["state"], error_type="validation_error")
        assert errors[0]["detail"] == (
            f'Only "stopping" can be set, to stop an active process; {state!r} cannot: the '
            "other states follow from the tasks."
        )
        assert Task.objects.get(process=process).state == State.RUNNING
