from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from arkindex.corpora.models import Level
from ponos.models import GPU, State
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, FarmMembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/"
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def farm_admin(farm):
    user = UserFactory(email="fiona@example.com")
    FarmMembershipFactory(farm=farm, user=user, level=Level.ADMIN)
    return user


def test_a_farm_admin_lists_the_agents_of_their_farm(farm_admin, agent, other_agent, process):
    GPU.objects.create(agent=agent, gpu_id="GPU-1", name="T4", index=0, ram_total=1024)
    for state in (State.PENDING, State.RUNNING, State.STOPPING, State.COMPLETED, State.ERROR):
        TaskFactory(process=process, state=state, agent=agent)
    agent.last_ping = NOW - timedelta(seconds=30)
    agent.cpu_load, agent.ram_load = 1.5, 0.25
    agent.save()
    with time_machine.travel(NOW, tick=False):
        response = client_for(farm_admin).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    assert body["results"] == [
        {
            "id": str(agent.id),
            "farm": {"id": str(agent.farm.id), "name": "Main farm"},
            "hostname": "agent-main",
            "enabled": True,
            "cpu_cores": 4,
            "cpu_frequency": 2_000_000_000,
            "ram_total": 16 * 1024**3,
            "gpus": [{"id": "GPU-1", "name": "T4", "index": 0, "ram_total": 1024}],
            "cpu_load": 1.5,
            "ram_load": 0.25,
            "last_ping": (NOW - timedelta(seconds=30)).isoformat().replace("+00:00", "Z"),
            "active": True,
            "active_tasks": 3,
        }
    ]


def test_an_agent_silent_for_the_timeout_is_not_active(farm_admin, agent, settings):
    agent.last_ping = NOW - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT + 1)
    agent.save()
    with time_machine.travel(NOW, tick=False):
        [item] = client_for(farm_admin).get(URL).json()["results"]
    assert item["active"] is False


def test_a_superuser_lists_every_agent(superuser, agent, other_agent):
    body = client_for(superuser).get(URL).json()
    assert [item["hostname"] for item in body["results"]] == ["agent-main", "agent-other"]


@pytest.mark.parametrize("caller", ["farm_guest", "outsider", "contributor"])
def test_farm_guests_and_others_list_no_agent(request, caller, agent):
    response = client_for(request.getfixturevalue(caller)).get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_agents_cannot_list_agents(agent):
    assert_error(agent_client(agent).get(URL), 403)


def test_a_task_token_lists_what_its_process_creator_may(running_task):
    # The creator (Cecil) is a guest of the farm, not an admin.
    assert task_client(running_task).get(URL).json()["count"] == 0


def test_listing_agents_takes_the_same_queries_for_any_number_of_agents(
    superuser, farm, process, django_assert_num_queries
):
    client = client_for(superuser)

    def add_agents(count):
        for _ in range(count):
            agent = AgentFactory(farm=farm)
            GPU.objects.create(agent=agent, gpu_id="GPU", name="T4", index=0, ram_total=1)
            TaskFactory(process=process, state=State.RUNNING, agent=agent)

    add_agents(2)
    # The token and its user, the count, the page with its farms and task counts, the GPUs.
    with django_assert_num_queries(4):
        assert client.get(URL).json()["count"] == 2
    add_agents(10)
    with django_assert_num_queries(4):
        body = client.get(URL).json()
    assert body["count"] == 12
    assert {item["active_tasks"] for item in body["results"]} == {1}
