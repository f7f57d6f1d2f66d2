"""manage.py cleanup: expired tasks with their objects, the orphan sweep, dead agents."""

import io
import tracemalloc
import uuid
from dataclasses import asdict
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ponos.models import Artifact, State, Task
from ponos.storage import artifact_key, log_key, reset_storage
from process.cleanup import cleanup, delete_task_rows
from process.models import Process, ProcessMode, WorkerRun
from tests.conftest import client_for
from tests.factories import ProcessFactory, TaskFactory, WorkerRunFactory
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET
from tests.process import cleanup_fixtures
from tests.process.cleanup_fixtures import (
    EXPIRED,
    FRESH,
    NOW,
    OLD,
    closed_port_endpoint,
    put_object,
    record_delete_calls,
    refuse_deletes,
    stored_keys,
    use_s3_storage,
)

# Storage fixtures of this module
app_storage = cleanup_fixtures.app_storage
local_app_storage = cleanup_fixtures.local_app_storage
s3_app_storage = cleanup_fixtures.s3_app_storage

pytestmark = pytest.mark.django_db

# Orphans on both sides of the one-hour limit
TWO_HOURS_AGO = NOW - timedelta(hours=2)
HALF_AN_HOUR_AGO = NOW - timedelta(minutes=30)


def run_cleanup(*args):
    """call_command('cleanup') at NOW: (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("cleanup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_cleanup(*args):
    """A cleanup expected to exit non-zero: (stdout, stderr, error message)."""
    out, err = io.StringIO(), io.StringIO()
    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError) as error:
        call_command("cleanup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(error.value)


def counts(report):
    """The counts of a report, whatever the mode it ran in."""
    return {
        name: value for name, value in asdict(report).items() if name not in {"dry_run", "messages"}
    }


def make_task(storage, process, slug, *, expiry=EXPIRED, log=True, artifacts=(), **fields):
    """A task with its artifact rows and objects, and its log object unless `log` is false."""
    task = TaskFactory(process=process, slug=slug, expiry=expiry, **fields)
    for path in artifacts:
        Artifact.objects.create(task=task, path=path, size=4)
        put_object(storage, ARTIFACTS_BUCKET, artifact_key(task.id, path), at=OLD)
    if log:
        put_object(storage, LOGS_BUCKET, log_key(task.id), at=OLD)
    return task


def statements(queries):
    """The queries cleanup sends, without the savepoints of the test's own transaction."""
    return [query for query in queries if "SAVEPOINT" not in query["sql"]]


def ran(process, state, last_run=0):
    process.state = state
    process.last_run = last_run
    process.started = OLD
    process.save(update_fields=["state", "last_run", "started"])
    return process


