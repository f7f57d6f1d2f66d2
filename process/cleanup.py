"""
Cleanup of expired processes (SPEC §8), run daily from cron by ``manage.py cleanup``.

1. Expired processes (they have tasks, all past their expiry) that are not active lose every
   expired task: its artifact objects, its log object, then its rows. Processes, their state
   and `last_run`, and worker runs stay, so a cleaned-up process can still be retried.
2. The orphan sweep deletes objects of the new layout (log pieces included) whose task no
   longer exists and that are older than an hour. Old-layout keys are counted, never swept.
3. Finished tasks whose log is still in pieces get it assembled (`ponos.logs`).
4. The dead-agent rule of `ponos.states` runs (assembling the logs of the tasks it ends).

Memory does not grow with the number of tasks: processes are read by pages (keyset on their
id), their tasks by batches, artifacts by pages, and buckets are listed lazily. Objects go
before rows: a task whose objects could not all be deleted keeps its rows, and the next run
tries again (a missing object counts as deleted). Rows are deleted in short transactions that
never wait on the storage. Interrupting a run at any point leaves nothing that the next run
cannot finish.
"""

from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from ponos.logs import assemble_log, tasks_with_pieces_left
from ponos.models import ACTIVE_STATES, Artifact, LogPiece, Task
from ponos.reports import OperationReport
from ponos.states import lock_processes, release_dead_agents
from ponos.storage import (
    Storage,
    StorageError,
    artifact_key,
    get_storage,
    log_key,
    log_piece_key,
)
from ponos.storage_migration import Layout, classified_objects
from process.models import Process

# Expired processes read per page
PROCESS_PAGE = 100
# Tasks read per query, and whose rows are deleted per transaction
TASK_BATCH = 500
# Artifact rows read per query
ARTIFACT_PAGE = 1000
# Keys per delete_many call: the most one S3 DeleteObjects request takes. Keys of several
# tasks, and of several processes, fill the same call, so that a cleanup sends one request
# per thousand keys whatever the number of artifacts per task.
DELETE_BATCH = 1000
# delete_many calls running at once: the store works on some while the next keys are read
# and rows are deleted. Each holds one connection of the S3 client's pool (10 by default).
DELETE_CONCURRENCY = 4
# An object younger than this may belong to a task whose row is not visible yet
ORPHAN_MIN_AGE = timedelta(hours=1)
PROGRESS_EVERY = 10_000


def no_progress(message: str) -> None:
    pass


@dataclass
class CleanupReport(OperationReport):
    expired_processes: int = 0
    skipped_active: int = 0
    tasks: int = 0
    artifacts: int = 0
    logs: int = 0
    orphans: int = 0
    # Orphans younger than ORPHAN_MIN_AGE, left for a later run
    recent_orphans: int = 0
    old_layout: int = 0
    released: int = 0
    # Finished tasks whose log pieces were assembled here (their own job had failed)
    assembled_logs: int = 0
    # Tasks kept because some of their objects could not be deleted
    kept_tasks: int = 0

    def summary(self) -> str:
        prefix = "Dry run, nothing changed." if self.dry_run else "Cleanup finished."
        deleted = "Would delete" if self.dry_run else "Deleted"
        released = "to release" if self.dry_run else "released"
        return (
            f"{prefix} Expired processes: {self.expired_processes}, skipped as active: "
            f"{self.skipped_active}. {deleted}: {self.tasks} tasks, {self.artifacts} "
            f"artifacts, {self.logs} logs, {self.orphans} orphaned objects "
            f"({self.recent_orphans} younger than an hour kept). Old-layout keys: "
            f"{self.old_layout}. Logs assembled from pieces: {self.assembled_logs}. Tasks of "
            f"dead agents {released}: {self.released}. "
            f"Tasks kept: {self.kept_tasks}. Failures: {self.failures}."
        )


def expired_process_pages(now):
    """
    Pages of (id, state) of the expired processes, in id order.

    Candidates are the processes of expired tasks, read by a keyset on `process_id`: over the
    (process, expiry) index of tasks, all the pages together make one index-only pass, and
    nothing is held between pages. A second query keeps those without a live task.
    """
    candidates = (
        Task.objects.filter(expiry__lt=now)
        .order_by("process_id")
        .values_list("process_id", flat=True)
        .distinct()
    )
    has_live_tasks = Exists(Task.objects.filter(process_id=OuterRef("pk"), expiry__gte=now))
    last = None
    while True:
        page = candidates if last is None else candidates.filter(process_id__gt=last)
        ids = list(page[:PROCESS_PAGE])
        if ids:
            expired = Process.objects.filter(pk__in=ids).exclude(has_live_tasks).order_by("pk")
            yield list(expired.values_list("pk", "state"))
        if len(ids) < PROCESS_PAGE:
            return
        last = ids[-1]


