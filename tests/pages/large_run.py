"""A run of 5,000 tasks for the browser test, written straight into a stack's database
(through `manage.py shell`): 500 worker runs of one worker, in 50 chains of 10, over 10
chunks, on a farm without agents, so that only the test changes their states.

    python manage.py shell -c "from tests.pages.large_run import build; build('a@b.c', id)"
"""

import json
import uuid

from django.db import transaction
from django.utils import timezone

from arkindex.users.models import User
from ponos import states
from ponos.farms import create_farm
from ponos.models import State, Task
from process.models import Process, Worker, WorkerRun, WorkerVersion

CHAINS = 50
DEPTH = 10
CHUNKS = 10


def run_slug(index):
    """The builder's name of the index-th worker run of one worker: layout, layout_2, …"""
    return "layout" if index == 0 else f"layout_{index + 1}"


def state_at(depth):
    """The first depths completed, the next one running, the rest waiting."""
    if depth < 3:
        return State.COMPLETED
    if depth == 3:
        return State.RUNNING
    return State.UNSCHEDULED


def build(creator_email, corpus_id):
    """Create the process and its run; print and return its id."""
    now = timezone.now()
    creator = User.objects.get(email=creator_email)
    farm = create_farm("Farm without agents")
    worker = Worker.objects.create(name="Layout", slug=f"layout-{uuid.uuid4().hex[:6]}", type="t")
    version = WorkerVersion.objects.create(
        worker=worker, version=1, docker_image="layout:1", command="layout"
    )
    process = Process.objects.create(
        name="Five thousand tasks",
        mode="workers",
        corpus_id=corpus_id,
        creator=creator,
        farm=farm,
        chunks=CHUNKS,
    )
    runs = WorkerRun.objects.bulk_create(
        WorkerRun(process=process, version=version, configuration={"index": index})
        for index in range(CHAINS * DEPTH)
    )
    WorkerRun.parents.through.objects.bulk_create(
        WorkerRun.parents.through(from_workerrun_id=runs[i].pk, to_workerrun_id=runs[i - 1].pk)
        for i in range(len(runs))
        if i % DEPTH
    )
    tasks = Task.objects.bulk_create(
        Task(
            process=process,
            run=0,
            depth=index % DEPTH,
            slug=f"{run_slug(index)}_{chunk}",
            state=state_at(index % DEPTH),
            image="layout:1",
            command="layout",
            worker_run=run,
            chunk=chunk,
            started=now if state_at(index % DEPTH) != State.UNSCHEDULED else None,
            finished=now if state_at(index % DEPTH) == State.COMPLETED else None,
        )
        for index, run in enumerate(runs)
        for chunk in range(1, CHUNKS + 1)
    )
    by_key = {(task.worker_run_id, task.chunk): task for task in tasks}
    Task.parents.through.objects.bulk_create(
        Task.parents.through(
            from_task_id=by_key[runs[i].pk, chunk].pk, to_task_id=by_key[runs[i - 1].pk, chunk].pk
        )
        for i in range(len(runs))
        if i % DEPTH
        for chunk in range(1, CHUNKS + 1)
    )
    Process.objects.filter(pk=process.pk).update(last_run=0, started=now)
    states.refresh_process(process.pk)
    print(json.dumps({"process": str(process.pk)}))
    return process.pk


def finish(process_id, slug, count):
    """Complete `count` running tasks of the worker run named `slug`, as their agent
    would, under the process lock (which bumps the revision the pages' ETags read)."""
    now = timezone.now()
    with transaction.atomic():
        process = states.lock_process(process_id)
        ids = list(
            Task.objects.filter(
                process_id=process_id, slug__startswith=f"{slug}_", state=State.RUNNING
            )
            .order_by("chunk")
            .values_list("id", flat=True)[:count]
        )
        states.write_states(ids, State.COMPLETED, now)
        states.refresh_locked(process, now)
    print(json.dumps({"finished": len(ids)}))
