"""Tasks added to a run: CreateTask and RestartTask (`ponos.tasks` builds their definitions).

They follow the state machine's rules (`ponos.states`): one transaction that locks the
process row first, then the task rows, and task states written only through
`states.write_states`.
"""

from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ErrorDetail, ValidationError

from ponos import states
from ponos.models import FINAL_STATES, State, Task


class RunClosed(ValidationError):
    """A task cannot be added to this run any more: a 400 without a field."""

    def __init__(self, detail, code="invalid"):
        super().__init__([ErrorDetail(detail, code=code)])


def _initial_state(parent_ids):
    """Pending when every parent completed (or there is none), else unscheduled."""
    if not parent_ids:
        return State.PENDING
    waiting = Task.objects.filter(pk__in=list(parent_ids)).exclude(state=State.COMPLETED)
    return State.UNSCHEDULED if waiting.exists() else State.PENDING


def add_task(process_id, *, run, parent_ids, check=None, now=None, **fields):
    """Create a task in a run of a process (CreateTask), in its initial state.

    `check(process)` runs under the process lock, before anything is written: it raises to
    refuse the task (the caller's task stopped meanwhile, a parent of another run...).
    The parents' states are read under the lock, so a parent completing at the same time
    either sees this child (and schedules it) or is seen completed here.
    """
    now = now or timezone.now()
    with transaction.atomic():
        process = states.lock_process(process_id)
        if process.state == State.STOPPING:
            raise RunClosed("The process is stopping: no task can be added to it.")
        if check is not None:
            check(process)
        task = Task.objects.create(
            process_id=process.pk,
            run=run,
            state=_initial_state(parent_ids),
            started=None,
            finished=None,
            **fields,
        )
        task.parents.set(list(parent_ids))
        states.refresh_locked(process, now)
    return task


def _restart_slug(task):
    """`<slug>_<n>` with the smallest n ≥ 2 free in the run.

    A restarted task's slug already ends with the `_<n>` its own restart added: restarting
    it again counts from the original slug (foo, foo_2, foo_3), not foo_2_2.
    """
    base = task.slug.rsplit("_", 1)[0] if task.original_task_id else task.slug
    taken = set(
        Task.objects.filter(
            process_id=task.process_id, run=task.run, slug__startswith=f"{base}_"
        ).values_list("slug", flat=True)
    )
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    slug = f"{base}_{n}"
    if len(slug) > Task._meta.get_field("slug").max_length:
        raise RunClosed(f"The slug of the restarted task, {slug!r}, would be too long.")
    return slug


RESTARTABLE_STATES = FINAL_STATES - {State.COMPLETED}


def restart_task(task_id, now=None):
    """RestartTask: a new task with the same definition replaces a final, non-completed one.

    The new task is pending when every parent completed, else unscheduled; the old task's
    children depend on the new one instead, and those of its descendants that were stopped
    before they ever started are unscheduled again, to run after it. The process becomes
    active again (its `finished` is cleared) when the new task is pending.
    """
    now = now or timezone.now()
    process_id = states.process_id_of(task_id)
    with transaction.atomic():
        process = states.lock_process(process_id)
        task = states.locked_task(process, task_id)
        _check_restartable(process, task)
        parent_ids = list(task.parents.values_list("pk", flat=True))
        new = Task.objects.create(
            process_id=process.pk,
            run=task.run,
            depth=task.depth,
            slug=_restart_slug(task),
            state=_initial_state(parent_ids),
            image=task.image,
            command=task.command,
            env=task.env,
            requires_gpu=task.requires_gpu,
            priority=task.priority,
            shm_size=task.shm_size,
            ttl=task.ttl,
            worker_run_id=task.worker_run_id,
            chunk=task.chunk,
            original_task=task,
        )
        new.parents.set(parent_ids)
        through = Task.parents.through
        through.objects.filter(to_task_id=task.pk).update(to_task_id=new.pk)
        never_started = (
            Task.objects.select_for_update(of=("self",))
            .order_by()
            .filter(
                pk__in=list(states.descendants(process.pk, task.run, new.pk)),
                state=State.STOPPED,
                started__isnull=True,
            )
        )
        states.write_states(
            list(never_started.values_list("pk", flat=True)), State.UNSCHEDULED, now, finished=None
        )
        for hook in states.RESTARTED_HOOKS:
            hook(new, now)
        states.refresh_locked(process, now)
    return new


def _check_restartable(process, task):
    if task.run != process.last_run:
        raise RunClosed(
            f"Only tasks of the last run ({process.last_run}) can be restarted; "
            f"this one is of run {task.run}."
        )
    if task.state not in RESTARTABLE_STATES:
        options = ", ".join(sorted(RESTARTABLE_STATES))
        raise states.TransitionError(
            f"A {task.state} task cannot be restarted: only {options} tasks can."
        )
    # The summary may read `failed` while a stop is under way: look at the tasks themselves.
    stopping = Task.objects.filter(
        process_id=process.pk, run=process.last_run, state=State.STOPPING
    ).exists()
    if process.state == State.STOPPING or stopping:
        raise RunClosed(
            "The process is stopping: wait until its tasks are stopped to restart tasks."
        )
    restart = Task.objects.filter(original_task_id=task.pk).values_list("slug", flat=True).first()
    if restart is not None:
        raise RunClosed(f"This task was already restarted as {restart}: restart that one.")
