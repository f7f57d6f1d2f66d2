import pytest

from ponos.models import State, Task
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, TaskFactory
from tests.ponos.test_retrieve_task_api import TASK_FIELDS

pytestmark = pytest.mark.django_db


def url(task):
    return f"/api/v1/task/{task.id}/"


def state_of(task):
    return Task.objects.get(pk=task.pk).state


@pytest.fixture
def held(process, agent):
    """A pending task the agent was given."""
    process.last_run = 0
    process.save(update_fields=["last_run"])
    return TaskFactory(process=process, slug="held", state=State.PENDING, agent=agent)


def test_the_agent_reports_running_then_completed(held, agent, process):
    client = agent_client(agent)
    response = client.patch(url(held), {"state": "running"})
    assert response.status_code == 200, response.content
    body = response.json()
    # The RetrieveTask body without the log tail.
    assert set(body) == TASK_FIELDS - {"logs"}
    assert body["state"] == "running"
    assert body["started"] is not None and body["finished"] is None
    process.refresh_from_db()
    assert process.state == State.RUNNING

    body = client.patch(url(held), {"state": "completed"}).json()
    assert body["state"] == "completed" and body["finished"] is not None
    process.refresh_from_db()
    assert (process.state, process.finished is not None) == (State.COMPLETED, True)


def test_a_repeated_report_is_a_no_op(held, agent):
    client = agent_client(agent)
    first = client.patch(url(held), {"state": "running"}).json()
    again = client.patch(url(held), {"state": "running"})
    assert again.status_code == 200
    assert again.json()["started"] == first["started"]


def test_a_forbidden_report_names_the_allowed_transitions(held, agent):
    response = agent_client(agent).patch(url(held), {"state": "completed"})
    errors = assert_error(response, 400, attr=["state"], code="invalid_transition")
    assert "error, running" in errors[0]["detail"]
    assert state_of(held) == State.PENDING


def test_an_unknown_state_is_a_validation_error(held, agent):
    assert_error(agent_client(agent).patch(url(held), {"state": "done"}), 400, attr=["state"])
    assert_error(agent_client(agent).patch(url(held), {}), 400, attr=["state"])


def test_an_agent_cannot_touch_a_task_it_does_not_hold(held, farm, other_agent):
    assert_error(agent_client(AgentFactory(farm=farm)).patch(url(held), {"state": "running"}), 404)
    assert_error(agent_client(other_agent).patch(url(held), {"state": "running"}), 404)
    assert state_of(held) == State.PENDING


def test_a_completed_parent_schedules_its_child(running_task, agent, process):
    child = TaskFactory(process=process, slug="child", state=State.UNSCHEDULED)
    child.parents.add(running_task)
    agent_client(agent).patch(url(running_task), {"state": "completed"})
    assert state_of(child) == State.PENDING


