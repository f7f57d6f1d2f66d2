"""The agents page: the agents of the farms the caller administers, and the queue of the
farms they may use."""

import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from arkindex.corpora.models import Level
from ponos.models import GPU, Agent, State
from tests.factories import AgentFactory, FarmMembershipFactory, TaskFactory, UserFactory
from tests.pages.conftest import page_client, text

pytestmark = pytest.mark.django_db


def farms(response):
    return re.findall(r'<section class="farm" data-farm="([0-9a-f-]+)"', response.content.decode())


def agents(response):
    return re.findall(r'<tr data-agent="([0-9a-f-]+)"', response.content.decode())


@pytest.fixture
def busy_farm(farm, agent, running_task, process):
    """`farm` with its agent running a task, a disabled and a silent agent, and a queue."""
    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(last_ping=now, cpu_load=1.5, ram_load=0.25)
    GPU.objects.create(agent=agent, gpu_id="GPU-0", name="Tesla T4", index=0, ram_total=1)
    AgentFactory(farm=farm, hostname="agent-disabled", enabled=False, last_ping=now)
    AgentFactory(farm=farm, hostname="agent-silent", last_ping=now - timedelta(hours=1))
    TaskFactory(process=process, slug="queued", state=State.PENDING)
    old = TaskFactory(process=process, slug="old", state=State.PENDING)
    old.__class__.objects.filter(pk=old.pk).update(created=now - timedelta(minutes=3, seconds=5))
    return farm


def test_a_superuser_sees_every_farm_its_agents_and_its_queue(superuser, busy_farm, other_agent):
    response = page_client(superuser).get("/ui/agents/")
    assert response.status_code == 200
    assert set(farms(response)) == {str(busy_farm.id), str(other_agent.farm_id)}
    body = text(response)
    assert "Main farm Queue: 2 pending tasks, the oldest waiting for 3 min 5 s." in body
    assert "agent-main active 4 cores, load 1.50 16.0 GB, 25 % used Tesla T4 #0 1" in body, body
    assert "agent-disabled disabled" in body
    assert "agent-silent inactive" in body
    assert "Other farm Queue: 0 pending tasks." in body
    assert len(agents(response)) == 4


def test_a_farm_admin_sees_the_agents_of_that_farm_only(busy_farm, other_farm, other_agent):
    admin = UserFactory()
    FarmMembershipFactory(farm=busy_farm, user=admin, level=Level.ADMIN)
    response = page_client(admin).get("/ui/agents/")
    assert farms(response) == [str(busy_farm.id)]
    assert len(agents(response)) == 3
    assert str(other_agent.id) not in response.content.decode()


def test_a_farm_guest_sees_the_queue_but_no_agent(farm_guest, busy_farm):
    response = page_client(farm_guest).get("/ui/agents/")
    assert farms(response) == [str(busy_farm.id)]
    assert agents(response) == []
    body = text(response)
    assert "Queue: 2 pending tasks" in body
    assert "Its agents are shown to the farm's admins." in body
    assert "agent-main" not in body


def test_an_outsider_sees_only_the_default_farm(outsider, busy_farm, other_farm):
    assert farms(page_client(outsider).get("/ui/agents/")) == []
    assert "You may not run processes on any farm." in text(
        page_client(outsider).get("/ui/agents/")
    )
    with override_settings(PONOS_DEFAULT_FARM=other_farm.pk):
        response = page_client(outsider).get("/ui/agents/")
    assert farms(response) == [str(other_farm.id)]
    assert agents(response) == []


def test_no_seed_nor_token_appears_on_the_page(superuser, busy_farm, agent, other_farm):
    page = page_client(superuser).get("/ui/agents/").content.decode()
    for secret in [busy_farm.seed, other_farm.seed, agent.clear_token, agent.token_hash]:
        assert secret not in page


@pytest.mark.parametrize("count", [1, 25])
def test_the_page_takes_six_queries_whatever_the_number_of_agents(
    count, superuser, farm, django_assert_num_queries
):
    for index in range(count):
        agent = AgentFactory(farm=farm, hostname=f"host-{index}", last_ping=timezone.now())
        GPU.objects.create(agent=agent, gpu_id="0", name="GPU", index=0, ram_total=1)
    client = page_client(superuser)
    # The session, the user, the farms, their agents with the tasks they hold, the GPUs of
    # these agents, the pending tasks of the farms.
    with django_assert_num_queries(6):
        response = client.get("/ui/agents/")
    assert len(agents(response)) == count


def test_without_an_administered_farm_the_page_takes_four_queries(
    farm_guest, farm, agent, django_assert_num_queries
):
    client = page_client(farm_guest)
    # The session, the user, the farms, the pending tasks: no agent is read.
    with django_assert_num_queries(4):
        response = client.get("/ui/agents/")
    assert farms(response) == [str(farm.id)]
