"""Tasks seen from outside the state machine: their environment, their logs, and the tasks
that tasks add to their own run (CreateTask)."""

import json
import logging

from django.conf import settings
from django.db import IntegrityError
from rest_framework.exceptions import PermissionDenied, ValidationError

from arkindex.api.errors import validation_error
from ponos import additions
from ponos.logs import log_tail, may_have_log  # noqa: F401 (the pages read the tail here)
from ponos.models import State, Task
from ponos.storage import INLINE, get_storage, log_key

logger = logging.getLogger(__name__)

# Variables the backend sets in every task's environment (SPEC §7); a stored env cannot
# hold them, nor any name of the PONOS_ namespace, which belongs to the backend and agents.
RESERVED_ENV_PREFIX = "PONOS_"
RESERVED_ENV = frozenset(
    {
        "PONOS_TASK",
        "ARKINDEX_PROCESS_ID",
        "ARKINDEX_TASK_TOKEN",
        "ARKINDEX_API_URL",
        "ARKINDEX_WORKER_RUN_ID",
        "ARKINDEX_TASK_CHUNK",
        "ARKINDEX_CORPUS_ID",
        "ARKINDEX_REPOSITORY_URL",
        "TASK_PARENTS",
    }
)


def task_env(task):
    """The environment a task runs with, built when its definition is read.

    `PONOS_DEFAULT_ENV`, then the task's own env, then the variables of the backend, so that
    neither the settings nor a stored env can override them. The token is only ever here.
    `task.process` and `task.parents` (id and slug) must be loaded. `TASK_PARENTS` maps each
    parent task's id to its slug, as JSON: arkindex-base-worker reads it in bootstrap mode.
    """
    process = task.process
    env = {str(key): str(value) for key, value in settings.PONOS_DEFAULT_ENV.items()}
    env.update({str(key): str(value) for key, value in task.env.items()})
    env.update(
        {
            "PONOS_TASK": str(task.id),
            "ARKINDEX_PROCESS_ID": str(task.process_id),
            # Unsealed at each call: the agent gets it at every read of the definition.
            "ARKINDEX_TASK_TOKEN": task.token or "",
            "ARKINDEX_API_URL": settings.ARKINDEX_PUBLIC_URL,
            "TASK_PARENTS": json.dumps(
                {str(parent.id): parent.slug for parent in task.parents.all()}
            ),
        }
    )
    if task.worker_run_id:
        env["ARKINDEX_WORKER_RUN_ID"] = str(task.worker_run_id)
    if process.chunks > 1 and task.chunk:
        env["ARKINDEX_TASK_CHUNK"] = str(task.chunk)
    if process.corpus_id:
        env["ARKINDEX_CORPUS_ID"] = str(process.corpus_id)
    if process.repository_url:
        env["ARKINDEX_REPOSITORY_URL"] = process.repository_url
    return env


def log_put_url(task):
    """A fresh signed URL the agent uploads the whole log to (text/plain)."""
    return get_storage().presigned_put(settings.PONOS_LOGS_BUCKET, log_key(task.id), "text/plain")


def full_log_url(task):
    """A signed GET URL of the whole log, or None when the task never reached an agent."""
    if not may_have_log(task):
        return None
    # Shown as text in the browser; the local backend adds nosniff and a sandbox to it
    return get_storage().presigned_get(
        settings.PONOS_LOGS_BUCKET,
        log_key(task.id),
        content_type="text/plain; charset=utf-8",
        disposition=INLINE,
    )


def caller_task(request, process_id):
    """The task on whose behalf a task token or an agent adds a task to a process.

    A task token acts for its own task, in its own process only; an agent for a running task
    it holds in that process. Anything else is a 403: a caller adds tasks to its own process.
    """
    if isinstance(request.auth, Task):
        task = request.auth
        if task.process_id != process_id:
            raise PermissionDenied("A task can only add tasks to its own process.")
        return task
    agent = request.auth
    task = (
        Task.objects.filter(process_id=process_id, agent_id=agent.pk, state=State.RUNNING)
        .order_by("started", "id")
        .first()
    )
    if task is None:
        raise PermissionDenied("An agent can only add tasks to a process where it runs a task.")
    return task


def create_task(caller, *, parents, **fields):
    """Add a task to the caller's run (CreateTask); `fields` are the validated body.

    The new task's priority is at most the caller's own (its default): code in a task must
    not jump the queue of a farm it shares with others.
    """
    fields.setdefault("priority", caller.priority)
    if fields["priority"] > caller.priority:
        raise validation_error(
            "priority",
            f"A task adds tasks of at most its own priority, {caller.priority}; "
            f"this one asks for {fields['priority']}.",
        )
    parent_ids = set(parents)
    found = dict(
        Task.objects.filter(
            pk__in=list(parent_ids), process_id=caller.process_id, run=caller.run
        ).values_list("pk", "depth")
    )
    missing = sorted(str(pk) for pk in parent_ids - set(found))
    if missing:
        raise validation_error(
            "parents",
            f"Parents must be tasks of process {caller.process_id}, run {caller.run}; "
            f"these are not: {', '.join(missing)}.",
        )
    if Task.objects.filter(
        process_id=caller.process_id, run=caller.run, slug=fields["slug"]
    ).exists():
        raise _slug_taken(caller, fields["slug"])

    def check(process):
        # Read under the process lock: a stop of the caller's task wins over its request.
        state = Task.objects.filter(pk=caller.pk).values_list("state", flat=True).first()
        if state not in (State.PENDING, State.RUNNING):
            raise additions.RunClosed(
                f"The calling task is {state}: it can no longer add tasks to its process."
            )

    try:
        return additions.add_task(
            caller.process_id,
            run=caller.run,
            parent_ids=parent_ids,
            check=check,
            depth=1 + max(found.values(), default=-1),
            chunk=caller.chunk,
            **fields,
        )
    except IntegrityError:
        # Another request took the slug between the check and the insert.
        raise _slug_taken(caller, fields["slug"])


def _slug_taken(caller, slug):
    return ValidationError(
        {"slug": [f"A task of run {caller.run} of this process is already named {slug!r}."]}
    )
