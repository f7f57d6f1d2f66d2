"""Worker activities (SPEC §11): one per selected element and worker run of a process.

States: `queued` → `started` (StartWorkerActivity, by the run's task of the same chunk) →
`processed` | `error` (UpdateWorkerActivity, by the worker). A task entering a final state
turns the activities it left `started` to `error` (a hook registered with `ponos.states`);
a retry queues again every activity not `processed` and shares their elements out among
the chunks again; a RestartTask queues again those of its run and chunk, and a chunk left
with nothing takes its share of the run's queued elements from the other chunks.

Activities are created and shared out in SQL (`INSERT … SELECT`, `UPDATE … FROM`), never
loaded: a process over a million elements costs the database, not the web or job memory.
"""

import uuid

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from ponos.models import Task
from process.models import Process, WorkerActivity, WorkerActivityState, WorkerRun
from process.selection import selected_elements

QUEUED = WorkerActivityState.QUEUED
STARTED = WorkerActivityState.STARTED
PROCESSED = WorkerActivityState.PROCESSED
ERROR = WorkerActivityState.ERROR

# What a worker may report, from each state; the same state again is a repeat (a 200).
TRANSITIONS = {
    QUEUED: {STARTED},
    STARTED: {PROCESSED, ERROR},
}


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _q(name):
    return connection.ops.quote_name(name)


def _table():
    return _q(WorkerActivity._meta.db_table)


def _db_uuid(model, value):
    return model._meta.pk.get_db_prep_value(value, connection)


def _db_now(now):
    return connection.ops.adapt_datetimefield_value(now)


# Chunk of each selected element: its rank by id, dealt out like cards (1, 2, …, n, 1, …),
# the same for every worker run since the order is the element's. `WHERE true` lifts
# SQLite's parsing ambiguity of `INSERT … SELECT … ON CONFLICT`; the conflict clause makes
# the job idempotent (a second run, or a retry adding a new worker run, inserts only what
# is missing).
INSERT_SQL = """
INSERT INTO {table} (process_id, worker_run_id, element_id, state, chunk, created, updated)
SELECT %s, %s, selected.id, 'queued',
       ((ROW_NUMBER() OVER (ORDER BY selected.id)) - 1) %% %s + 1, %s, %s
FROM ({selection}) selected
WHERE true
ON CONFLICT (worker_run_id, element_id) DO NOTHING
"""

# Every activity not processed is queued again, and the elements that have one are dealt
# out anew among the chunks. All the activities of one element get the same chunk (chunk k
# of a child worker run only meets elements that chunk k of its parents had). Elements are
# dealt by what still needs them: those that more runs need first (in a chain of runs,
# those that the first run failed on), grouped by the runs that need them; dealing goes
# round the chunks without restarting, so any group of at least as many elements as chunks
# puts work in every chunk, and no run's task starts on an empty chunk.
REQUEUE_SQL = """
UPDATE {table} SET state = 'queued', chunk = reshared.chunk, updated = %s
FROM (
    SELECT todo.element_id,
           ((ROW_NUMBER() OVER (
               ORDER BY todo.needs DESC, todo.first_run, todo.last_run, todo.element_id
           )) - 1) %% %s + 1 AS chunk
    FROM (
        SELECT element_id, COUNT(*) AS needs, MIN(CAST(worker_run_id AS text)) AS first_run,
               MAX(CAST(worker_run_id AS text)) AS last_run
        FROM {table} WHERE process_id = %s AND state <> 'processed'
        GROUP BY element_id
    ) todo
) reshared
WHERE {table}.process_id = %s
  AND {table}.element_id = reshared.element_id
  AND {table}.state <> 'processed'
"""


