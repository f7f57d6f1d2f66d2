"""No task is ever handed to two agents: many agents poll at once, each thread with its own
database connection, against the real PostgreSQL of the test suite."""

import threading
from collections import Counter

import pytest
from django.db import connection

from ponos.models import GPU, State, Task
from tests.conftest import agent_client
from tests.factories import AgentFactory, TaskFactory

AGENTS = 24
TASKS = 150
ROUNDS = 3


def poll_together(agents):
    """Every agent polls once, all released at the same instant; returns their answers."""
    barrier = threading.Barrier(len(agents))
    answers, errors = {}, []

    def run(agent):
        client = agent_client(agent)
        try:
            barrier.wait()
            response = client.get("/api/v1/agent/actions/")
            assert response.status_code == 200, response.content
            answers[agent.pk] = response.json()["actions"]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            # Each thread opened its own connection: close it, or the test database
            # cannot be dropped at the end.
            connection.close()

    threads = [threading.Thread(target=run, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return answers


@pytest.mark.postgresql  # row locks skipped by concurrent claims; SQLite serializes writers
@pytest.mark.django_db(transaction=True)
def test_many_agents_polling_at_once_never_share_a_task(farm, process):
    assert connection.vendor == "postgresql"
    agents = [AgentFactory(farm=farm, cpu_cores=2) for _ in range(AGENTS)]
    gpu_agents = agents[:4]
    for agent in gpu_agents:
        GPU.objects.create(agent=agent, gpu_id="GPU-0", name="T4", index=0, ram_total=1)
    for n in range(TASKS):
        TaskFactory(process=process, slug=f"task-{n}", state=State.PENDING, requires_gpu=n < 10)

    announced = {}  # task id → the agents it was first announced to
    for _ in range(ROUNDS):
        answers = poll_together(agents)
        new = Counter()
        for agent_id, actions in answers.items():
            for action in actions:
                assert action["action"] == "start_task"
                if announced.get(action["task_id"], agent_id) != agent_id:
                    pytest.fail(f"Task {action['task_id']} was announced to two agents")
                if action["task_id"] not in announced:
                    announced[action["task_id"]] = agent_id
                    new[action["task_id"]] += 1
        assert set(new.values()) <= {1}
        # Everyone reports its tasks completed, to take more at the next round.
        Task.objects.filter(agent__isnull=False, state=State.PENDING).update(state=State.COMPLETED)

    # Each round, every agent filled its two slots (GPU tasks only to GPU agents).
    assert len(announced) == AGENTS * 2 * ROUNDS
    holders = dict(Task.objects.filter(agent__isnull=False).values_list("pk", "agent_id"))
    assert {str(pk): agent for pk, agent in holders.items()} == announced
    per_agent = Counter(announced.values())
    assert set(per_agent.values()) == {2 * ROUNDS}
    gpu_holders = set(Task.objects.filter(requires_gpu=True).values_list("agent_id", flat=True))
    assert gpu_holders <= {agent.pk for agent in gpu_agents}
    # One GPU per agent: never two GPU tasks of one agent at once.
    for agent in gpu_agents:
        gpu = agent.gpus.get()
        assert Task.objects.filter(gpu=gpu).count() <= ROUNDS
