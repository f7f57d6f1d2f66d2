from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from ponos.models import GPU, State, Task
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agent/actions/"
NOW = timezone.now()


def poll(agent, **loads):
    response = agent_client(agent).get(URL, loads)
    assert response.status_code == 200, response.content
    return response.json()["actions"]


def starts(actions):
    return [action["task_id"] for action in actions if action["action"] == "start_task"]


def stops(actions):
    return [action["task_id"] for action in actions if action["action"] == "stop_task"]


def pending(process, slug, *, age=0, **fields):
    """A pending task nobody holds, created `age` seconds ago."""
    task = TaskFactory(process=process, slug=slug, state=State.PENDING, **fields)
    Task.objects.filter(pk=task.pk).update(created=NOW - timedelta(seconds=age))
    return task


def held_ids(agent):
    return set(Task.objects.filter(agent=agent).values_list("slug", flat=True))


def test_the_agent_takes_pending_tasks_by_priority_then_age(agent, process):
    agent.cpu_cores = 3
    agent.save()
    young = pending(process, "young", age=10)
    old = pending(process, "old", age=100)
    urgent = pending(process, "urgent", age=1, priority=50)
    pending(process, "youngest", age=0)
    actions = poll(agent)
    assert actions == [
        {"action": "start_task", "task_id": str(task.id)} for task in (urgent, old, young)
    ]
    assert held_ids(agent) == {"urgent", "old", "young"}
    # Assignment does not change states: the agent reports running itself.
    assert set(Task.objects.values_list("state", flat=True)) == {State.PENDING}


def test_the_poll_records_the_ping_and_the_loads(agent):
    with time_machine.travel(NOW, tick=False):
        poll(agent, cpu_load=2.5, ram_load=0.5)
    agent.refresh_from_db()
    assert (agent.last_ping, agent.cpu_load, agent.ram_load) == (NOW, 2.5, 0.5)
    # A missing load keeps the last known one.
    poll(agent, cpu_load=1)
    agent.refresh_from_db()
    assert (agent.cpu_load, agent.ram_load) == (1.0, 0.5)
    assert agent.last_ping > NOW


@pytest.mark.parametrize(
    ("loads", "attr"),
    [
        ({"ram_load": "1.5"}, ["ram_load"]),
        ({"ram_load": "-0.1"}, ["ram_load"]),
        ({"cpu_load": "lots"}, ["cpu_load"]),
        ({"cpu_load": "nan"}, ["cpu_load"]),
        ({"cpu_load": "inf"}, ["cpu_load"]),
    ],
)
def test_invalid_loads_are_refused(agent, process, loads, attr):
    task = pending(process, "waiting")
    assert_error(agent_client(agent).get(URL, loads), 400, attr=attr)
    task.refresh_from_db()
    assert task.agent is None


def test_an_agent_of_another_farm_sees_nothing(other_agent, process):
    task = pending(process, "waiting")
    assert poll(other_agent) == []
    task.refresh_from_db()
    assert task.agent is None


def test_a_disabled_agent_gets_no_new_task_but_keeps_its_own(agent, process):
    held = pending(process, "held", agent=agent)
    pending(process, "waiting")
    agent.enabled = False
    agent.save()
    assert poll(agent) == [{"action": "start_task", "task_id": str(held.id)}]
    assert held_ids(agent) == {"held"}


def test_the_agent_holds_at_most_cpu_cores_active_tasks(agent, process):
    agent.cpu_cores = 2
    agent.save()
    TaskFactory(process=process, slug="running", state=State.RUNNING, agent=agent)
    TaskFactory(process=process, slug="finished", state=State.COMPLETED, agent=agent)
    first = pending(process, "first", age=2)
    pending(process, "second", age=1)
    assert starts(poll(agent)) == [str(first.id)]
    assert held_ids(agent) == {"running", "finished", "first"}
    # Full: the next poll only announces what it holds.
    assert starts(poll(agent)) == [str(first.id)]


@pytest.mark.parametrize(("ram_load", "takes"), [(0.95, False), (0.99, False), (0.94, True)])
def test_an_agent_short_of_ram_takes_nothing_new(agent, process, ram_load, takes):
    task = pending(process, "waiting")
    assert starts(poll(agent, ram_load=ram_load)) == ([str(task.id)] if takes else [])
    # The last known load counts when the next poll does not send one.
    assert starts(poll(agent)) == ([str(task.id)] if takes else [])


def test_a_gpu_task_never_goes_to_an_agent_without_a_free_gpu(agent, process):
    gpu_task = pending(process, "gpu", age=10, requires_gpu=True)
    cpu_task = pending(process, "cpu", age=0)
    # No GPU at all: the GPU task waits, the younger CPU task is not hidden behind it.
    assert starts(poll(agent)) == [str(cpu_task.id)]
    gpu_task.refresh_from_db()
    assert gpu_task.agent is None

    gpu = GPU.objects.create(agent=agent, gpu_id="GPU-1", name="T4", index=0, ram_total=1)
    busy = TaskFactory(
        process=process, slug="busy", state=State.RUNNING, agent=agent, requires_gpu=True, gpu=gpu
    )
    # Its only GPU is held by an active task.
    poll(agent)
    gpu_task.refresh_from_db()
    assert gpu_task.agent is None

    Task.objects.filter(pk=busy.pk).update(state=State.COMPLETED)
    assert str(gpu_task.id) in starts(poll(agent))
    gpu_task.refresh_from_db()
    assert (gpu_task.agent, gpu_task.gpu) == (agent, gpu)


