"""What an agent is told at each poll (RetrieveAgentActions, SPEC §6).

A poll records the agent's ping and loads, applies the dead-agent rule and the ttl rule,
then hands the agent new pending tasks of its farm within its capacity, and announces
`start_task` for every pending task it holds and `stop_task` for every stopping one.

The number of queries of a poll does not depend on the number of pending tasks: candidates
are read with a LIMIT of the agent's free slots, and claimed with one UPDATE (one per GPU
task, each bound to its own GPU).
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ponos import states
from ponos.models import ACTIVE_STATES, Agent, State, Task

# An agent whose RAM is this full takes nothing new.
MAX_RAM_LOAD = 0.95


@dataclass(frozen=True)
class Action:
    action: str
    task_id: object


def record_ping(agent, now, cpu_load=None, ram_load=None):
    """Store the ping time and the loads the agent sent (a missing load keeps the last one)."""
    values = {"last_ping": now}
    if cpu_load is not None:
        values["cpu_load"] = cpu_load
    if ram_load is not None:
        values["ram_load"] = ram_load
    Agent.objects.filter(pk=agent.pk).update(**values)
    for name, value in values.items():
        setattr(agent, name, value)


def assignable_tasks(agent):
    """Pending tasks nobody holds, of processes on the agent's farm, by priority then age.

    Served by the partial index task_pending_queue_idx (state = pending, agent IS NULL).
    """
    return Task.objects.filter(
        state=State.PENDING, agent__isnull=True, process__farm_id=agent.farm_id
    ).order_by("-priority", "created", "id")


def claim(task_ids, agent, now, gpu=None):
    """Give tasks to the agent, if they are still pending and unheld; returns how many.

    This conditional UPDATE is the guard against handing one task to two agents: PostgreSQL
    re-checks its WHERE clause on a row another transaction changed meanwhile, so the
    second claimer changes nothing. On SQLite, where select_for_update(skip_locked=True) is
    silently ignored, it is the only guard (and immediate transactions serialize writers).
    """
    return Task.objects.filter(
        pk__in=list(task_ids), state=State.PENDING, agent__isnull=True
    ).update(agent=agent, gpu=gpu, updated=now)


def _candidates(agent, limit, requires_gpu):
    """The first `limit` assignable tasks, locked; rows locked by others are skipped.

    Skipping rows that another agent is claiming, or that a stop has locked, means a poll
    never waits on a task row while holding others: no deadlock with the state machine,
    which locks the process row and then its task rows. `of=("self",)` locks the task rows
    only, never the process rows of the join, which the state machine locks first.
    """
    queue = (
        assignable_tasks(agent)
        .filter(requires_gpu=requires_gpu)
        .select_for_update(skip_locked=True, of=("self",))
    )
    return list(queue.values_list("pk", "priority", "created")[:limit])


def assign(agent, now):
    """Claim new tasks for the agent within its limits: at most `cpu_cores` active tasks,
    GPU tasks bound to a GPU of the agent no active task holds."""
    if not agent.enabled:
        return 0
    if agent.ram_load is not None and agent.ram_load >= MAX_RAM_LOAD:
        return 0
    with transaction.atomic():
        # Two polls of one agent at once (a retried request) are serialized on the agent
        # row, so that they cannot both fill the same free slot or GPU.
        # No ordering and `of`: Agent's default ordering joins the farm, whose row would
        # then be locked too, serializing every agent of the farm.
        lock = Agent.objects.select_for_update(of=("self",)).filter(pk=agent.pk).order_by()
        list(lock.values_list("pk"))
        held = list(
            Task.objects.filter(agent=agent, state__in=ACTIVE_STATES)
            .order_by()
            .values_list("gpu_id", flat=True)
        )
        slots = agent.cpu_cores - len(held)
        if slots <= 0:
            return 0
        free_gpus = list(agent.gpus.exclude(pk__in=[pk for pk in held if pk]).order_by("index"))
        # The best tasks without GPU and the best GPU tasks, merged in queue order: a wall
        # of GPU tasks never hides the other tasks from an agent without a free GPU.
        queue = [(row, False) for row in _candidates(agent, slots, requires_gpu=False)]
        if free_gpus:
            gpu_rows = _candidates(agent, min(slots, len(free_gpus)), requires_gpu=True)
            queue += [(row, True) for row in gpu_rows]
        queue.sort(key=lambda item: (-item[0][1], item[0][2], str(item[0][0])))
        chosen = queue[:slots]
        claimed = claim([row[0] for row, gpu in chosen if not gpu], agent, now)
        gpu_tasks = [row[0] for row, gpu in chosen if gpu]
        for task_id, gpu in zip(gpu_tasks, free_gpus, strict=False):
            claimed += claim([task_id], agent, now, gpu=gpu)
        return claimed


def poll(agent, *, cpu_load=None, ram_load=None, now=None):
    """Everything a poll does; returns the actions to announce, starts before stops."""
    now = now or timezone.now()
    record_ping(agent, now, cpu_load, ram_load)
    # Silent agents of any farm lose their tasks at every poll, without an operator.
    states.release_dead_agents(now=now)
    states.stop_overruns(Q(agent_id=agent.pk), now=now)
    assign(agent, now)
    held = Task.objects.filter(agent=agent, state__in=[State.PENDING, State.STOPPING]).order_by(
        "-priority", "created", "id"
    )
    actions = []
    stops = []
    for task_id, state in held.values_list("pk", "state"):
        if state == State.PENDING:
            # Announced again until the agent reports it running: a lost answer loses no task.
            actions.append(Action("start_task", task_id))
        else:
            stops.append(Action("stop_task", task_id))
    return actions + stops
