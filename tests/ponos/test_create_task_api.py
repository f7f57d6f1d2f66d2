import pytest
from django.utils import timezone

from ponos import states
from ponos.models import State, Task
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory
from tests.ponos.test_retrieve_task_api import TASK_FIELDS

pytestmark = pytest.mark.django_db

URL = "/api/v1/task/"


def body(process, **overrides):
    values = {"process_id": str(process.id), "slug": "follow-up", "image": "alpine:3"}
    values.update(overrides)
    return values


def test_a_task_adds_a_task_to_its_own_run(running_task, process, settings):
    settings.PONOS_DEFAULT_TTL = 300
    Task.objects.filter(pk=running_task.pk).update(priority=20)
    response = task_client(running_task).post(
        URL,
        body(
            process,
            command="python3 -m follow_up",
            env={"MODE": "fast"},
            priority=20,
            shm_size="512m",
        ),
    )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert set(answer) == TASK_FIELDS - {"logs"}
    task = Task.objects.get(pk=answer["id"])
    assert (task.process, task.run, task.depth, task.slug) == (process, 0, 0, "follow-up")
    assert (task.image, task.command, task.env) == (
        "alpine:3",
        "python3 -m follow_up",
        {"MODE": "fast"},
    )
    assert (task.priority, task.ttl, task.shm_size) == (20, 300, "512m")
    # No parent: pending at once, with its own token.
    assert task.state == State.PENDING
    assert task.token != running_task.token
    assert task.token not in response.content.decode()
    process.refresh_from_db()
    assert process.state == State.RUNNING


def test_the_new_task_waits_for_its_parents(running_task, process):
    done = TaskFactory(process=process, slug="done", state=State.COMPLETED, depth=3)
    response = task_client(running_task).post(
        URL, body(process, parents=[str(running_task.id), str(done.id)])
    )
    answer = response.json()
    assert answer["state"] == "unscheduled"
    assert answer["depth"] == 4
    assert sorted(answer["parents"]) == sorted([str(running_task.id), str(done.id)])
    # It is scheduled when its last parent completes.
    states.report_state(running_task.pk, State.COMPLETED, agent=running_task.agent)
    assert Task.objects.get(pk=answer["id"]).state == State.PENDING


def test_completed_parents_make_it_pending(running_task, process):
    done = TaskFactory(process=process, slug="done", state=State.COMPLETED)
    answer = task_client(running_task).post(URL, body(process, parents=[str(done.id)])).json()
    assert (answer["state"], answer["depth"]) == ("pending", 1)


def test_an_agent_running_a_task_of_the_process_adds_tasks(running_task, agent, process):
    response = agent_client(agent).post(URL, body(process))
    assert response.status_code == 201, response.content
    assert Task.objects.get(pk=response.json()["id"]).run == running_task.run


def test_an_agent_without_a_running_task_of_the_process_is_forbidden(
    running_task, farm, other_agent, process
):
    idle = AgentFactory(farm=farm)
    TaskFactory(process=process, state=State.PENDING, agent=idle)
    assert_error(agent_client(idle).post(URL, body(process)), 403)
    assert_error(agent_client(other_agent).post(URL, body(process)), 403)
    assert Task.objects.count() == 2


def test_a_task_cannot_add_tasks_to_another_process(running_task, contributor, farm):
    # A process its creator can read, manage even: still not the task's own.
    other = ProcessFactory(creator=contributor, farm=farm)
    assert_error(task_client(running_task).post(URL, body(other)), 403)
    assert not Task.objects.filter(process=other).exists()


def test_an_unknown_process_is_forbidden_too(running_task):
    response = task_client(running_task).post(
        URL, {"process_id": "00000000-0000-4000-8000-000000000000", "slug": "x", "image": "y"}
    )
    assert_error(response, 403)


def test_users_do_not_create_tasks(contributor, process):
    assert_error(client_for(contributor).post(URL, body(process)), 403)


