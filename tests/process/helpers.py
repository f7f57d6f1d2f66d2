"""Helpers of the process tests: worker runs in a known creation order, runs of tasks."""

from datetime import timedelta

from django.utils import timezone

from ponos.models import State, Task
from ponos.states import refresh_process
from process.models import GPUUsage, VersionState, WorkerRun
from tests.factories import TaskFactory, WorkerFactory, WorkerRunFactory, WorkerVersionFactory

BASE = timezone.now() - timedelta(days=1)


def add_worker_run(
    process,
    worker=None,
    *,
    slug=None,
    parents=(),
    gpu_usage=GPUUsage.DISABLED,
    state=VersionState.AVAILABLE,
    configuration=None,
    version=None,
):
    """A worker run of `process`, created one second after the previous one.

    The builder orders worker runs by creation: explicit timestamps keep that order exact.
    """
    if version is None:
        if worker is None:
            worker = WorkerFactory(**({"slug": slug} if slug else {}))
        version = WorkerVersionFactory(
            worker=worker,
            gpu_usage=gpu_usage,
            state=state,
            docker_image=f"registry.example.com/{worker.slug}:1",
            command=f"run {worker.slug}",
        )
    run = WorkerRunFactory(process=process, version=version, configuration=configuration or {})
    position = WorkerRun.objects.filter(process=process).count()
    WorkerRun.objects.filter(pk=run.pk).update(created=BASE + timedelta(seconds=position))
    run.parents.set(parents)
    return run


def make_run(process, *, run=0, refresh=True, **slug_states):
    """Tasks of one run with given states (a fixture-style shortcut), then the summary."""
    tasks = {
        slug: TaskFactory(process=process, run=run, slug=slug, state=state)
        for slug, state in slug_states.items()
    }
    process.last_run = run if process.last_run is None else max(run, process.last_run)
    process.started = process.started or timezone.now()
    process.save(update_fields=["last_run", "started"])
    if refresh:
        refresh_process(process.pk)
    process.refresh_from_db()
    return tasks


def tasks_by_slug(process, run=None):
    tasks = Task.objects.filter(process=process).prefetch_related("parents")
    if run is not None:
        tasks = tasks.filter(run=run)
    return {task.slug: task for task in tasks}


def parent_slugs(task):
    return sorted(parent.slug for parent in task.parents.all())


def finish_run(process, state=State.COMPLETED):
    """End every task of the last run (fixture-style) and refresh the summary."""
    process.refresh_from_db()
    Task.objects.filter(process=process, run=process.last_run).update(state=state)
    refresh_process(process.pk)
    process.refresh_from_db()