def insert_activities(process, worker_run_ids, now):
    """Queue an activity per selected element for each worker run (one statement each)."""
    selection_sql, selection_params = (
        selected_elements(process).values("id").query.sql_with_params()
    )
    sql = INSERT_SQL.format(table=_table(), selection=selection_sql)
    with connection.cursor() as cursor:
        for worker_run_id in worker_run_ids:
            cursor.execute(
                sql,
                [
                    _db_uuid(Process, process.pk),
                    _db_uuid(WorkerRun, worker_run_id),
                    process.chunks,
                    _db_now(now),
                    _db_now(now),
                    *selection_params,
                ],
            )


def requeue_activities(process, now):
    """Queue again every activity of the process not processed, shared out anew."""
    process_id = _db_uuid(Process, process.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            REQUEUE_SQL.format(table=_table()),
            [_db_now(now), process.chunks, process_id, process_id],
        )
        return cursor.rowcount


# One statement claims: the subquery picks the oldest queued activity of the run's chunk
# through activity_queue. On PostgreSQL it locks it and skips rows other claimers hold
# (FOR UPDATE SKIP LOCKED), so concurrent claims take different rows without waiting: a
# row that another claim changed since the statement began is checked again before it is
# locked (and skipped if no longer queued), and once locked it stays queued until this
# statement commits. The outer UPDATE then finds the row by its primary key alone.
#
# It must not repeat `state = 'queued'`: that condition makes the partial index
# activity_queue usable for the outer `id = …` lookup, where `id` is its last column, and
# when the statistics say few activities are queued (right after a start or a retry queued
# a million of them, before autovacuum analyzes the table) the planner picks it and reads
# the whole index for each claim: 65 ms at a million activities instead of 0.1 ms.
#
# SQLite has no row locks and runs one writing statement at a time: there the outer
# condition on the state is what makes the UPDATE change nothing if the row was claimed
# in between (SQLite looks the row up by its rowid whatever the other conditions).
CLAIM_SQL = """
UPDATE {table} SET state = 'started', updated = %s
WHERE id = (
    SELECT id FROM {table}
    WHERE worker_run_id = %s AND chunk = %s AND state = 'queued'
    ORDER BY id LIMIT 1 {lock}
){recheck}
RETURNING element_id
"""


def claim_sql():
    """The claiming statement of this database (parameters: now, worker run id, chunk)."""
    if connection.features.has_select_for_update_skip_locked:
        return CLAIM_SQL.format(table=_table(), lock="FOR UPDATE SKIP LOCKED", recheck="")
    return CLAIM_SQL.format(table=_table(), lock="", recheck=" AND state = 'queued'")