def process_groups(process_ids, now):
    """
    (processes, number of expired tasks) in groups of at most TASK_BATCH expired tasks (a
    bigger process alone), so that small processes share their queries and a big one does
    not slow down the others.
    """
    sizes = dict(
        Task.objects.filter(process_id__in=process_ids, expiry__lt=now)
        .order_by()
        .values("process_id")
        .annotate(count=Count("pk"))
        .values_list("process_id", "count")
    )
    group, total = [], 0
    for process_id in process_ids:
        size = sizes.get(process_id, 0)
        if group and total + size > TASK_BATCH:
            yield group, total
            group, total = [], 0
        group.append(process_id)
        total += size
    if group:
        yield group, total


def expired_task_batches(process_ids, now, expected):
    """
    Ids of the expired tasks of some processes, by batches in id order, until the `expected`
    number was read (tasks expiring meanwhile are left for the next run).

    Only tasks past their expiry: a retry or a restart racing the cleanup adds fresh tasks,
    which stay. Active tasks stay too, should the stored process state lag behind them.
    """
    tasks = (
        Task.objects.filter(process_id__in=process_ids, expiry__lt=now)
        .exclude(state__in=ACTIVE_STATES)
        .order_by("pk")
    )
    last, read = None, 0
    while read < expected:
        page = tasks if last is None else tasks.filter(pk__gt=last)
        batch = list(page.values_list("pk", flat=True)[:TASK_BATCH])
        if batch:
            yield batch
        if len(batch) < TASK_BATCH:
            return
        last, read = batch[-1], read + len(batch)


def artifact_pages(task_ids):
    """(task id, path) of the artifacts of some tasks, by pages."""
    artifacts = Artifact.objects.filter(task_id__in=task_ids).order_by("pk")
    last = None
    while True:
        page = artifacts if last is None else artifacts.filter(pk__gt=last)
        rows = list(page.values_list("pk", "task_id", "path")[:ARTIFACT_PAGE])
        if rows:
            yield [(task_id, path) for _pk, task_id, path in rows]
        if len(rows) < ARTIFACT_PAGE:
            return
        last = rows[-1][0]


def delete_task_rows(task_ids) -> int:
    """
    Delete the rows of tasks whose objects are gone, in one short transaction; returns the
    number of tasks deleted.

    Raw DELETEs bounded by the batch: Task.delete() would collect the whole cascade in memory.
    Everything pointing at a task is handled here, as its on_delete says: parent links and
    artifacts go, `original_task` of restarts is cleared (SET_NULL).
    """
    parents = Task.parents.through
    links = Q(from_task_id__in=task_ids) | Q(to_task_id__in=task_ids)
    with transaction.atomic():
        # The processes first, locked in the writers' order (processes, then tasks), and
        # their revisions bumped: the tasks leave their RetrieveProcess bodies.
        lock_processes(Task.objects.filter(pk__in=task_ids).order_by().values("process_id"))
        parents.objects.filter(links)._raw_delete(parents.objects.db)
        Artifact.objects.filter(task_id__in=task_ids)._raw_delete(Artifact.objects.db)
        LogPiece.objects.filter(task_id__in=task_ids)._raw_delete(LogPiece.objects.db)
        Task.objects.filter(original_task_id__in=task_ids).exclude(pk__in=task_ids).update(
            original_task=None
        )
        return Task.objects.filter(pk__in=task_ids)._raw_delete(Task.objects.db)


