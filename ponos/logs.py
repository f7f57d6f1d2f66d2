"""Logs of tasks (SPEC §11): the pieces agents send while a task runs, the tail readers see,
who is watching, and the assembly of the pieces into `<task id>.log` once the task ends.

The holding agent sends only the bytes written since its last piece: it asks
`CreateLogPiece` for a signed PUT URL of `<task id>.log.d/<offset>` bound to the piece's
size, then uploads. While the task runs, its tail is read from its last pieces (a bounded
number of storage reads, found through their rows). When the task ends (the agent's final
report, or the dead-agent rule), a background job concatenates the pieces into
`<task id>.log`, as the whole log was stored before, and deletes them.

Readers of a running task (users, not the task itself) mark it *watched* in the shared cache
for PONOS_LOG_WATCH_SECONDS; each poll of its agent names its watched tasks, whose logs the
agent then sends every few seconds instead of every minute or so. Nothing of this is stored
on task rows, whose `updated` shows in bodies and ETags.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from redis.exceptions import RedisError

from arkindex.api.errors import validation_error
from ponos.models import ACTIVE_STATES, LogPiece, State, Task
from ponos.storage import (
    Segment,
    StorageError,
    get_storage,
    log_key,
    log_piece_key,
    log_piece_prefix,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain"
# Beyond PONOS_LOG_MAX_SIZE, room for the line an agent writes where it cut the log
SLACK = 64 * 1024
# Pieces read, from the last one back, to fill the tail of a running task
MAX_TAIL_READS = 8
WATCH_KEY = "ponos:log-watched:{}"
# Written where pieces are missing (an agent that died during an upload)
GAP_LINE = "[ponos] {} bytes of this log were lost here\n"


def max_log_size():
    """The most bytes a log may hold: PONOS_LOG_MAX_SIZE and the slack for the cut line."""
    return settings.PONOS_LOG_MAX_SIZE + SLACK


# Pieces


def declare_piece(task, offset, size):
    """Record a piece the holding agent is about to upload; returns its signed PUT URL.

    Refused (400) once the task is finished, and for bytes beyond the bound.
    """
    if task.state not in ACTIVE_STATES:
        raise validation_error(
            "state",
            f"This task is {task.state}: its log can no longer change.",
            code="task_finished",
        )
    end = offset + size
    if end > max_log_size():
        raise validation_error(
            "size",
            f"A log holds at most {settings.PONOS_LOG_MAX_SIZE} bytes (PONOS_LOG_MAX_SIZE), "
            f"plus {SLACK} for the line saying what was cut; this piece would end at byte "
            f"{end}. Keep the head and the tail of the log.",
            code="log_too_large",
        )
    try:
        with transaction.atomic():
            LogPiece.objects.update_or_create(task=task, offset=offset, defaults={"size": size})
    except IntegrityError:
        # The same piece asked for twice at once (a retried request): the other one won
        LogPiece.objects.filter(task=task, offset=offset).update(size=size)
    return get_storage().presigned_put(
        settings.PONOS_LOGS_BUCKET, log_piece_key(task.pk, offset), CONTENT_TYPE, size
    )


def piece_upload_refusal(key):
    """Why the local backend refuses an upload to the logs bucket, or None: the pieces of
    a finished task do not change any more (signed URLs outlive their task)."""
    from ponos.storage_migration import NEW_LOG_PIECE

    match = NEW_LOG_PIECE.fullmatch(key)
    if match is None:
        return None
    state = Task.objects.filter(pk=match["task"]).values_list("state", flat=True).first()
    if state in ACTIVE_STATES:
        return None
    return f"This task is {state or 'gone'}: its log can no longer change."


# Tail


def _decode(data):
    # The tail may start in the middle of a multi-byte character: replaced, not an error.
    return data.decode("utf-8", errors="replace")


def pieces_tail(storage, task_id, nbytes):
    """The last `nbytes` bytes sent as pieces: one query, at most MAX_TAIL_READS reads.

    A piece whose upload has not arrived (yet) is skipped.
    """
    rows = (
        LogPiece.objects.filter(task_id=task_id)
        .order_by("-offset")
        .values_list("offset", "size")[:MAX_TAIL_READS]
    )
    chunks, needed = [], nbytes
    for offset, size in rows:
        if needed <= 0:
            break
        data = storage.read_tail(
            settings.PONOS_LOGS_BUCKET, log_piece_key(task_id, offset), min(needed, size)
        )
        if data is None:
            continue
        chunks.append(data)
        needed -= len(data)
    return b"".join(reversed(chunks))


def may_have_log(task):
    """Whether a log may exist: only agents upload logs, once they hold the task."""
    return task.agent_id is not None or task.started is not None


def log_tail(task):
    """(text of the last PONOS_LOG_TAIL bytes, whether `<task id>.log` exists, or None if
    unknown).

    A finished task reads its log object, in one ranged read; an active one, or a finished
    one whose pieces are not assembled yet, reads its pieces. An unreachable storage gives an
    empty text, never an error: the task's details matter more than its log.
    """
    nbytes = settings.PONOS_LOG_TAIL
    if not may_have_log(task) or nbytes < 1:
        return "", None
    storage = get_storage()
    bucket = settings.PONOS_LOGS_BUCKET
    try:
        if task.state not in ACTIVE_STATES:
            tail = storage.read_tail(bucket, log_key(task.pk), nbytes)
            if tail is not None:
                return _decode(tail), True
            return _decode(pieces_tail(storage, task.pk, nbytes)), False
        tail = pieces_tail(storage, task.pk, nbytes)
        if tail:
            return _decode(tail), False
        # An agent of the previous protocol uploads the whole log again and again
        tail = storage.read_tail(bucket, log_key(task.pk), nbytes)
    except StorageError as e:
        logger.warning("Could not read the log of task %s: %s", task.pk, e)
        return "", None
    if tail is None:
        return "", False
    return _decode(tail), True


# Watching


def mark_watched(task):
    """A person reads this task: while it runs, its agent sends its log every few seconds."""
    if task.state != State.RUNNING:
        return
    try:
        cache.set(WATCH_KEY.format(task.pk), 1, settings.PONOS_LOG_WATCH_SECONDS)
    except (RedisError, OSError) as e:
        # The log is then only sent at the slower pace: never a failed read for that
        logger.warning("Could not mark task %s as watched: %s", task.pk, e)


def watched_tasks(task_ids):
    """The ids among `task_ids` that someone watches, in one cache call."""
    if not task_ids:
        return []
    keys = {WATCH_KEY.format(task_id): task_id for task_id in task_ids}
    try:
        found = cache.get_many(list(keys))
    except (RedisError, OSError) as e:
        logger.warning("Could not read which tasks are watched: %s", e)
        return []
    return [task_id for key, task_id in keys.items() if key in found]


# Assembly


def piece_offset(key):
    return int(key.rsplit("/", 1)[1])


def assembly_plan(pieces):
    """Segments concatenating listed pieces (in key order, which is offset order): bytes
    sent twice are taken once, and a line marks bytes that never arrived."""
    segments, position = [], 0
    for info in pieces:
        offset = piece_offset(info.key)
        if offset > position:
            segments.append(Segment(data=GAP_LINE.format(offset - position).encode()))
            position = offset
        skip = position - offset
        if skip >= info.size:
            continue
        segments.append(Segment(info.key, skip, info.size - skip))
        position = offset + info.size
    return segments


def assemble_log(task_id, storage=None):
    """Concatenate the pieces of a finished task into `<task id>.log`, then delete them.

    The task's LogPiece rows are the claim on its pieces: they are locked while the log is
    written and deleted in the same transaction, so two assemblers of the same log (the
    task's job and cleanup, on different nodes) run one after the other, and the second finds
    nothing left to do. The pieces are deleted only once the log is written and its rows are
    gone: an interrupted assembly is done again from every piece, never from what a
    half-done deletion left. Returns the number of pieces assembled (0 when there were none,
    or the task is still active).
    """
    pieces_recorded = Exists(LogPiece.objects.filter(task_id=OuterRef("pk")))
    row = (
        Task.objects.filter(pk=task_id)
        .annotate(pieces_recorded=pieces_recorded)
        .values_list("state", "pieces_recorded")
        .first()
    )
    # A task still running keeps sending; a deleted one's pieces are the sweep's. Without
    # rows there are no pieces (a row is written before its URL is signed): no storage call,
    # which keeps the final report of an agent of the previous protocol as cheap as before.
    if row is None or row[0] in ACTIVE_STATES or not row[1]:
        return 0
    storage = storage or get_storage()
    bucket = settings.PONOS_LOGS_BUCKET
    with transaction.atomic():
        claimed = LogPiece.objects.select_for_update().filter(task_id=task_id).order_by("offset")
        if not list(claimed.values_list("pk", flat=True)):
            # Assembled by another while this one waited for the rows
            return 0
        pieces = list(storage.list_objects(bucket, log_piece_prefix(task_id)))
        if pieces:
            storage.concatenate(bucket, assembly_plan(pieces), log_key(task_id), CONTENT_TYPE)
        LogPiece.objects.filter(task_id=task_id).delete()
    failed = storage.delete_many(bucket, [info.key for info in pieces]) if pieces else []
    if failed:
        raise StorageError(
            f"{len(failed)} pieces of the log of task {task_id} could not be deleted after its "
            "assembly: the orphan sweep deletes them once the task is gone."
        )
    return len(pieces)


def assemble_logs(task_ids):
    """Background job: assemble the logs of tasks that just ended.

    A failure is logged; cleanup assembles whatever pieces of finished tasks are left.
    """
    for task_id in task_ids:
        try:
            assemble_log(task_id)
        except StorageError as e:
            logger.warning(
                "Could not assemble the log of task %s (cleanup tries again while its pieces "
                "are recorded): %s",
                task_id,
                e,
            )


def tasks_with_pieces_left():
    """Finished tasks that still have pieces: their assembly failed or never ran."""
    return (
        LogPiece.objects.exclude(task__state__in=ACTIVE_STATES)
        .order_by("task_id")
        .values_list("task_id", flat=True)
        .distinct()
    )