def build_mix(storage, corpus, contributor, farm, agent, other_agent):
    """
    A realistic instance: an expired process over two runs with parents and a restart, a
    fresh one, one with an expired and a fresh task, an expired one still running, one that
    never ran, orphans on both sides of the hour, old-layout keys and unrelated keys.
    """

    def new_process(name):
        return ProcessFactory(corpus=corpus, creator=contributor, farm=farm, name=name)

    expired = ran(new_process("Expired"), State.COMPLETED, last_run=1)
    worker_run = WorkerRunFactory(process=expired)
    first = make_task(storage, expired, "init", run=0, state=State.FAILED, artifacts=["a.txt"])
    init = make_task(
        storage,
        expired,
        "init",
        run=1,
        state=State.COMPLETED,
        worker_run=worker_run,
        # A path starting with a UUID folder: its key looks like an old one
        artifacts=["out/result.json", f"{uuid.uuid4()}/page.png"],
    )
    # Never uploaded its log: the missing object counts as deleted
    failed = make_task(storage, expired, "next", run=1, state=State.FAILED, log=False)
    failed.parents.set([init])
    restarted = make_task(
        storage, expired, "next_2", run=1, state=State.COMPLETED, original_task=failed
    )
    restarted.parents.set([init])

    fresh = ran(new_process("Fresh"), State.RUNNING)
    fresh_task = make_task(storage, fresh, "fresh", expiry=FRESH, artifacts=["keep.txt"])
    # Held by an agent that has been silent for a day: the dead-agent rule puts it in error
    other_agent.last_ping = NOW - timedelta(days=1)
    other_agent.save(update_fields=["last_ping"])
    dead_agent_task = make_task(
        storage, fresh, "held", expiry=FRESH, state=State.RUNNING, agent=other_agent
    )

    half = ran(new_process("Half expired"), State.COMPLETED)
    half_tasks = [
        make_task(storage, half, "old", state=State.COMPLETED),
        make_task(storage, half, "new", expiry=FRESH, state=State.COMPLETED),
    ]

    running = ran(new_process("Still running"), State.RUNNING)
    agent.last_ping = NOW
    agent.save(update_fields=["last_ping"])
    running_tasks = [
        make_task(storage, running, "done", state=State.COMPLETED, artifacts=["x.bin"]),
        make_task(storage, running, "busy", state=State.RUNNING, agent=agent),
    ]

    never = new_process("Never ran")

    gone, workflow = uuid.uuid4(), uuid.uuid4()
    orphans = [
        (ARTIFACTS_BUCKET, f"{gone}/report.txt"),
        (LOGS_BUCKET, f"{gone}.log"),
    ]
    recent = [
        (ARTIFACTS_BUCKET, f"{uuid.uuid4()}/young.txt"),
        (LOGS_BUCKET, f"{uuid.uuid4()}.log"),
    ]
    old_layout = [
        (ARTIFACTS_BUCKET, f"{workflow}/{fresh_task.id}/legacy.txt"),
        # The orphan of a task whose path began with a UUID folder, or an old key: kept
        (ARTIFACTS_BUCKET, f"{gone}/{uuid.uuid4()}/page.png"),
        (LOGS_BUCKET, f"{workflow}/run_0/{fresh_task.id}.log"),
    ]
    unrelated = [
        (ARTIFACTS_BUCKET, "README.txt"),
        (ARTIFACTS_BUCKET, f"{str(gone).upper()}/report.txt"),
        (ARTIFACTS_BUCKET, "exports/2020/data.csv"),
        (LOGS_BUCKET, "notes.log"),
        (LOGS_BUCKET, f"{gone}/task.log"),
    ]
    for bucket, key in orphans + old_layout + unrelated:
        put_object(storage, bucket, key, at=TWO_HOURS_AGO)
    for bucket, key in recent:
        put_object(storage, bucket, key, at=HALF_AN_HOUR_AGO)

    deleted_tasks = [first, init, failed, restarted]
    kept_tasks = [fresh_task, dead_agent_task, *half_tasks, *running_tasks]
    return SimpleNamespace(
        storage=storage,
        expired=expired,
        worker_run=worker_run,
        fresh=fresh,
        half=half,
        running=running,
        never=never,
        deleted_tasks=deleted_tasks,
        kept_tasks=kept_tasks,
        dead_agent_task=dead_agent_task,
        kept_keys={
            bucket: sorted(
                [
                    *(
                        artifact_key(task.id, path)
                        for task in kept_tasks
                        for path in task.artifacts.values_list("path", flat=True)
                        if bucket == ARTIFACTS_BUCKET
                    ),
                    *(log_key(task.id) for task in kept_tasks if bucket == LOGS_BUCKET),
                    *(key for name, key in recent + old_layout + unrelated if name == bucket),
                ]
            )
            for bucket in (ARTIFACTS_BUCKET, LOGS_BUCKET)
        },
    )


@pytest.fixture
def mix(app_storage, corpus, contributor, farm, agent, other_agent):
    """The realistic instance on each backend."""
    return build_mix(app_storage, corpus, contributor, farm, agent, other_agent)


def snapshot(storage):
    """Everything cleanup may change: rows, process states and stored keys."""
    return {
        "tasks": sorted(str(pk) for pk in Task.objects.values_list("pk", flat=True)),
        "artifacts": Artifact.objects.count(),
        "parents": Task.parents.through.objects.count(),
        "restarts": Task.objects.filter(original_task__isnull=False).count(),
        "processes": sorted(Process.objects.values_list("name", "state", "last_run")),
        "task_states": sorted(Task.objects.values_list("slug", "state")),
        "artifacts_bucket": stored_keys(storage, ARTIFACTS_BUCKET),
        "logs_bucket": stored_keys(storage, LOGS_BUCKET),
    }


