"""manage.py regenerate_seed (and the farm admin's action): a leaked seed is replaced, and
whatever registered with it is revoked."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ponos.models import Farm, State, Task
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory

pytestmark = pytest.mark.django_db

ACTIONS = "/api/v1/agent/actions/"


def regenerate_seed(*args):
    out = StringIO()
    call_command("regenerate_seed", *args, stdout=out)
    return out.getvalue()


def registration(farm, seed, hostname="new-host"):
    body = {
        "farm": str(farm.id),
        "seed": seed,
        "hostname": hostname,
        "cpu_cores": 2,
        "cpu_frequency": 1_000_000_000,
        "ram_total": 1024**3,
        "gpus": [],
    }
    return APIClient().post("/api/v1/agent/", body, format="json")


def test_the_command_prints_the_new_seed_and_only_it_lets_agents_join(farm):
    old = farm.seed

    output = regenerate_seed(str(farm.id))

    farm.refresh_from_db()
    assert farm.seed != old and len(farm.seed) == len(old)
    assert re.fullmatch(
        rf"id: {farm.id}\nseed: {farm.seed}\n"
        r"Revoked the tokens of 0 agent\(s\) of Main farm; released 0 task\(s\) they held.\n",
        output,
    )
    assert_error(registration(farm, old), 403, code="permission_denied")
    assert registration(farm, farm.seed).status_code == 201


def test_the_farms_agents_lose_their_tokens_and_their_tasks_are_released(
    farm, agent, other_agent, other_farm, process, running_task, corpus, contributor
):
    second = AgentFactory(farm=farm, hostname="agent-second")
    pending = TaskFactory(process=process, slug="held", state=State.PENDING, agent=second)
    stopping = TaskFactory(process=process, slug="stopping", state=State.STOPPING, agent=agent)
    done = TaskFactory(process=process, slug="done", state=State.COMPLETED, agent=agent)
    queued = TaskFactory(process=process, slug="queued", state=State.PENDING)
    other_process = ProcessFactory(corpus=corpus, creator=contributor, farm=other_farm)
    elsewhere = TaskFactory(
        process=other_process, slug="elsewhere", state=State.RUNNING, agent=other_agent
    )
    code_token = running_task.token

    output = regenerate_seed(str(farm.id))

    assert output.splitlines()[-1] == (
        "Revoked the tokens of 2 agent(s) of Main farm; released 3 task(s) they held."
    )
    for revoked in (agent, second):
        errors = assert_unauthorized(agent_client(revoked).get(ACTIONS), "authentication_failed")
        assert errors[0]["detail"] == "Invalid agent token."
    # As at a re-registration (SPEC §5): pending back to the queue, running to error,
    # stopping to stopped; finished and unheld tasks are left alone.
    states = dict(Task.objects.values_list("slug", "state"))
    assert states == {
        "main-task": State.ERROR,
        "held": State.PENDING,
        "stopping": State.STOPPED,
        "done": State.COMPLETED,
        "queued": State.PENDING,
        "elsewhere": State.RUNNING,
    }
    pending.refresh_from_db()
    assert pending.agent is None
    # The errored task's code can no longer act; the process state follows its tasks.
    assert_unauthorized(task_client(running_task).get("/api/v1/user/"), "authentication_failed")
    assert running_task.token == code_token
    process.refresh_from_db()
    assert process.state == State.ERROR
    # Another farm's agent and tasks are untouched.
    assert agent_client(other_agent).get(ACTIONS).status_code == 200
    assert Task.objects.get(pk=elsewhere.pk).agent == other_agent
    done.refresh_from_db()
    stopping.refresh_from_db()
    assert (done.agent, stopping.agent) == (agent, agent)
    assert queued.agent is None


def test_a_revoked_agent_joins_again_with_the_new_seed(farm, agent):
    regenerate_seed(str(farm.id))
    farm.refresh_from_db()

    response = registration(farm, farm.seed, hostname=agent.hostname)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(agent.id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert client.get(ACTIONS).status_code == 200


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("not-a-uuid", "'not-a-uuid' is not a farm id"),
        ("00000000-0000-0000-0000-000000000000", "No farm has the id"),
    ],
)
def test_an_unknown_farm_is_refused_and_nothing_changes(farm, agent, argument, message):
    with pytest.raises(CommandError, match=message):
        regenerate_seed(argument)
    assert Farm.objects.get().seed == farm.seed
    assert agent_client(agent).get(ACTIONS).status_code == 200
