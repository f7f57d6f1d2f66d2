"""Changes to worker runs: each one locks its process row, so that it never races a start,
a retry or another change of the same process (and the checks below see a settled process).
"""

from collections import defaultdict, deque

from django.db import transaction
from rest_framework.exceptions import ValidationError

from process.builder import has_active_tasks, lock_process, refuse
from process.models import ProcessMode, WorkerRun


def check_editable(process):
    if process.mode == ProcessMode.REPOSITORY:
        raise refuse(
            "A repository process has no worker runs: its import task creates its tasks.",
            code="no_worker_runs",
        )
    if has_active_tasks(process):
        raise refuse(
            f"This process is active ({process.state}): its worker runs can change once its "
            "run is over; stop it first to change them now.",
            code="active",
        )


def check_unique(process, version, configuration, exclude=None):
    """A version appears twice in one process only with different configurations.

    Compared in Python (dict equality ignores key order): a unique index over large JSON
    configurations would refuse big ones.
    """
    same_version = WorkerRun.objects.filter(process_id=process.pk, version=version)
    if exclude is not None:
        same_version = same_version.exclude(pk=exclude.pk)
    for other in same_version.only("id", "configuration"):
        if other.configuration == configuration:
            raise ValidationError(
                {
                    "configuration": [
                        f"Worker version {version.pk} already runs in this process with this "
                        f"configuration (worker run {other.pk}): change the configuration, "
                        "or use that worker run."
                    ]
                }
            )


def check_acyclic(worker_run, parents):
    """Refuse parents that are the worker run itself or depend on it."""
    children = defaultdict(list)
    edges = WorkerRun.parents.through.objects.filter(
        from_workerrun__process_id=worker_run.process_id
    ).values_list("to_workerrun_id", "from_workerrun_id")
    for parent_id, child_id in edges:
        children[parent_id].append(child_id)
    descendants, queue = {worker_run.pk}, deque([worker_run.pk])
    while queue:
        for child in children[queue.popleft()]:
            if child not in descendants:
                descendants.add(child)
                queue.append(child)
    looping = [str(parent.pk) for parent in parents if parent.pk in descendants]
    if looping:
        raise ValidationError(
            {
                "parents": [
                    f"These parents would make a cycle: {', '.join(looping)} is this worker "
                    "run or depends on it."
                ]
            }
        )


def create_worker_run(process_id, *, version, parents=(), configuration=None):
    configuration = {} if configuration is None else configuration
    with transaction.atomic():
        process = lock_process(process_id)
        check_editable(process)
        check_unique(process, version, configuration)
        worker_run = WorkerRun.objects.create(
            process=process, version=version, configuration=configuration
        )
        worker_run.parents.set(parents)
    return worker_run


def update_worker_run(worker_run, **fields):
    """Change the version, configuration or parents of a worker run (not while active).

    Tasks already built keep their definition: changes apply to the next run.
    """
    with transaction.atomic():
        process = lock_process(worker_run.process_id)
        check_editable(process)
        worker_run = WorkerRun.objects.select_related("version").get(pk=worker_run.pk)
        parents = fields.pop("parents", None)
        version = fields.get("version", worker_run.version)
        configuration = fields.get("configuration", worker_run.configuration)
        if "version" in fields or "configuration" in fields:
            check_unique(process, version, configuration, exclude=worker_run)
        if parents is not None:
            check_acyclic(worker_run, parents)
        for name, value in fields.items():
            setattr(worker_run, name, value)
        worker_run.save(update_fields=[*fields, "updated"])
        if parents is not None:
            worker_run.parents.set(parents)
    return worker_run


def delete_worker_run(worker_run):
    """Delete a worker run (not while active); its old tasks keep their history."""
    with transaction.atomic():
        process = lock_process(worker_run.process_id)
        check_editable(process)
        WorkerRun.objects.filter(pk=worker_run.pk).delete()