def test_cleanup_deletes_expired_tasks_and_old_orphans_and_keeps_everything_else(mix):
    out, err = run_cleanup()

    assert stored_keys(mix.storage, ARTIFACTS_BUCKET) == mix.kept_keys[ARTIFACTS_BUCKET]
    assert stored_keys(mix.storage, LOGS_BUCKET) == mix.kept_keys[LOGS_BUCKET]
    assert set(Task.objects.all()) == set(mix.kept_tasks)
    assert not Task.objects.filter(process=mix.expired).exists()
    assert set(Artifact.objects.values_list("task_id", flat=True)) == {
        task.id for task in mix.kept_tasks if task.artifacts.exists()
    }
    assert not Task.parents.through.objects.exists()
    # Processes keep their state and their highest run; worker runs stay
    states = dict(Process.objects.values_list("name", "state"))
    assert states == {
        "Expired": State.COMPLETED,
        "Fresh": State.ERROR,
        "Half expired": State.COMPLETED,
        "Still running": State.RUNNING,
        "Never ran": State.UNSCHEDULED,
    }
    mix.expired.refresh_from_db()
    assert mix.expired.last_run == 1
    assert list(WorkerRun.objects.filter(process=mix.expired)) == [mix.worker_run]
    # The dead-agent rule ran last
    mix.dead_agent_task.refresh_from_db()
    assert mix.dead_agent_task.state == State.ERROR

    assert f"Process {mix.running.id} expired but is running: skipped." in out
    assert "3 keys use the old storage layout" in out
    assert "manage.py migrate_ponos_storage" in out
    assert out.splitlines()[-1] == (
        "Cleanup finished. Expired processes: 1, skipped as active: 1. Deleted: 4 tasks, "
        "3 artifacts, 4 logs, 2 orphaned objects (2 younger than an hour kept). "
        "Old-layout keys: 3. Logs assembled from pieces: 0. Tasks of dead agents released: 1. "
        "Tasks kept: 0. Failures: 0."
    )
    assert err == ""


def test_a_second_cleanup_right_after_finds_nothing_to_do(mix):
    run_cleanup()
    before = snapshot(mix.storage)

    with time_machine.travel(NOW, tick=False):
        report = cleanup()

    assert snapshot(mix.storage) == before
    assert counts(report) == {
        **dict.fromkeys(counts(report), 0),
        # Still there, still reported: the running process, young orphans, old-layout keys
        "skipped_active": 1,
        "recent_orphans": 2,
        "old_layout": 3,
    }


def test_a_dry_run_changes_nothing_and_counts_what_the_real_run_does(mix):
    before = snapshot(mix.storage)

    with time_machine.travel(NOW, tick=False):
        dry = cleanup(dry_run=True)
    out, _err = run_cleanup("--dry-run")

    assert snapshot(mix.storage) == before
    assert out.splitlines()[-1].startswith("Dry run, nothing changed. Expired processes: 1")
    assert "Would delete: 4 tasks, 3 artifacts, 4 logs, 2 orphaned objects" in out

    with time_machine.travel(NOW, tick=False):
        real = cleanup()

    assert counts(dry) == counts(real)


def test_a_cleaned_up_process_shows_no_tasks_and_can_be_retried(mix, contributor):
    run_cleanup()
    client = client_for(contributor)

    response = client.get(f"/api/v1/process/{mix.expired.id}/")

    assert response.status_code == 200
    assert response.json()["tasks"] == []
    assert response.json()["state"] == "completed"

    with time_machine.travel(NOW, tick=False):
        # Without worker activities, the retry's tasks are scheduled at once.
        response = client.post(
            f"/api/v1/process/{mix.expired.id}/retry/", {"worker_activity": False}, format="json"
        )

    assert response.status_code == 200
    # The next run continues the numbering of the runs cleanup removed
    assert {task["run"] for task in response.json()["tasks"]} == {2}
    assert response.json()["state"] == "pending"


