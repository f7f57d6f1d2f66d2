"""The process state of SPEC §5, as the list, the `state` filter and the detail show it."""

import pytest

from ponos.models import State, Task
from ponos.states import refresh_process
from tests.conftest import client_for
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db

PRIORITY = [
    State.RUNNING,
    State.FAILED,
    State.ERROR,
    State.CANCELLED,
    State.STOPPING,
    State.STOPPED,
    State.PENDING,
    State.UNSCHEDULED,
    State.COMPLETED,
]


def shown_states(process, user):
    """The state in the detail, in the list, and the filters that find the process."""
    client = client_for(user)
    detail = client.get(f"/api/v1/process/{process.id}/").json()["state"]
    [item] = [
        item
        for item in client.get("/api/v1/process/").json()["results"]
        if item["id"] == str(process.id)
    ]
    filtered = [
        state
        for state in State
        if str(process.id)
        in [i["id"] for i in client.get("/api/v1/process/", {"state": state}).json()["results"]]
    ]
    return detail, item["state"], filtered


def assert_state(process, user, expected):
    assert shown_states(process, user) == (expected, expected, [expected])


def test_a_process_that_never_had_tasks_is_unscheduled(process, contributor):
    assert_state(process, contributor, "unscheduled")


@pytest.mark.parametrize("state", list(State))
def test_tasks_all_in_one_state_give_that_state(process, contributor, state):
    make_run(process, a=state, b=state, c=state)
    assert_state(process, contributor, state)


@pytest.mark.parametrize("index", range(len(PRIORITY) - 1))
def test_the_first_state_present_in_priority_order_wins(process, contributor, index):
    # The winner beside every state after it in the priority order.
    winner, *others = PRIORITY[index:]
    make_run(process, winner=winner, **{f"t{n}": state for n, state in enumerate(others)})
    assert_state(process, contributor, winner)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((State.COMPLETED, State.RUNNING, State.FAILED), State.RUNNING),
        ((State.COMPLETED, State.FAILED, State.UNSCHEDULED), State.FAILED),
        ((State.PENDING, State.CANCELLED), State.CANCELLED),
        ((State.STOPPED, State.COMPLETED), State.STOPPED),
        ((State.UNSCHEDULED, State.COMPLETED), State.UNSCHEDULED),
        ((State.STOPPING, State.PENDING), State.STOPPING),
    ],
)
def test_pairs(process, contributor, states, expected):
    make_run(process, **{f"t{n}": state for n, state in enumerate(states)})
    assert_state(process, contributor, expected)


def test_only_the_last_run_counts(process, contributor):
    make_run(process, run=0, refresh=False, a=State.FAILED, b=State.RUNNING)
    make_run(process, run=1, a=State.COMPLETED, b=State.COMPLETED)
    assert_state(process, contributor, "completed")
    process.refresh_from_db()
    assert process.finished is not None


def test_an_older_run_never_makes_the_process_active(process, contributor):
    make_run(process, run=0, refresh=False, old=State.RUNNING)
    make_run(process, run=1, new=State.FAILED)
    response = client_for(contributor).delete(f"/api/v1/process/{process.id}/")
    assert response.status_code == 204


class TestFailedDag:
    """A failed parent leaves its unscheduled children waiting for ever: not active."""

    @pytest.fixture
    def failed(self, process):
        tasks = make_run(
            process, parent=State.FAILED, child=State.UNSCHEDULED, other=State.COMPLETED
        )
        tasks["child"].parents.add(tasks["parent"])
        return process

    def test_the_process_is_failed_and_finished(self, failed, contributor):
        assert_state(failed, contributor, "failed")
        failed.refresh_from_db()
        assert failed.finished is not None

    def test_it_cannot_be_stopped_but_can_be_retried_and_deleted(self, failed, contributor, farm):
        add_worker_run(failed, slug="w")
        client = client_for(contributor)
        url = f"/api/v1/process/{failed.id}/"
        assert client.patch(url, {"state": "stopping"}, format="json").status_code == 400
        retried = client.post(
            f"{url}retry/", {"farm": str(farm.id), "worker_activity": False}, format="json"
        )
        assert retried.status_code == 200, retried.json()
        assert retried.json()["state"] == "pending"


def test_a_cleaned_up_process_keeps_its_state(process, contributor):
    make_run(process, a=State.FAILED, b=State.COMPLETED)
    Task.objects.filter(process=process).delete()
    refresh_process(process.pk)

    assert_state(process, contributor, "failed")
    body = client_for(contributor).get(f"/api/v1/process/{process.id}/").json()
    assert body["tasks"] == [] and body["expiry"] is None


def test_finished_is_cleared_when_the_last_run_becomes_active_again(process, contributor, farm):
    add_worker_run(process, slug="w")
    make_run(process, a=State.COMPLETED)
    process.refresh_from_db()
    assert process.finished is not None

    response = client_for(contributor).post(
        f"/api/v1/process/{process.id}/retry/",
        {"farm": str(farm.id), "worker_activity": False},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["finished"] is None
    assert response.json()["started"] is not None
