"""The task state machine (SPEC §5): the only code that writes `Task.state`,
`Process.state` and `Process.finished`.

Every public function runs in one transaction that locks the process row first, then the
task rows. Two parents completing at once, a stop racing an agent's report, or two agents
reporting on one process are therefore serialized on the process row, and always leave one
consistent outcome: the child is scheduled once, the process summary matches its tasks.
Rows are written with UPDATE statements through `write_states`, the single writer of task states,
which stamps `started` and `finished`.
"""

from collections import defaultdict, deque
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import ErrorDetail, ValidationError

from arkindex.jobs import enqueue
from ponos.models import ACTIVE_STATES, FINAL_STATES, Agent, State, Task

# The summary of a run whose tasks disagree: the first state present in this order.
SUMMARY_ORDER = [
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

# The job joining the pieces of a log once its task ended (`ponos.logs`)
ASSEMBLE_LOGS = "ponos.logs.assemble_logs"

# What the agent holding a task may report, from each state.
AGENT_TRANSITIONS = {
    State.PENDING: {State.RUNNING, State.ERROR},
    State.RUNNING: {State.COMPLETED, State.FAILED, State.ERROR},
    # The agent's report wins over a pending stop when the task ended before it stopped.
    State.STOPPING: {State.STOPPED, State.COMPLETED, State.FAILED, State.ERROR},
}


# States an agent can report: a repeat of one of them is a retried request.
AGENT_REACHABLE = frozenset().union(*AGENT_TRANSITIONS.values())


class TransitionError(ValidationError):
    """A refused state change: a 400 naming the `state` field."""

    def __init__(self, detail):
        super().__init__({"state": [ErrorDetail(detail, code="invalid_transition")]})


def process_model():
    # ponos refers to the Process model only through the Task foreign key.
    return Task._meta.get_field("process").related_model


def summarize(states):
    """The process state for the set of states of its last run's tasks (None if empty)."""
    states = set(states)
    if not states:
        return None
    if len(states) == 1:
        return State(next(iter(states)))
    return next(state for state in SUMMARY_ORDER if state in states)


def process_id_of(task_id):
    """The process of a task, read before locking that process (the lock comes first)."""
    process_id = Task.objects.filter(pk=task_id).values_list("process_id", flat=True).first()
    if process_id is None:
        raise Task.DoesNotExist
    return process_id


def lock_process(process_id):
    """Lock a process row for a change, and count the change in its `revision`.

    One `UPDATE ... RETURNING` takes the row lock (as SELECT ... FOR UPDATE would) and bumps
    the revision in the same statement. Every writer of a process or of its tasks goes
    through here, so a revision that did not move means that nothing under the lock
    changed; claims by agents, which do not take the lock, are versioned apart (see
    `process.conditional`). Raises the model's DoesNotExist for an unknown id.
    """
    model = process_model()
    table = connection.ops.quote_name(model._meta.db_table)
    revision = connection.ops.quote_name(model._meta.get_field("revision").column)
    pk = connection.ops.quote_name(model._meta.pk.column)
    # Only quoted identifiers of the model are interpolated; the id is a parameter.
    sql = f"UPDATE {table} SET {revision} = {revision} + 1 WHERE {pk} = %s RETURNING *"  # noqa: S608
    rows = list(
        model.objects.raw(
            sql,
            [model._meta.pk.get_db_prep_value(process_id, connection)],
        )
    )
    if not rows:
        raise model.DoesNotExist
    return rows[0]


def lock_processes(process_ids):
    """Lock several processes for a change, in the order every writer follows (the model's
    ordering), and count the change in their revisions; returns their ids."""
    model = process_model()
    locked = list(
        model.objects.filter(pk__in=process_ids)
        .select_for_update()
        .order_by(*model._meta.ordering)
        .values_list("pk", flat=True)
    )
    model.objects.filter(pk__in=locked).update(revision=F("revision") + 1)
    return locked


# Reactions of other apps to task changes, registered once at start-up (`process` registers
# its own in its AppConfig.ready): ponos cannot import them, imports flow process → ponos.
# They run inside the transaction of the change, under the process lock, and must not
# change task states themselves.
# - FINISHED_HOOKS: hook(task_ids, now), for tasks that entered a final state;
# - RESTARTED_HOOKS: hook(new_task, now), for the task that RestartTask created.
FINISHED_HOOKS = []
RESTARTED_HOOKS = []


def on_tasks_finished(hook):
    """Register `hook(task_ids, now)`, called when tasks enter a final state."""
    if hook not in FINISHED_HOOKS:
        FINISHED_HOOKS.append(hook)
    return hook


def on_task_restarted(hook):
    """Register `hook(new_task, now)`, called when RestartTask creates a task."""
    if hook not in RESTARTED_HOOKS:
        RESTARTED_HOOKS.append(hook)
    return hook


def write_states(task_ids, state, now, **fields):
    """The single writer of task states: one UPDATE for a set of locked tasks.

    `started` is stamped on entering running; `finished` on entering a final state, where
    the finished hooks run. Returns the number of rows changed.
    """
    if not task_ids:
        return 0
    task_ids = list(task_ids)
    changed = Task.objects.filter(pk__in=task_ids).update(**_stamped(state, now, **fields))
    if state in FINAL_STATES:
        for hook in FINISHED_HOOKS:
            hook(task_ids, now)
    return changed


def _stamped(state, now, **fields):
    """The columns `write_states` sets for a state, with its time stamps."""
    values = {"state": state, "updated": now, **fields}
    if state == State.RUNNING:
        values["started"] = now
    if state in FINAL_STATES:
        values["finished"] = now
    return values


def refresh_locked(process, now):
    """Recompute the stored summary of a locked process from its last run's tasks.

    A process that never had tasks stays unscheduled; one whose tasks were all cleaned up
    keeps the state it had. Tasks replaced by a restart do not count. `finished` is set
    when the last run stops being active and cleared when it becomes active again.
    """
    if process.last_run is None:
        return process
    # A restarted task is replaced by its restart: only the latest attempt counts.
    states = set(
        Task.objects.filter(process_id=process.pk, run=process.last_run, restarts__isnull=True)
        # No ordering: the model's default ordering would add columns to the DISTINCT.
        .order_by()
        .values_list("state", flat=True)
        .distinct()
    )
    summary = summarize(states)
    if summary is None:
        return process
    active = bool(states & ACTIVE_STATES)
    # A run whose tasks all wait (for its worker activities) has not finished either.
    waiting = states == {State.UNSCHEDULED}
    finished = None if active or waiting else (process.finished or now)
    if summary != process.state or finished != process.finished:
        process.state = summary
        process.finished = finished
        process.updated = now
        process.save(update_fields=["state", "finished", "updated"])
    return process


def open_run(process_id, run, now=None):
    """The tasks of a run built unscheduled (waiting for its worker activities) may start:
    those without parents become pending, the others wait for them as usual."""
    now = now or timezone.now()
    with transaction.atomic():
        process = lock_process(process_id)
        roots = Task.objects.select_for_update(of=("self",)).filter(
            process_id=process.pk, run=run, state=State.UNSCHEDULED, parents__isnull=True
        )
        write_states(list(roots.values_list("pk", flat=True)), State.PENDING, now)
        return refresh_locked(process, now)


def abort_run(process_id, run, now=None):
    """The tasks of a run built unscheduled can never start (its worker activities could
    not be created): they end in error, and the process with them."""
    now = now or timezone.now()
    with transaction.atomic():
        process = lock_process(process_id)
        waiting = Task.objects.select_for_update().filter(
            process_id=process.pk, run=run, state=State.UNSCHEDULED
        )
        write_states(list(waiting.values_list("pk", flat=True)), State.ERROR, now)
        return refresh_locked(process, now)


def refresh_process(process_id, now=None):
    """Lock a process and recompute its state, e.g. after a run was built."""
    now = now or timezone.now()
    with transaction.atomic():
        return refresh_locked(lock_process(process_id), now)


def _schedule_children(process, task_ids, now):
    """Turn pending the unscheduled children of `task_ids` whose parents all completed."""
    through = Task.parents.through
    children = set(
        through.objects.filter(
            to_task_id__in=list(task_ids), from_task__state=State.UNSCHEDULED
        ).values_list("from_task_id", flat=True)
    )
    if not children:
        return
    waiting = set(
        through.objects.filter(from_task_id__in=children)
        .exclude(to_task__state=State.COMPLETED)
        .values_list("from_task_id", flat=True)
    )
    write_states(children - waiting, State.PENDING, now)


def _run_edges(process_id, run):
    """Parent → children adjacency of one run, in one query."""
    children = defaultdict(list)
    rows = Task.parents.through.objects.filter(
        from_task__process_id=process_id, from_task__run=run
    ).values_list("to_task_id", "from_task_id")
    for parent_id, child_id in rows:
        children[parent_id].append(child_id)
    return children


def descendants(process_id, run, task_id):
    children = _run_edges(process_id, run)
    seen, queue = set(), deque(children[task_id])
    while queue:
        current = queue.popleft()
        if current not in seen:
            seen.add(current)
            queue.extend(children[current])
    return seen


def locked_task(process, task_id):
    return Task.objects.select_for_update().get(pk=task_id, process_id=process.pk)


def _is_repeat(task, state):
    """A report of the state the task is already in (a retried request) is a no-op.

    A ttl stop lands as cancelled, so a repeated `stopped` report finds it cancelled.
    """
    if state not in AGENT_REACHABLE:
        return False
    if task.state == state:
        return True
    return state == State.STOPPED and task.state == State.CANCELLED and task.ttl_exceeded


def report_state(task_id, state, *, agent, now=None, process_id=None, exit_code=None):
    """An agent's report on a task it holds (PartialUpdateTask by an agent).

    A caller that already read the task gives its `process_id` (a task never changes
    process), saving a query on the path every agent report takes. `exit_code` comes with
    a final completed or failed report (the serializer checks it); a repeated report keeps
    the code of the first.
    """
    now = now or timezone.now()
    process_id = process_id or process_id_of(task_id)
    with transaction.atomic():
        process = lock_process(process_id)
        task = locked_task(process, task_id)
        if task.agent_id != agent.pk:
            # The task was requeued or errored after this agent stopped pinging.
            raise TransitionError("This task is no longer held by this agent.")
        if _is_repeat(task, state):
            return task
        allowed = AGENT_TRANSITIONS.get(task.state, set())
        if state not in allowed:
            raise TransitionError(_refusal(task.state, state, allowed))
        if state == State.STOPPED and task.ttl_exceeded:
            state = State.CANCELLED
        fields = {} if exit_code is None else {"exit_code": exit_code}
        write_states([task.pk], state, now, **fields)
        if state == State.COMPLETED:
            _schedule_children(process, [task.pk], now)
        if state in FINAL_STATES:
            # The agent sent its last piece before this report: the log can be assembled
            enqueue(ASSEMBLE_LOGS, [str(task.pk)])
        refresh_locked(process, now)
    # The locked row plus what write_states set: the task as stored, without reading it again.
    for name, value in _stamped(state, now, **fields).items():
        setattr(task, name, value)
    return task


def user_set_state(task_id, state, now=None):
    """A user with manage rights changes a task's state: only `stopping` may be sent.

    Held pending and running tasks become stopping (their agent stops them); unscheduled and
    unheld pending tasks become stopped at once. The task's unscheduled descendants become
    stopped too, since they can no longer start.
    """
    now = now or timezone.now()
    process_id = process_id_of(task_id)
    with transaction.atomic():
        process = lock_process(process_id)
        task = locked_task(process, task_id)
        if state != State.STOPPING:
            raise TransitionError(
                f"Users can only set the state to stopping, not {state!r}; "
                "agents report the other states."
            )
        if task.state in (State.STOPPING, State.STOPPED):
            return task
        if task.state == State.RUNNING or (task.state == State.PENDING and task.agent_id):
            write_states([task.pk], State.STOPPING, now)
        elif task.state in (State.UNSCHEDULED, State.PENDING):
            write_states([task.pk], State.STOPPED, now)
        else:
            raise TransitionError(
                f"A {task.state} task cannot be stopped: only unscheduled, pending and "
                "running tasks can."
            )
        _stop_unscheduled(descendants(process.pk, task.run, task.pk), now)
        refresh_locked(process, now)
    task.refresh_from_db()
    return task


def _stop_unscheduled(task_ids, now):
    ids = list(
        Task.objects.select_for_update()
        .filter(pk__in=list(task_ids), state=State.UNSCHEDULED)
        .values_list("pk", flat=True)
    )
    write_states(ids, State.STOPPED, now)


def stop_process(process_id, now=None):
    """Stop every active or unscheduled task of the process's last run (user action).

    A process already stopping is a no-op; a process that is not active is refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        process = lock_process(process_id)
        if process.state == State.STOPPING:
            return process
        run = Task.objects.select_for_update().filter(
            process_id=process.pk,
            run=process.last_run,
            state__in=[State.UNSCHEDULED, State.PENDING, State.RUNNING, State.STOPPING],
        )
        rows = list(run.values_list("pk", "state", "agent_id"))
        if not any(state in ACTIVE_STATES for _pk, state, _agent in rows):
            raise TransitionError(
                f"Only an active process can be stopped; this one is {process.state}."
            )
        stopping = [
            pk
            for pk, state, agent in rows
            if state == State.RUNNING or (agent and state == State.PENDING)
        ]
        held = set(stopping)
        # Tasks already stopping stay so: a process whose summary reads e.g. failed may
        # still be stopping, and stopping it again changes nothing.
        stopped = [
            pk
            for pk, state, _agent in rows
            if state in (State.UNSCHEDULED, State.PENDING) and pk not in held
        ]
        write_states(stopping, State.STOPPING, now)
        write_states(stopped, State.STOPPED, now)
        return refresh_locked(process, now)


def _release(tasks, now):
    """The dead-agent rule for locked tasks: back to the queue, error, or stopped.

    One UPDATE per outcome, whatever the number of tasks the agent held.
    """
    outcomes = defaultdict(list)
    for task in tasks:
        if task.state == State.PENDING:
            outcomes[State.PENDING].append(task.pk)
        elif task.state == State.RUNNING:
            outcomes[State.ERROR].append(task.pk)
        elif task.state == State.STOPPING:
            outcomes[State.CANCELLED if task.ttl_exceeded else State.STOPPED].append(task.pk)
    # Requeued tasks leave their agent and GPU behind.
    write_states(outcomes.pop(State.PENDING, []), State.PENDING, now, agent=None, gpu=None)
    for state, ids in outcomes.items():
        write_states(ids, state, now)
    ended = [str(pk) for ids in outcomes.values() for pk in ids]
    if ended:
        # What the dead agent sent of their logs must not be lost
        enqueue(ASSEMBLE_LOGS, ended)


def release_tasks(task_filter, now=None):
    """Apply the dead-agent rule to the active tasks matching `task_filter` (a Q).

    Tasks are handled process by process, each under the process lock; a task's agent is
    checked again under the lock, so a task already handled by a concurrent call is skipped.
    Returns the number of tasks released.
    """
    now = now or timezone.now()
    candidates = defaultdict(list)
    rows = Task.objects.filter(task_filter, state__in=ACTIVE_STATES, agent__isnull=False)
    for pk, process_id, agent_id in rows.values_list("pk", "process_id", "agent_id"):
        candidates[process_id].append((pk, agent_id))
    released = 0
    for process_id, pairs in candidates.items():
        with transaction.atomic():
            process = lock_process(process_id)
            locked = Task.objects.select_for_update().filter(
                pk__in=[pk for pk, _agent in pairs], state__in=ACTIVE_STATES
            )
            holders = dict(pairs)
            tasks = [task for task in locked if task.agent_id == holders[task.pk]]
            _release(tasks, now)
            released += len(tasks)
            refresh_locked(process, now)
    return released


def release_agent_tasks(agent, now=None):
    """An agent registered again: whatever it held was lost with its previous life."""
    return release_tasks(Q(agent_id=agent.pk), now)


def dead_agents(now):
    """Agents silent for PONOS_AGENT_TIMEOUT (a Q over agents)."""
    cutoff = now - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT)
    return Q(last_ping__lt=cutoff) | Q(last_ping__isnull=True)


def held_by_dead_agents(now):
    """Tasks whose agent has been silent for PONOS_AGENT_TIMEOUT (a Q over tasks).

    The agents are found first, then their tasks through task_active_agent_idx: a condition
    on the joined agent row would make PostgreSQL walk every task ever held by any agent.
    """
    return Q(agent_id__in=Agent.objects.filter(dead_agents(now)).order_by().values("pk"))


def release_dead_agents(now=None):
    """Tasks held by agents silent for PONOS_AGENT_TIMEOUT: applied by every poll (through
    ponos.assignment, which reads them with the agent's own tasks) and by cleanup."""
    now = now or timezone.now()
    return release_tasks(held_by_dead_agents(now), now)


def stop_overruns(task_filter=None, now=None):
    """Running tasks that outlived their ttl become stopping, to land as cancelled.

    Returns the number of tasks stopped.
    """
    now = now or timezone.now()
    candidates = Task.objects.filter(state=State.RUNNING, ttl__gt=0, started__isnull=False)
    if task_filter is not None:
        candidates = candidates.filter(task_filter)
    overrun = [
        (pk, process_id)
        for pk, process_id, started, ttl in candidates.values_list(
            "pk", "process_id", "started", "ttl"
        )
        if started + timedelta(seconds=ttl) < now
    ]
    for pk, process_id in overrun:
        with transaction.atomic():
            process = lock_process(process_id)
            if _write_if(pk, State.RUNNING, State.STOPPING, now, ttl_exceeded=True):
                refresh_locked(process, now)
    return len(overrun)


def _write_if(task_id, expected, state, now, **fields):
    """Write a state only if the locked task is still in `expected`."""
    task = Task.objects.select_for_update().filter(pk=task_id, state=expected).first()
    if task is None:
        return False
    return write_states([task.pk], state, now, **fields) == 1


def _refusal(current, requested, allowed):
    if allowed:
        options = ", ".join(sorted(allowed))
        return f"A {current} task can go to {options}, not {requested}."
    return f"A {current} task cannot change state any more (asked: {requested})."