@pytest.fixture
def s3_mix(s3_app_storage, corpus, contributor, farm, agent, other_agent):
    """The realistic instance on S3 only, for failures injected into boto3."""
    return build_mix(s3_app_storage, corpus, contributor, farm, agent, other_agent)


def test_tasks_whose_objects_could_not_be_deleted_keep_their_rows(s3_mix):
    mix = s3_mix
    init = mix.deleted_tasks[1]
    refused = artifact_key(init.id, "out/result.json")
    refuse_deletes(mix.storage, [refused])

    out, err, error = failing_cleanup()

    # Its other objects are gone, its rows stay for the next run
    assert Task.objects.filter(pk=init.pk).exists()
    assert init.artifacts.count() == 2
    assert init.parents.count() == 0
    assert refused in stored_keys(mix.storage, ARTIFACTS_BUCKET)
    assert log_key(init.id) not in stored_keys(mix.storage, LOGS_BUCKET)
    assert set(Task.objects.filter(process=mix.expired)) == {init}
    # Links from the tasks that went are gone with them
    assert init.children.count() == 0
    assert "1 objects could not be deleted from ponos-artifacts" in err
    assert "Deleted: 3 tasks, 2 artifacts, 4 logs" in out
    assert "Tasks kept: 1. Failures: 1." in out
    assert error == "1 failures: run the cleanup again once they are fixed."

    # The store works again: the next run finishes the job
    reset_storage()
    out, _err = run_cleanup()

    assert not Task.objects.filter(process=mix.expired).exists()
    assert stored_keys(mix.storage, ARTIFACTS_BUCKET) == mix.kept_keys[ARTIFACTS_BUCKET]
    assert "Deleted: 1 tasks, 2 artifacts, 1 logs" in out


def test_an_unreachable_store_deletes_nothing_from_the_database(s3_mix, settings):
    before = snapshot(s3_mix.storage)
    use_s3_storage(settings, closed_port_endpoint())

    out, err, error = failing_cleanup()

    after = snapshot(s3_mix.storage)
    assert after["tasks"] == before["tasks"]
    assert after["artifacts"] == before["artifacts"]
    assert after["parents"] == before["parents"]
    assert after["restarts"] == before["restarts"]
    assert "Stopped deleting expired tasks on a storage error" in err
    assert "Stopped sweeping ponos-artifacts on a storage error" in err
    assert "Deleted: 0 tasks, 0 artifacts, 0 logs, 0 orphaned objects" in out
    # The dead-agent rule needs no storage: it still ran
    s3_mix.dead_agent_task.refresh_from_db()
    assert s3_mix.dead_agent_task.state == State.ERROR
    assert error.endswith("run the cleanup again once they are fixed.")

    use_s3_storage(settings)
    run_cleanup()

    assert set(Task.objects.all()) == set(s3_mix.kept_tasks)
    assert stored_keys(s3_mix.storage, LOGS_BUCKET) == s3_mix.kept_keys[LOGS_BUCKET]