class ExpiredTaskPurger:
    """
    Deletes the objects of expired tasks in full delete_many calls, then their rows.

    Keys of each bucket wait in a buffer, each with the task it belongs to, until the buffer
    holds a whole call. A task is *sealed* once all its keys entered the buffers; it is done
    when it is sealed and none of its keys waits any more. Done tasks whose keys were all
    deleted have their rows deleted by batches; the others keep them.

    Up to DELETE_CONCURRENCY calls run in a thread pool while this thread reads the next
    tasks and deletes the rows of done ones: the store's latency is not added to the
    database's. Their results are taken in the order they were sent, and only here: every
    counter and every row is handled by this thread alone. Only the keys of the buffers and
    of the calls in flight, and one batch of tasks, are ever held.
    """

    def __init__(self, storage: Storage, report: CleanupReport, dry_run: bool, progress, pool):
        self.storage = storage
        self.report = report
        self.dry_run = dry_run
        self.progress = progress
        self.pool = pool
        self.buffers = {bucket: [] for bucket in storage.buckets}
        # (future, bucket, [(key, task id)]) of the calls sent, oldest first
        self.in_flight = deque()
        # Keys of each task waiting in the buffers or in calls in flight
        self.waiting = Counter()
        self.sealed = set()
        # Tasks with a key that could not be deleted, until they are done
        self.failed = set()
        # Done tasks whose rows can go
        self.ready = []

    def add_tasks(self, task_ids) -> None:
        """Queue the log and artifact keys of a batch of tasks."""
        for task_id in task_ids:
            self.add_key(self.storage.logs_bucket, log_key(task_id), task_id)
        # Pieces of logs never assembled (pieces uploaded without a row are the sweep's)
        pieces = LogPiece.objects.filter(task_id__in=task_ids).order_by()
        for task_id, offset in pieces.values_list("task_id", "offset").iterator():
            self.add_key(self.storage.logs_bucket, log_piece_key(task_id, offset), task_id)
        for page in artifact_pages(task_ids):
            for task_id, path in page:
                self.add_key(self.storage.artifacts_bucket, artifact_key(task_id, path), task_id)
        for task_id in task_ids:
            if self.waiting[task_id]:
                self.sealed.add(task_id)
            else:
                self.done(task_id)

    def add_key(self, bucket: str, key: str, task_id) -> None:
        self.buffers[bucket].append((key, task_id))
        self.waiting[task_id] += 1
        if len(self.buffers[bucket]) >= DELETE_BATCH:
            self.flush_bucket(bucket)

    def flush_bucket(self, bucket: str) -> None:
        """Send one delete_many call for the keys waiting in a bucket's buffer."""
        entries = self.buffers[bucket]
        if not entries:
            return
        self.buffers[bucket] = []
        if self.dry_run:
            self.settle(bucket, entries, failed=set())
            return
        keys = [key for key, _task_id in entries]
        future = self.pool.submit(self.storage.delete_many, bucket, keys)
        self.in_flight.append((future, bucket, entries))
        if len(self.in_flight) >= DELETE_CONCURRENCY:
            self.collect()

    def collect(self) -> None:
        """
        Wait for the oldest call in flight and settle its keys. A StorageError is raised
        again here: the tasks of that call stay waiting, and keep their rows.
        """
        future, bucket, entries = self.in_flight.popleft()
        self.settle(bucket, entries, failed=set(future.result()))

    def settle(self, bucket: str, entries, failed: set) -> None:
        deleted = len(entries) - len(failed)
        if bucket == self.storage.logs_bucket:
            self.report.logs += deleted
        else:
            self.report.artifacts += deleted
        if failed:
            self.report.fail(
                f"{len(failed)} objects could not be deleted from {bucket} "
                f"(first: {sorted(failed)[0]}); their tasks are kept for the next run.",
                count=len(failed),
            )
        for key, task_id in entries:
            if key in failed:
                self.failed.add(task_id)
            self.waiting[task_id] -= 1
            if not self.waiting[task_id]:
                del self.waiting[task_id]
                if task_id in self.sealed:
                    self.sealed.discard(task_id)
                    self.done(task_id)

    def done(self, task_id) -> None:
        if task_id in self.failed:
            self.failed.discard(task_id)
            self.report.kept_tasks += 1
            return
        self.ready.append(task_id)
        if len(self.ready) >= TASK_BATCH:
            self.delete_ready_rows()

    def delete_ready_rows(self) -> None:
        if not self.ready:
            return
        before = self.report.tasks
        if self.dry_run:
            self.report.tasks += len(self.ready)
        else:
            self.report.tasks += delete_task_rows(self.ready)
        self.ready = []
        if before // PROGRESS_EVERY != self.report.tasks // PROGRESS_EVERY:
            self.progress(f"{self.report.tasks} expired tasks deleted so far…")

    def finish(self) -> None:
        """Send the keys still waiting, wait for every call, delete the rows of done tasks."""
        for bucket in self.buffers:
            self.flush_bucket(bucket)
        while self.in_flight:
            self.collect()
        self.delete_ready_rows()

    def abandon(self) -> None:
        """
        After a storage error: settle the calls still in flight, delete the rows of the tasks
        whose objects are gone, and keep every other task.
        """
        while self.in_flight:
            try:
                self.collect()
            except StorageError as e:
                self.report.fail(f"Another deletion failed: {e}")
        self.delete_ready_rows()
        self.report.kept_tasks += len(set(self.waiting) | self.sealed)


