"""Building a process run (SPEC §7): StartProcess and RetryProcess share this one builder.

A run is built from the process configuration (its mode, chunks, use_gpu and worker runs),
never cloned from a previous run, so a process whose tasks were cleaned up can be retried.
The builder is deterministic: the same configuration always gives the same slugs, parents
and depths.

Start and retry lock the process row (SELECT … FOR UPDATE) before checking anything: two
concurrent calls are serialized on that row, and the second one sees the first one's run
(`started` set, or an active last run) and is refused, so they make exactly one run.
The state machine (`ponos.states`) locks the same row first, in the same order.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from arkindex.jobs import enqueue
from ponos.models import State, Task
from ponos.states import lock_process, refresh_process
from process.models import (
    NON_RUNNABLE_MODES,
    ActivityState,
    GPUUsage,
    ProcessMode,
    VersionState,
    WorkerRun,
)

# Priority of every built task (agents take the highest priority first).
TASK_PRIORITY = 10
IMPORT_SLUG = "import"


@dataclass(frozen=True)
class PlannedTask:
    """One task of a run, before it exists: what the builder decided for it."""

    slug: str
    depth: int
    image: str
    command: str
    requires_gpu: bool
    worker_run_id: object = None
    parents: tuple = ()
    # 1-based chunk of a chunked process (chunks > 1), given to the task as ARKINDEX_TASK_CHUNK.
    chunk: int | None = None


def refuse(detail, code="invalid"):
    """A 400 about the process itself rather than one field of the body (attr null)."""
    return ValidationError(detail, code=code)


def worker_run_depths(worker_runs, parents_of):
    """Depth of each worker run: 0 without parents, else 1 + the deepest parent.

    Worker-run changes refuse cycles; a cycle found here anyway is refused, not looped on.
    """
    depths = {}
    pending = [run.id for run in worker_runs]
    while pending:
        remaining = []
        for run_id in pending:
            parents = parents_of[run_id]
            if all(parent in depths for parent in parents):
                depths[run_id] = 1 + max((depths[parent] for parent in parents), default=-1)
            else:
                remaining.append(run_id)
        if len(remaining) == len(pending):
            raise refuse("The worker runs of this process form a cycle: fix their parents.")
        pending = remaining
    return depths


def worker_run_slugs(worker_runs):
    """The worker's slug; `_<n>` (n ≥ 2, in creation order) when the worker appears again."""
    seen = defaultdict(int)
    slugs = {}
    for run in worker_runs:
        worker = run.version.worker
        seen[worker.id] += 1
        count = seen[worker.id]
        slugs[run.id] = worker.slug if count == 1 else f"{worker.slug}_{count}"
    return slugs


def requires_gpu(version, use_gpu):
    if version.gpu_usage == GPUUsage.REQUIRED:
        return True
    return version.gpu_usage == GPUUsage.SUPPORTED and use_gpu


def plan_workers(process, worker_runs, parents_of):
    """One task per worker run per chunk; parents are the parent runs' tasks of the same chunk.

    `worker_runs` are in creation order; `parents_of` maps a worker run id to its parents' ids.
    """
    if not worker_runs:
        raise refuse(
            "This process has no worker runs: add at least one with CreateWorkerRun.",
            code="no_worker_runs",
        )
    unavailable = [run for run in worker_runs if run.version.state != VersionState.AVAILABLE]
    if unavailable:
        names = ", ".join(
            f"{run.version.worker.slug} version {run.version.version} ({run.version.state})"
            for run in unavailable
        )
        raise refuse(
            f"Every worker version must be available to run; these are not: {names}.",
            code="version_unavailable",
        )
    depths = worker_run_depths(worker_runs, parents_of)
    slugs = worker_run_slugs(worker_runs)
    chunked = process.chunks > 1

    def slug(run_id, chunk):
        return f"{slugs[run_id]}_{chunk}" if chunked else slugs[run_id]

    planned = []
    for chunk in range(1, process.chunks + 1):
        for run in worker_runs:
            planned.append(
                PlannedTask(
                    slug=slug(run.id, chunk),
                    depth=depths[run.id],
                    image=run.version.docker_image,
                    command=run.version.command,
                    requires_gpu=requires_gpu(run.version, process.use_gpu),
                    worker_run_id=run.id,
                    parents=tuple(slug(parent, chunk) for parent in parents_of[run.id]),
                    chunk=chunk if chunked else None,
                )
            )
    counts = Counter(task.slug for task in planned)
    duplicates = sorted(slug for slug, count in counts.items() if count > 1)
    if duplicates:
        # Only possible when a worker's slug looks like another's numbered one (`ocr` twice
        # and a worker `ocr_2`): refused rather than failing on the unique constraint.
        raise refuse(
            f"Two tasks would get the slug {', '.join(duplicates)}: the worker slugs of this "
            "process clash with the numbering of repeated workers; remove one of them.",
            code="duplicate_slug",
        )
    return planned


def plan_repository():
    """One import task, which adds the other tasks itself through CreateTask."""
    return [
        PlannedTask(
            slug=IMPORT_SLUG,
            depth=0,
            image=settings.PONOS_IMPORT_IMAGE,
            command=settings.PONOS_IMPORT_COMMAND,
            requires_gpu=False,
        )
    ]