@pytest.mark.parametrize("caller", ["contributor", "corpus_admin", "superuser"])
def test_a_manager_stops_a_running_task(request, caller, running_task, agent):
    response = client_for(request.getfixturevalue(caller)).patch(
        url(running_task), {"state": "stopping"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "stopping"
    # The agent then reports it stopped.
    body = agent_client(agent).patch(url(running_task), {"state": "stopped"}).json()
    assert body["state"] == "stopped"


def test_stopping_a_task_stops_its_unscheduled_descendants(contributor, running_task, process):
    child = TaskFactory(process=process, slug="child", state=State.UNSCHEDULED)
    grandchild = TaskFactory(process=process, slug="grandchild", state=State.UNSCHEDULED)
    child.parents.add(running_task)
    grandchild.parents.add(child)
    client_for(contributor).patch(url(running_task), {"state": "stopping"})
    assert [state_of(task) for task in (running_task, child, grandchild)] == [
        State.STOPPING,
        State.STOPPED,
        State.STOPPED,
    ]


def test_an_unheld_pending_task_stops_at_once(contributor, process):
    task = TaskFactory(process=process, state=State.PENDING)
    body = client_for(contributor).patch(url(task), {"state": "stopping"}).json()
    assert body["state"] == "stopped"


def test_users_only_send_stopping(contributor, running_task):
    response = client_for(contributor).patch(url(running_task), {"state": "completed"})
    assert_error(response, 400, attr=["state"])
    assert state_of(running_task) == State.RUNNING


def test_a_reader_without_manage_rights_gets_a_403(guest, running_task):
    assert_error(client_for(guest).patch(url(running_task), {"state": "stopping"}), 403)
    assert state_of(running_task) == State.RUNNING


def test_an_outsider_gets_a_404(outsider, running_task):
    assert_error(client_for(outsider).patch(url(running_task), {"state": "stopping"}), 404)


def test_a_task_token_cannot_change_states(running_task):
    response = task_client(running_task).patch(url(running_task), {"state": "completed"})
    assert_error(response, 403)
    assert state_of(running_task) == State.RUNNING


def test_put_is_not_an_operation(contributor, running_task):
    response = client_for(contributor).put(url(running_task), {"state": "stopping"})
    assert response.status_code == 405


@pytest.mark.parametrize("siblings", [9, 400])
def test_a_report_takes_the_same_queries_whatever_the_size_of_the_process(
    siblings, held, agent, process, django_assert_num_queries
):
    Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"sibling-{n}", state=State.PENDING, token=f"t-{n}")
        for n in range(siblings)
    )
    client = agent_client(agent)
    # Agent token; the task among those the agent holds; savepoint; process lock; task
    # lock; the task's UPDATE; the run's states; the process UPDATE (it became running);
    # the savepoint's release; the answer's parents.
    with django_assert_num_queries(10):
        assert client.patch(url(held), {"state": "running"}).json()["state"] == "running"
    # Completed also looks for children to schedule (the process is written again: with
    # only pending tasks left, it is pending), and turns the worker activities the task
    # left started to error (one UPDATE, SPEC §11).
    with django_assert_num_queries(12):
        assert client.patch(url(held), {"state": "completed"}).json()["state"] == "completed"
    assert state_of(held) == State.COMPLETED
    assert Task.objects.filter(process=process, state=State.PENDING).count() == siblings


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_the_agent_reports_the_exit_code_with_the_final_state(held, agent, final):
    client = agent_client(agent)
    client.patch(url(held), {"state": "running"})
    code = 0 if final == "completed" else 137
    response = client.patch(url(held), {"state": final, "exit_code": code}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["exit_code"]) == (final, code)
    assert Task.objects.filter(pk=held.pk).values_list("state", "exit_code").get() == (final, code)
    # RetrieveTask shows it, and a repeated report keeps the first code.
    again = client.patch(url(held), {"state": final, "exit_code": 1}, format="json")
    assert again.status_code == 200 and again.json()["exit_code"] == code
    assert Task.objects.get(pk=held.pk).exit_code == code


def test_a_final_report_without_exit_code_leaves_it_null(held, agent):
    client = agent_client(agent)
    client.patch(url(held), {"state": "running"})
    body = client.patch(url(held), {"state": "completed"}).json()
    assert body["exit_code"] is None
    assert Task.objects.get(pk=held.pk).exit_code is None


@pytest.mark.parametrize(
    "body, detail",
    [
        ({"state": "running", "exit_code": 0}, "not with running"),
        ({"state": "error", "exit_code": 1}, "not with error"),
        ({"state": "failed", "exit_code": 2**31}, "less than or equal to 2147483647"),
        ({"state": "failed", "exit_code": -(2**31) - 1}, "greater than or equal to"),
        ({"state": "failed", "exit_code": "one"}, "valid integer"),
        ({"state": "failed", "exit_code": 1.5}, "valid integer"),
        ({"state": "failed", "exit_code": None}, "null"),
    ],
)
def test_a_bad_exit_code_is_refused_and_changes_nothing(held, agent, body, detail):
    client = agent_client(agent)
    client.patch(url(held), {"state": "running"})
    response = client.patch(url(held), body, format="json")
    errors = assert_error(response, 400, attr=["exit_code"])
    assert detail in errors[0]["detail"], errors
    task = Task.objects.get(pk=held.pk)
    assert (task.state, task.exit_code, task.finished) == (State.RUNNING, None, None)


def test_a_user_cannot_send_an_exit_code(held, process, superuser):
    response = client_for(superuser).patch(
        url(held), {"state": "stopping", "exit_code": 0}, format="json"
    )
    assert_error(response, 400, attr=["exit_code"])
    assert state_of(held) == State.PENDING