def test_gpu_tasks_are_bound_to_distinct_gpus(agent, process):
    agent.cpu_cores = 8
    agent.save()
    gpus = [
        GPU.objects.create(agent=agent, gpu_id=f"GPU-{n}", name="T4", index=n, ram_total=1)
        for n in range(2)
    ]
    tasks = [pending(process, f"gpu-{n}", age=10 - n, requires_gpu=True) for n in range(3)]
    poll(agent)
    bound = {task.slug: task.gpu_id for task in Task.objects.filter(agent=agent)}
    assert bound == {"gpu-0": gpus[0].pk, "gpu-1": gpus[1].pk}
    assert Task.objects.get(pk=tasks[2].pk).agent is None


def test_a_gpu_of_another_agent_is_never_used(agent, process, farm):
    other = AgentFactory(farm=farm)
    GPU.objects.create(agent=other, gpu_id="GPU-1", name="T4", index=0, ram_total=1)
    task = pending(process, "gpu", requires_gpu=True)
    assert poll(agent) == []
    task.refresh_from_db()
    assert task.agent is None


def test_held_pending_tasks_are_announced_until_reported_running(agent, process):
    task = pending(process, "task")
    assert starts(poll(agent)) == [str(task.id)]
    # The answer was lost: the next poll announces it again.
    assert starts(poll(agent)) == [str(task.id)]
    response = agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "running"})
    assert response.status_code == 200, response.content
    assert poll(agent) == []


def test_stopping_tasks_are_announced_until_reported(agent, process, contributor):
    task = TaskFactory(process=process, slug="task", state=State.RUNNING, agent=agent)
    client_for(contributor).patch(f"/api/v1/task/{task.id}/", {"state": "stopping"})
    assert poll(agent) == [{"action": "stop_task", "task_id": str(task.id)}]
    assert stops(poll(agent)) == [str(task.id)]
    agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "stopped"})
    assert poll(agent) == []
    assert Task.objects.get(pk=task.pk).state == State.STOPPED


def test_a_task_past_its_ttl_is_stopped_and_lands_cancelled(agent, process):
    with time_machine.travel(NOW, tick=False) as traveller:
        task = TaskFactory(
            process=process, slug="slow", state=State.RUNNING, agent=agent, ttl=60, started=NOW
        )
        traveller.shift(timedelta(seconds=59))
        assert poll(agent) == []
        traveller.shift(timedelta(seconds=2))
        assert poll(agent) == [{"action": "stop_task", "task_id": str(task.id)}]
        response = agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "stopped"})
    assert response.json()["state"] == State.CANCELLED
    assert poll(agent) == []


def test_a_silent_agent_loses_its_tasks_at_the_next_poll_of_any_agent(
    agent, other_agent, process, settings
):
    silent = AgentFactory(farm=agent.farm, hostname="silent")
    with time_machine.travel(NOW, tick=False) as traveller:
        held = pending(process, "held", agent=silent)
        running = TaskFactory(process=process, slug="running", state=State.RUNNING, agent=silent)
        poll(silent)
        traveller.shift(timedelta(seconds=settings.PONOS_AGENT_TIMEOUT))
        # Silent for exactly the timeout: still active.
        poll(other_agent)
        assert held_ids(silent) == {"held", "running"}
        traveller.shift(timedelta(seconds=1))
        # Any poll, even of another farm, applies the rule: the pending task is back in the
        # queue, and the agent polling takes it.
        assert poll(agent) == [{"action": "start_task", "task_id": str(held.id)}]
    assert Task.objects.get(pk=running.pk).state == State.ERROR
    assert held_ids(silent) == {"running"}


def test_users_and_tasks_do_not_poll(contributor, running_task):
    assert_error(client_for(contributor).get(URL), 403)
    assert_error(task_client(running_task).get(URL), 403)


def test_a_poll_takes_the_same_queries_whatever_the_number_of_pending_tasks(
    agent, farm, django_assert_num_queries
):
    agent.cpu_cores = 3
    agent.save()
    GPU.objects.create(agent=agent, gpu_id="GPU-1", name="T4", index=0, ram_total=1)

    def fill(count):
        process = ProcessFactory(farm=farm, creator=agent.farm.memberships.first().user)
        for n in range(count):
            pending(process, f"cpu-{n}", age=n)
            pending(process, f"gpu-{n}", age=n, requires_gpu=True)

    def release():
        Task.objects.update(agent=None, gpu=None)

    # Agent token; the transaction's savepoint; the ping (which locks the agent row); one
    # read of the active tasks of the agent and of dead agents; GPUs; CPU and GPU
    # candidates; one claim for all of them; the savepoint's release.
    fill(3)
    with django_assert_num_queries(9):
        assert len(starts(poll(agent))) == 3
    release()
    fill(50)
    with django_assert_num_queries(9):
        assert len(starts(poll(agent))) == 3
    # Full: the savepoint, the ping and the read of active tasks, nothing else.
    with django_assert_num_queries(5):
        assert len(starts(poll(agent))) == 3


def test_an_agent_without_gpus_never_reads_gpus(agent, process, django_assert_num_queries):
    agent.cpu_cores = 2
    agent.save()
    tasks = [pending(process, f"cpu-{n}", age=10 - n) for n in range(3)]
    # Agent token (which tells whether the agent has GPUs); savepoint; ping; active tasks;
    # CPU candidates; the claim; the savepoint's release.
    with django_assert_num_queries(7) as context:
        assert starts(poll(agent)) == [str(tasks[0].id), str(tasks[1].id)]
    assert not [query for query in context if query["sql"].startswith('SELECT "ponos_gpu"')]
    assert held_ids(agent) == {"cpu-0", "cpu-1"}