def plan_run(process):
    """The tasks of the next run of `process` (two queries in workers mode, none otherwise)."""
    if process.mode == ProcessMode.REPOSITORY:
        return plan_repository()
    if process.mode != ProcessMode.WORKERS:
        raise refuse(f"A {process.mode} process never runs.", code="not_runnable")
    worker_runs = list(
        WorkerRun.objects.filter(process_id=process.pk)
        .select_related("version__worker")
        .order_by("created", "id")
    )
    parents_of = defaultdict(list)
    edges = WorkerRun.parents.through.objects.filter(
        from_workerrun__process_id=process.pk
    ).values_list("from_workerrun_id", "to_workerrun_id")
    for child, parent in edges:
        parents_of[child].append(parent)
    # A stable order of parents keeps the builder deterministic.
    order = {run.id: index for index, run in enumerate(worker_runs)}
    for parents in parents_of.values():
        parents.sort(key=order.__getitem__)
    return plan_workers(process, worker_runs, parents_of)


def build_run(process, farm, now, worker_activity=False):
    """Create the next run of a locked process, in a constant number of queries.

    Parentless tasks are created pending, the others unscheduled (a creation, not a
    transition); the stored env holds only the task's own variables, the definition adds
    the rest when an agent reads it.

    With `worker_activity` (workers mode), every task is created unscheduled and the
    process's `activity_state` is `pending`: a background job, enqueued for when this
    transaction commits, creates the activities and then lets the parentless tasks start.
    """
    planned = plan_run(process)
    with_activities = worker_activity and process.mode == ProcessMode.WORKERS
    run = 0 if process.last_run is None else process.last_run + 1
    expiry = now + timedelta(days=settings.PONOS_TASK_EXPIRY_DAYS)
    tasks = {
        item.slug: Task(
            process_id=process.pk,
            run=run,
            depth=item.depth,
            slug=item.slug,
            state=State.UNSCHEDULED if item.parents or with_activities else State.PENDING,
            image=item.image,
            command=item.command,
            env={},
            requires_gpu=item.requires_gpu,
            worker_run_id=item.worker_run_id,
            chunk=item.chunk,
            priority=TASK_PRIORITY,
            ttl=settings.PONOS_DEFAULT_TTL,
            expiry=expiry,
        )
        for item in planned
    }
    Task.objects.bulk_create(tasks.values())
    Through = Task.parents.through
    Through.objects.bulk_create(
        Through(from_task_id=tasks[item.slug].id, to_task_id=tasks[parent].id)
        for item in planned
        for parent in item.parents
    )
    process.last_run = run
    process.farm = farm
    process.started = now
    process.finished = None
    process.updated = now
    process.activity_state = ActivityState.PENDING if with_activities else ActivityState.DISABLED
    process.save(
        update_fields=[
            "last_run",
            "farm",
            "started",
            "finished",
            "chunks",
            "use_gpu",
            "activity_state",
            "updated",
        ]
    )
    refresh_process(process.pk, now=now)
    if with_activities:
        enqueue("process.jobs.create_activities", str(process.pk), run)
    return run


def has_active_tasks(process):
    """Active = a task of the last run is pending, running or stopping (SPEC §5).

    Not derivable from the stored summary: a failed task next to a pending one reads
    `failed` while the run is still active. A run whose activities are being created
    (all its tasks unscheduled) counts as active too.
    """
    if process.last_run is None:
        return False
    if process.activity_state == ActivityState.PENDING:
        # Its tasks wait for their activities: the run is under way.
        return True
    return Task.objects.active().filter(process_id=process.pk, run=process.last_run).exists()


def start_process(process_id, *, farm, chunks=None, use_gpu=None, worker_activity=False, now=None):
    """Build run 0 of a process that never started; `chunks`/`use_gpu` update it first.
    `worker_activity`: see `build_run` (StartProcess sets it by default)."""
    now = now or timezone.now()
    with transaction.atomic():
        process = lock_process(process_id)
        if process.mode in NON_RUNNABLE_MODES:
            raise refuse(
                f"A {process.mode} process holds a configuration and never runs: create a "
                "workers process to run it.",
                code="not_runnable",
            )
        if process.started is not None:
            raise refuse(
                "This process has already been started: use RetryProcess to run it again.",
                code="already_started",
            )
        if chunks is not None:
            process.chunks = chunks
        if use_gpu is not None:
            process.use_gpu = use_gpu
        build_run(process, farm, now, worker_activity)
    return process


def retry_process(process_id, *, farm=None, worker_activity=False, now=None):
    """Build the next run of a started process that is not active (completed ones too),
    on `farm` or on the farm of its previous run.
    """
    now = now or timezone.now()
    with transaction.atomic():
        process = lock_process(process_id)
        if process.mode in NON_RUNNABLE_MODES:
            raise refuse(f"A {process.mode} process never runs.", code="not_runnable")
        if process.started is None:
            raise refuse(
                "This process has not been started yet: use StartProcess.", code="not_started"
            )
        if has_active_tasks(process):
            raise refuse(
                f"This process is still active ({process.state}): stop it, or wait until it "
                "finishes, before retrying it.",
                code="active",
            )
        build_run(process, farm or process.farm, now, worker_activity)
    return process