def purge_expired_processes(storage, now, report, dry_run, progress) -> None:
    with ThreadPoolExecutor(DELETE_CONCURRENCY, thread_name_prefix="cleanup") as pool:
        purger = ExpiredTaskPurger(storage, report, dry_run, progress, pool)
        try:
            for page in expired_process_pages(now):
                eligible = []
                for process_id, state in page:
                    if state in ACTIVE_STATES:
                        # Its agents may still upload logs and artifacts: left for a later run
                        report.skipped_active += 1
                        progress(f"Process {process_id} expired but is {state}: skipped.")
                    else:
                        eligible.append(process_id)
                report.expired_processes += len(eligible)
                for group, expected in process_groups(eligible, now):
                    for batch in expired_task_batches(group, now, expected):
                        purger.add_tasks(batch)
            purger.finish()
        except StorageError as e:
            report.fail(f"Stopped deleting expired tasks on a storage error: {e}")
            purger.abandon()


def delete_orphans(storage, bucket, keys, report, dry_run) -> None:
    if not keys:
        return
    failed = [] if dry_run else storage.delete_many(bucket, keys)
    report.orphans += len(keys) - len(failed)
    if failed:
        report.fail(
            f"{len(failed)} orphaned objects could not be deleted from {bucket} "
            f"(first: {failed[0]}).",
            count=len(failed),
        )


def sweep_orphans(storage, now, report, dry_run, progress) -> None:
    """
    Delete new-layout objects whose task no longer exists and older than ORPHAN_MIN_AGE.

    Old-layout keys are counted and never swept: they are the objects of existing tasks until
    `migrate_ponos_storage` renames them. An artifact key ``<uuid>/<uuid>/<path>`` whose first
    segment is not a task could be either an old key or the orphan of a task whose path began
    with a UUID folder; it is never swept (see `ponos.storage_migration`).
    """
    cutoff = now - ORPHAN_MIN_AGE
    for bucket in storage.buckets:
        progress(f"Sweeping orphaned objects of {bucket}…")
        doomed = []
        try:
            for item in classified_objects(storage, bucket):
                if item.layout == Layout.OLD:
                    report.old_layout += 1
                elif item.layout == Layout.NEW and not item.task_exists:
                    if item.info.last_modified < cutoff:
                        doomed.append(item.key)
                    else:
                        report.recent_orphans += 1
                if len(doomed) >= DELETE_BATCH:
                    delete_orphans(storage, bucket, doomed, report, dry_run)
                    doomed = []
            delete_orphans(storage, bucket, doomed, report, dry_run)
        except StorageError as e:
            report.fail(f"Stopped sweeping {bucket} on a storage error: {e}")


def assemble_leftover_logs(storage, report, dry_run, progress) -> None:
    """Assemble the logs of finished tasks that still have pieces (their job failed, or the
    queue lost it), so that the failures people most need to read keep their log."""
    task_ids = list(tasks_with_pieces_left())
    if task_ids:
        progress(f"Assembling the logs of {len(task_ids)} finished tasks left in pieces…")
    for task_id in task_ids:
        if dry_run:
            report.assembled_logs += 1
            continue
        try:
            if assemble_log(task_id, storage):
                report.assembled_logs += 1
        except StorageError as e:
            report.fail(f"Could not assemble the log of task {task_id}: {e}")


def count_dead_agent_tasks(now) -> int:
    """What `release_dead_agents(now)` would release, for a dry run that changes nothing."""
    cutoff = now - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT)
    return (
        Task.objects.filter(state__in=ACTIVE_STATES, agent__isnull=False)
        .filter(Q(agent__last_ping__lt=cutoff) | Q(agent__last_ping__isnull=True))
        .count()
    )


def cleanup(
    *,
    storage: Storage | None = None,
    now=None,
    dry_run: bool = False,
    progress: Callable[[str], None] = no_progress,
) -> CleanupReport:
    """Run the phases; failures are reported, never raised, so that every phase runs."""
    now = now or timezone.now()
    storage = storage or get_storage()
    report = CleanupReport(dry_run=dry_run)
    progress("Deleting the tasks of expired processes…")
    purge_expired_processes(storage, now, report, dry_run, progress)
    sweep_orphans(storage, now, report, dry_run, progress)
    assemble_leftover_logs(storage, report, dry_run, progress)
    if dry_run:
        report.released = count_dead_agent_tasks(now)
    else:
        report.released = release_dead_agents(now)
    return report
