"""Changes to processes: update, stop and delete (start and retry live in `builder`)."""

from django.db import transaction
from rest_framework.exceptions import ValidationError

from arkindex.jobs import enqueue
from ponos.models import Artifact, LogPiece, Task
from ponos.states import stop_process
from ponos.storage import artifact_key, log_key, log_piece_key
from process.builder import has_active_tasks, lock_process, refuse
from process.selection import SELECTION_FIELDS, resolve_selection

# Settings of a run: they cannot change once the process has started, since a retry must
# rebuild the same tasks.
RUN_SETTINGS = ("chunks", "use_gpu")


def update_process(process_id, *, state=None, **fields):
    """Change `name` (anytime), `chunks`, `use_gpu` and the selection (before start), and
    stop the process when `state` is given (the serializer only lets `stopping` through).

    Everything happens in one transaction: a refused stop leaves the name unchanged too.
    """
    with transaction.atomic():
        process = lock_process(process_id)
        if process.started is not None:
            errors = {
                name: [
                    f"{name} cannot change once the process has started (it is "
                    f"{getattr(process, name)!r}); create a new process for other settings."
                ]
                for name in RUN_SETTINGS
                if name in fields and fields[name] != getattr(process, name)
            }
            errors.update(
                {
                    name: [
                        f"{name} cannot change once the process has started: its elements "
                        "were selected then. Create a new process to work on others."
                    ]
                    for name in SELECTION_FIELDS
                    if name in fields
                }
            )
            if errors:
                raise ValidationError(errors)
        resolve_selection(process.corpus_id, process.mode, fields)
        for name, value in fields.items():
            setattr(process, name, value)
        if fields:
            process.save(update_fields=[*fields, "updated"])
        if state is not None:
            # Locks the process row again (already held) and then its tasks (SPEC §5).
            stop_process(process.pk)


def delete_process(process_id):
    """Delete a process that is not active, with its tasks and worker runs.

    The storage keys are computed before the rows go; their objects are deleted by a
    background job once the deletion is committed, so a storage outage never blocks it.
    """
    with transaction.atomic():
        process = lock_process(process_id)
        if has_active_tasks(process):
            raise refuse(
                f"This process is active ({process.state}): stop it, then delete it once "
                "its tasks have stopped.",
                code="active",
            )
        task_ids = list(Task.objects.filter(process_id=process.pk).values_list("pk", flat=True))
        artifacts = Artifact.objects.filter(task__process_id=process.pk).values_list(
            "task_id", "path"
        )
        artifact_keys = [artifact_key(task_id, path) for task_id, path in artifacts]
        log_keys = [log_key(task_id) for task_id in task_ids]
        # Logs whose assembly has not run yet: their pieces go too (the job would find the
        # task gone and leave them to the orphan sweep)
        pieces = LogPiece.objects.filter(task__process_id=process.pk).values_list(
            "task_id", "offset"
        )
        log_keys += [log_piece_key(task_id, offset) for task_id, offset in pieces]
        process.delete()
        if artifact_keys or log_keys:
            enqueue("process.jobs.delete_storage_objects", artifact_keys, log_keys)
