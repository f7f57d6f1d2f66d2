"""What an agent is told at each poll (RetrieveAgentActions, SPEC §6).

A poll records the agent's ping and loads, applies the dead-agent rule and the ttl rule,
then hands the agent new pending tasks of its farm within its capacity, and announces
`start_task` for every pending task it holds and `stop_task` for every stopping one.

Agents poll every few seconds, so a poll is a handful of statements whatever the size of
the queue, all in one transaction:

1. one UPDATE records the ping, and locks the agent row, serializing polls of one agent;
2. one SELECT reads the active tasks of this agent and of the dead agents: the dead-agent
   rule, the ttl rule, the free slots, the GPUs in use and the announcements all derive
   from it (the rules themselves run only when that read finds work for them, after one
   statement locks their processes in the state machine's order);
3. when a slot is free: the agent's GPUs (only for an agent that has some), one SELECT
   of candidates per kind of task with a LIMIT of the free slots, and one UPDATE claiming
   them all, each GPU task bound to its own GPU.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from ponos import states
from ponos.models import ACTIVE_STATES, GPU, Agent, State, Task

# An agent whose RAM is this full takes nothing new.
MAX_RAM_LOAD = 0.95


@dataclass(frozen=True)
class Action:
    action: str
    task_id: object


@dataclass(frozen=True)
class Held:
    """What a poll needs of an active task."""

    pk: object
    state: str
    agent_id: object
    gpu_id: object
    priority: int
    created: object
    started: object
    ttl: int

    @property
    def queue_order(self):
        return (-self.priority, self.created, str(self.pk))

    def overran(self, now):
        return (
            self.state == State.RUNNING
            and self.ttl > 0
            and self.started is not None
            and self.started + timedelta(seconds=self.ttl) < now
        )


HELD_FIELDS = ("pk", "state", "agent_id", "gpu_id", "priority", "created", "started", "ttl")


def record_ping(agent, now, cpu_load=None, ram_load=None):
    """Store the ping time and the loads the agent sent (a missing load keeps the last one).

    Inside a transaction, this UPDATE also locks the agent row until the transaction ends.
    """
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


def _active_tasks(agent, now):
    """The active tasks of this agent and of every dead agent, in one read.

    The agents are picked first (a few rows), then their active tasks through
    task_active_agent_idx: the cost follows the tasks they hold now, not every task ever held.
    """
    agents = Agent.objects.filter(Q(pk=agent.pk) | states.dead_agents(now)).order_by()
    agents = agents.values("pk")
    rows = (
        Task.objects.filter(state__in=ACTIVE_STATES, agent_id__in=agents)
        .order_by()
        .values_list(*HELD_FIELDS)
    )
    return [Held(*row) for row in rows]


def _mine(agent):
    rows = Task.objects.filter(agent_id=agent.pk, state__in=ACTIVE_STATES).order_by()
    return [Held(*row) for row in rows.values_list(*HELD_FIELDS)]


def _lock_processes(task_ids):
    """Lock the processes of these tasks at once, in the state machine's order.

    The rules write through the state machine, one process at a time, and every lock they
    take is held until the poll ends. Released tasks, then overruns, would lock processes
    out of order: a registration (or another poll) releasing tasks in the same processes,
    newest first like release_tasks, would then wait for this poll while it waits for them.
    """
    process_model = states.process_model()
    processes = process_model.objects.filter(
        pk__in=Task.objects.filter(pk__in=task_ids).values("process_id")
    )
    # The order of Task's default ordering, which release_tasks follows: its processes' own.
    ordered = processes.select_for_update().order_by(*process_model._meta.ordering)
    list(ordered.values_list("pk", flat=True))


def _apply_rules(agent, now):
    """The dead-agent and ttl rules; returns the agent's active tasks once they are applied.

    The rules write through the state machine, which locks the process row, then the task
    rows: the same order as registration (agent row, processes, tasks), so no deadlock.
    """
    active = _active_tasks(agent, now)
    dead = [task.pk for task in active if task.agent_id != agent.pk]
    overrun = [task.pk for task in active if task.agent_id == agent.pk and task.overran(now)]
    if dead or overrun:
        _lock_processes(dead + overrun)
    if dead:
        # Each task is checked again under its process lock: a concurrent poll that
        # released it first leaves nothing to do here.
        states.release_tasks(Q(pk__in=dead) & states.held_by_dead_agents(now), now)
    if overrun:
        states.stop_overruns(Q(pk__in=overrun, agent_id=agent.pk), now=now)
    if dead or overrun:
        return _mine(agent)
    return active


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
    rows = queue.values_list("pk", "priority", "created")[:limit]
    return [
        Held(pk, State.PENDING, agent.pk, None, priority, created, None, 0)
        for pk, priority, created in rows
    ]


def claim(tasks, agent, now):
    """Give tasks to the agent, if they are still pending and unheld; returns how many.

    `tasks` maps task ids to the GPU each is bound to (None for none). This conditional
    UPDATE is the guard against handing one task to two agents: PostgreSQL re-checks its
    WHERE clause on a row another transaction changed meanwhile, so the second claimer
    changes nothing. On SQLite, where select_for_update(skip_locked=True) is silently
    ignored, it is the only guard (and immediate transactions serialize writers).
    """
    if not tasks:
        return 0
    gpus = [When(pk=pk, then=Value(gpu.pk)) for pk, gpu in tasks.items() if gpu is not None]
    return Task.objects.filter(pk__in=list(tasks), state=State.PENDING, agent__isnull=True).update(
        agent=agent, gpu=Case(*gpus, default=None) if gpus else None, updated=now
    )


def assign(agent, active, now):
    """Claim new tasks for the agent within its limits; returns the tasks claimed.

    At most `cpu_cores` active tasks; GPU tasks are bound to a GPU of the agent that no
    active task holds. `active` is the agent's active tasks, read under its lock.
    """
    if not agent.enabled:
        return []
    if agent.ram_load is not None and agent.ram_load >= MAX_RAM_LOAD:
        return []
    slots = agent.cpu_cores - len(active)
    if slots <= 0:
        return []
    busy = {task.gpu_id for task in active if task.gpu_id is not None}
    free_gpus = []
    # Agents authenticated by token come with `has_gpus`; others read their GPUs.
    if getattr(agent, "has_gpus", True):
        gpus = GPU.objects.filter(agent=agent).order_by("index")
        free_gpus = [gpu for gpu in gpus if gpu.pk not in busy]
    # The best tasks without GPU and the best GPU tasks, merged in queue order: a wall of
    # GPU tasks never hides the other tasks from an agent without a free GPU.
    queue = [(task, False) for task in _candidates(agent, slots, requires_gpu=False)]
    if free_gpus:
        gpu_tasks = _candidates(agent, min(slots, len(free_gpus)), requires_gpu=True)
        queue += [(task, True) for task in gpu_tasks]
    queue.sort(key=lambda item: item[0].queue_order)
    chosen = queue[:slots]
    gpus = iter(free_gpus)
    bindings = {task.pk: next(gpus) if needs_gpu else None for task, needs_gpu in chosen}
    claimed = claim(bindings, agent, now)
    if claimed != len(bindings):
        # Only possible without row locks (SQLite): read what this agent really got.
        mine = {task.pk for task in _mine(agent)}
        return [task for task, _gpu in chosen if task.pk in mine]
    return [task for task, _gpu in chosen]


def poll(agent, *, cpu_load=None, ram_load=None, now=None):
    """Everything a poll does; returns the actions to announce, starts before stops."""
    return poll_details(agent, cpu_load=cpu_load, ram_load=ram_load, now=now)[0]


def poll_details(agent, *, cpu_load=None, ram_load=None, now=None):
    """Everything a poll does; returns the actions to announce, starts before stops, and
    the ids of the running tasks the agent holds."""
    now = now or timezone.now()
    with transaction.atomic():
        # Two polls of one agent at once (a retried request) are serialized on the agent
        # row by this UPDATE, so that they cannot both fill the same free slot or GPU.
        record_ping(agent, now, cpu_load, ram_load)
        # Silent agents of any farm lose their tasks at every poll, without an operator.
        active = _apply_rules(agent, now)
        held = active + assign(agent, active, now)
    held.sort(key=lambda task: task.queue_order)
    # Pending tasks are announced again until the agent reports them running: a lost
    # answer loses no task.
    starts = [Action("start_task", task.pk) for task in held if task.state == State.PENDING]
    stops = [Action("stop_task", task.pk) for task in held if task.state == State.STOPPING]
    running = [task.pk for task in held if task.state == State.RUNNING]
    return starts + stops, running