def test_an_interrupted_cleanup_is_finished_by_the_next_one(s3_app_storage, process):
    ran(process, State.COMPLETED)
    for n in range(10):
        make_task(s3_app_storage, process, f"task-{n}", state=State.COMPLETED, log=n < 5)
    Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"bulk-{n}", expiry=EXPIRED, state=State.COMPLETED)
        for n in range(1490)
    )

    def interrupt(**kwargs):
        raise KeyboardInterrupt

    # Interrupted as soon as the first DeleteObjects calls come back, before any row went
    s3_app_storage.client.meta.events.register("after-call.s3.DeleteObjects", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_cleanup()
    assert Task.objects.count() == 1500

    reset_storage()
    run_cleanup()

    assert not Task.objects.exists()
    assert stored_keys(s3_app_storage, LOGS_BUCKET) == []


def test_expired_tasks_are_deleted_with_full_delete_calls_and_bounded_queries(
    s3_app_storage, corpus, contributor
):
    processes = Process.objects.bulk_create(
        Process(mode=ProcessMode.WORKERS, corpus=corpus, creator=contributor, name=f"P{n}")
        for n in range(1000)
    )
    tasks = Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"t{n}", expiry=EXPIRED, state=State.COMPLETED)
        for process in processes
        for n in range(10)
    )
    # 1.5 artifacts per task on average: batches of tasks alone would not fill the calls
    Artifact.objects.bulk_create(
        Artifact(task=task, path=f"file-{n}.txt", size=1)
        for index, task in enumerate(tasks)
        for n in range(2 if index % 2 else 1)
    )
    calls = record_delete_calls(s3_app_storage)
    out = io.StringIO()

    with CaptureQueriesContext(connection) as queries:
        report = cleanup(now=NOW, progress=out.write)

    assert report.tasks == 10_000
    assert report.artifacts == 15_000
    assert report.logs == 10_000
    assert not Task.objects.exists()
    assert not Artifact.objects.exists()
    # One full call per thousand keys: 15,000 artifact keys, 10,000 log keys
    assert sorted(calls) == [(ARTIFACTS_BUCKET, 1000)] * 15 + [(LOGS_BUCKET, 1000)] * 10
    # Per page of 100 processes: candidates, the expired ones, their task counts, and an
    # empty last page. Per group of 50 processes (500 tasks): their task ids, their artifacts
    # (750 rows), their log pieces, 2 statements locking their processes and bumping their
    # revisions, and 5 deleting rows (parent links, artifacts, log pieces, restarts'
    # original_task, tasks). Then 1 query for finished tasks left in log pieces, and 1 of
    # the dead-agent rule.
    assert len(statements(queries)) == 10 * 3 + 1 + 20 * (3 + 2 + 5) + 1 + 1
    assert "10000 expired tasks deleted so far" in out.getvalue()


def test_the_row_deletion_handles_every_relation_pointing_at_tasks():
    relations = {
        (relation.related_model._meta.label, relation.field.name)
        for relation in Task._meta.get_fields(include_hidden=True)
        if relation.is_relation and relation.auto_created and not relation.concrete
    }

    # delete_task_rows deletes or clears each of them: a new one must be handled there too
    assert relations == {
        ("ponos.Artifact", "task"),
        ("ponos.LogPiece", "task"),
        ("ponos.Task", "original_task"),
        ("ponos.Task", "parents"),
        ("ponos.Task_parents", "from_task"),
        ("ponos.Task_parents", "to_task"),
    }


def test_deleting_task_rows_clears_restarts_outside_the_batch(process):
    original = TaskFactory(process=process, slug="a", state=State.FAILED)
    restart = TaskFactory(process=process, slug="a_2", original_task=original)
    child = TaskFactory(process=process, slug="b")
    child.parents.set([original])

    with CaptureQueriesContext(connection) as queries:
        assert delete_task_rows([original.id]) == 1

    # The processes locked and their revisions bumped; parent links, artifacts, log pieces,
    # restarts' original_task, tasks
    assert len(statements(queries)) == 7
    process.refresh_from_db()
    assert process.revision == 1
    restart.refresh_from_db()
    assert restart.original_task is None
    assert child.parents.count() == 0


def expired_tasks_with_artifacts(process, count, artifacts):
    tasks = Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"t{n}", expiry=EXPIRED, state=State.COMPLETED)
        for n in range(count)
    )
    Artifact.objects.bulk_create(
        Artifact(task=task, path=f"{n}.txt", size=1) for task in tasks for n in range(artifacts)
    )


def test_the_memory_of_a_cleanup_does_not_grow_with_the_number_of_tasks(s3_app_storage, process):
    def peak_memory(count):
        expired_tasks_with_artifacts(process, count, artifacts=3)
        tracemalloc.start()
        try:
            report = cleanup(now=NOW)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert report.tasks == count
        return peak

    # With 4 keys per task, the buffers and the calls in flight are full from about 1,500
    # tasks on: past that, the peak stays about the same for three times the tasks. How many
    # delete calls overlap depends on scheduling, so the bound leaves room for that, far
    # below the 3x that memory proportional to the tasks would show.
    small, large = peak_memory(1500), peak_memory(4500)

    assert large < small * 1.6