def claim_activity(task, now=None):
    """The next queued activity of the task's worker run and chunk, now `started`: its
    element id, or None when none is left (or every one left is being claimed)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            claim_sql(),
            [_db_now(now), _db_uuid(WorkerRun, task.worker_run_id), task.chunk or 1],
        )
        row = cursor.fetchone()
    return None if row is None else uuid.UUID(str(row[0]))


def report_activity(worker_run_id, element_id, state, now=None):
    """A worker's report on one element: a repeat is a no-op, a forbidden change a 409.

    One conditional UPDATE in the usual case; the activity is read only when it did not
    apply, to tell a repeat from a conflict or an unknown element.
    """
    now = now or timezone.now()
    sources = [source for source, targets in TRANSITIONS.items() if state in targets]
    activity = WorkerActivity.objects.filter(worker_run_id=worker_run_id, element_id=element_id)
    if activity.filter(state__in=sources).update(state=state, updated=now) == 1:
        return state
    current = activity.values_list("state", flat=True).first()
    if current is None:
        return None
    if current == state:
        return state
    allowed = sorted(TRANSITIONS.get(current, ()))
    raise Conflict(
        f"This element's activity is {current}: it can go to {', '.join(allowed)}, not {state}."
        if allowed
        else f"This element's activity is {current}: it cannot change any more (asked: {state})."
    )


def error_started_activities(task_ids, now):
    """Finished hook: the activities that the finished tasks left `started` become `error`
    (one statement; tasks without a worker run match nothing)."""
    tasks = Task.objects.filter(pk__in=task_ids, worker_run__isnull=False).order_by()
    same_chunk = tasks.annotate(chunk_or_one=Coalesce("chunk", Value(1))).filter(
        worker_run_id=OuterRef("worker_run_id"), chunk_or_one=OuterRef("chunk")
    )
    # The process and worker run narrow the update to activity_counts' range of the
    # started activities of these runs, whatever the number of their other activities.
    WorkerActivity.objects.filter(
        process_id__in=tasks.values("process_id"),
        worker_run_id__in=tasks.values("worker_run_id"),
        state=STARTED,
    ).filter(Exists(same_chunk)).update(state=ERROR, updated=now)


def requeue_restarted_chunk(task, now):
    """Restarted hook: the new task's run and chunk get their unprocessed elements back. A
    chunk left with none (its elements all processed) takes its share of what the run's other
    chunks still have queued, so that the new task does not start empty while the run has
    elements left (base-worker exits 1 when its first claim finds nothing)."""
    if task.worker_run_id is None:
        return
    chunk = task.chunk or 1
    requeued = WorkerActivity.objects.filter(
        worker_run_id=task.worker_run_id, chunk=chunk, state__in=[STARTED, ERROR]
    ).update(state=QUEUED, updated=now)
    left = WorkerActivity.objects.filter(
        worker_run_id=task.worker_run_id, chunk=chunk, state=QUEUED
    )
    if not requeued and not left.exists():
        _take_share(task, chunk, now)


def _take_share(task, chunk, now):
    """Move to `chunk` a share of the run's queued elements of other chunks.

    Chunk k of every run holds the same elements, so that a run meets an element only after
    its parent runs processed it. Only elements that every parent run already processed move
    (the restarted task may claim them at once), and they move with their activities in the
    runs after this one, which must all still be queued: those runs' tasks of `chunk` wait for
    the restarted task. The moved activities are locked first (SKIP LOCKED on PostgreSQL), so
    a claim running meanwhile in another chunk keeps the ones it takes.
    """
    run_id = task.worker_run_id
    edges = list(
        WorkerRun.parents.through.objects.filter(
            from_workerrun__process_id=task.process_id
        ).values_list("from_workerrun_id", "to_workerrun_id")
    )
    parents = [parent for child, parent in edges if child == run_id]
    after, frontier = set(), {run_id}
    while frontier:
        frontier = {child for child, parent in edges if parent in frontier} - after
        after |= frontier
    chunks = Process.objects.filter(pk=task.process_id).values_list("chunks", flat=True).first()
    queued = WorkerActivity.objects.filter(
        process_id=task.process_id, worker_run_id=run_id, state=QUEUED
    )
    share = queued.count() // max(chunks or 1, 1)
    candidates = queued.exclude(chunk=chunk)
    for parent in parents:
        processed = WorkerActivity.objects.filter(
            worker_run_id=parent, element_id=OuterRef("element_id"), state=PROCESSED
        )
        candidates = candidates.filter(Exists(processed))
    if after:
        not_queued = WorkerActivity.objects.filter(
            worker_run_id__in=after, element_id=OuterRef("element_id")
        ).exclude(state=QUEUED)
        candidates = candidates.exclude(Exists(not_queued))
    moved = list(
        candidates.order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("id", "element_id")[: max(share, 1)]
    )
    if not moved:
        return
    WorkerActivity.objects.filter(pk__in=[pk for pk, _element in moved]).update(
        chunk=chunk, updated=now
    )
    if after:
        WorkerActivity.objects.filter(
            worker_run_id__in=after, element_id__in=[element for _pk, element in moved]
        ).update(chunk=chunk, updated=now)


def activity_counts(process_id):
    """{worker run id: {state: count}} of a process, from activity_counts alone."""
    counts = {}
    rows = (
        WorkerActivity.objects.filter(process_id=process_id)
        .order_by()
        .values_list("worker_run_id", "state")
        .annotate(count=Count("id"))
    )
    for worker_run_id, state, count in rows:
        counts.setdefault(worker_run_id, {})[state] = count
    return counts