@pytest.mark.parametrize(
    ("overrides", "attr"),
    [
        ({"process_id": None}, ["process_id"]),
        ({"process_id": "nope"}, ["process_id"]),
        ({"slug": ""}, ["slug"]),
        ({"slug": "../escape"}, ["slug"]),
        ({"slug": "main-task"}, ["slug"]),
        ({"image": ""}, ["image"]),
        ({"ttl": -1}, ["ttl"]),
        ({"parents": ["nope"]}, ["parents", 0]),
        ({"env": {"ARKINDEX_TASK_TOKEN": "x"}}, ["env"]),
        ({"env": {"PONOS_WORKFLOW": "x"}}, ["env"]),
        ({"env": {"PONOS_DATA": "/elsewhere"}}, ["env"]),
        ({"env": ["not", "a", "dict"]}, ["env"]),
        ({"workflow_id": "ignored", "process_id": None}, ["process_id"]),
    ],
)
def test_invalid_bodies_are_refused(running_task, process, overrides, attr):
    values = body(process, **overrides)
    values = {key: value for key, value in values.items() if value is not None}
    assert_error(task_client(running_task).post(URL, values), 400, attr=attr)
    assert Task.objects.count() == 1


def test_parents_must_be_of_the_same_process_and_run(running_task, process, contributor, farm):
    other_run = TaskFactory(process=process, run=1, slug="later")
    other_process = TaskFactory(process=ProcessFactory(creator=contributor, farm=farm))
    for parent in (other_run, other_process):
        response = task_client(running_task).post(URL, body(process, parents=[str(parent.id)]))
        errors = assert_error(response, 400, attr=["parents"])
        assert str(parent.id) in errors[0]["detail"]


def test_a_slug_of_another_run_is_free(running_task, process):
    TaskFactory(process=process, run=1, slug="follow-up")
    assert task_client(running_task).post(URL, body(process)).status_code == 201


def test_no_task_is_added_once_the_process_is_stopping(running_task, process):
    states.stop_process(process.pk)
    # The task token still works while its task is stopping.
    response = task_client(running_task).post(URL, body(process))
    errors = assert_error(response, 400, error_type="validation_error")
    assert "stopping" in errors[0]["detail"]
    assert Task.objects.count() == 1


def test_a_stopping_task_adds_no_task(running_task, process):
    TaskFactory(process=process, slug="busy", state=State.RUNNING, agent=running_task.agent)
    states.user_set_state(running_task.pk, State.STOPPING)
    response = task_client(running_task).post(URL, body(process))
    errors = assert_error(response, 400, error_type="validation_error")
    assert "calling task is stopping" in errors[0]["detail"]


def test_the_new_task_inherits_the_chunk_of_its_creator(running_task, process):
    Task.objects.filter(pk=running_task.pk).update(chunk=2)
    answer = task_client(running_task).post(URL, body(process)).json()
    assert Task.objects.get(pk=answer["id"]).chunk == 2


def test_a_finished_process_reopens_when_a_task_is_added(running_task, process):
    process.finished = timezone.now()
    process.save(update_fields=["finished"])
    task_client(running_task).post(URL, body(process))
    process.refresh_from_db()
    assert process.finished is None


class TestPriority:
    """A task adds tasks of at most its own priority: it cannot jump a shared farm's queue."""

    @pytest.fixture
    def caller(self, running_task):
        Task.objects.filter(pk=running_task.pk).update(priority=5)
        running_task.refresh_from_db()
        return running_task

    @pytest.mark.parametrize("priority", [6, 10, 2**31 - 1])
    def test_a_task_cannot_ask_for_more_than_its_own_priority(self, caller, process, priority):
        response = task_client(caller).post(URL, body(process, priority=priority))

        errors = assert_error(response, 400, attr=["priority"])
        assert "at most its own priority, 5" in errors[0]["detail"]
        assert not Task.objects.filter(slug="follow-up").exists()

    @pytest.mark.parametrize("priority", [5, 0, -(2**31)])
    def test_a_task_adds_tasks_of_its_priority_or_lower(self, caller, process, priority):
        response = task_client(caller).post(URL, body(process, priority=priority))

        assert response.status_code == 201, response.content
        assert response.json()["priority"] == priority
        assert Task.objects.get(slug="follow-up").priority == priority

    def test_without_a_priority_the_new_task_gets_the_callers(self, caller, process):
        response = task_client(caller).post(URL, body(process))

        assert response.status_code == 201, response.content
        assert Task.objects.get(slug="follow-up").priority == 5

    def test_an_agent_is_bound_by_the_task_it_runs_in_that_process(self, caller, agent, process):
        client = agent_client(agent)

        refused = client.post(URL, body(process, priority=6))
        accepted = client.post(URL, body(process, slug="second", priority=5))

        assert_error(refused, 400, attr=["priority"])
        assert accepted.status_code == 201, accepted.content
        assert Task.objects.get(slug="second").priority == 5
