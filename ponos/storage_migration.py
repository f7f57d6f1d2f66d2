"""
The two layouts of Ponos objects, and the migration from the old one to the new one.

Before processes owned their tasks directly, objects were stored under their workflow:

    artifacts  <workflow id>/<task id>/<path>        now  <task id>/<path>
    logs       <workflow id>/run_<n>/<task id>.log   now  <task id>.log

The pieces of the log of a running task, `<task id>.log.d/<offset>`, exist only in the new
layout: they belong to their task like its log, and the migration leaves them alone.

An artifact key ``<uuid>/<uuid>/<path>`` is ambiguous: it is the new key of an artifact whose
path starts with a UUID folder, or an old key. The first segment decides (SPEC §8): when it is
an existing task, the key is new; otherwise it is old. Telling them apart therefore needs the
database, which :func:`classified_objects` asks once per page of listed keys.

:func:`migrate_storage` copies every old key to its new name, checks the copy's size, then
deletes the old key. It never overwrites a destination of another size: that object belongs
to someone else, and the operator has to look at it.

The rule cannot tell an old key from the orphan of a deleted task whose artifact path began
with a UUID folder (``<deleted task>/<uuid>/<rest>``). Both are treated as old, the safe side:
cleanup's sweep never deletes them, and the migration renames them. Such an orphan becomes
``<uuid>/<rest>``; when no task has that id, it is a new-layout orphan that the sweep then
deletes, and a later migration may rename it once more before that. Keys of existing tasks
are never affected.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ponos.models import Task
from ponos.reports import OperationReport
from ponos.storage import ObjectInfo, Storage, StorageError, artifact_key, get_storage, log_key
from ponos.storage.base import PIECE_OFFSET_DIGITS

# Keys are written with str(uuid): lowercase and hyphenated. Any other spelling was not written
# by Ponos, and is left alone by the migration and by cleanup's sweep.
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NEW_LOG = re.compile(rf"(?P<task>{UUID})\.log")
# A piece of the log of a running task (`ponos.logs`): new layout, its task comes first
NEW_LOG_PIECE = re.compile(rf"(?P<task>{UUID})\.log\.d/[0-9]{{{PIECE_OFFSET_DIGITS}}}")
OLD_LOG = re.compile(rf"(?P<workflow>{UUID})/run_(?P<run>[0-9]+)/(?P<task>{UUID})\.log")
# DOTALL: an artifact path may hold any character S3 accepts, newlines included
NEW_ARTIFACT = re.compile(rf"(?P<task>{UUID})/(?P<path>.+)", re.DOTALL)
AMBIGUOUS_ARTIFACT = re.compile(rf"(?P<first>{UUID})/(?P<task>{UUID})/(?P<path>.+)", re.DOTALL)

# Listed keys are classified by pages of this size: one database query per page
PAGE_SIZE = 1000


class Layout:
    NEW = "new"
    OLD = "old"
    # Not written by Ponos: left alone
    OTHER = "other"


# An artifact key of both shapes, until the database tells whether its first segment is a task
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class ClassifiedObject:
    """A listed object, with the layout its key belongs to."""

    info: ObjectInfo
    layout: str
    # The task the key belongs to: the first segment of a new key, the task of an old key
    task_id: str | None = None
    # New layout: whether that task exists. Old layout: the key to migrate the object to.
    task_exists: bool = False
    destination: str | None = None

    @property
    def key(self) -> str:
        return self.info.key


@dataclass(frozen=True)
class ParsedKey:
    """What the shape of a key tells, before the database is asked."""

    layout: str
    # The first segment of a new or ambiguous artifact key, or of a new log key: a task id if
    # the key is new
    first: str | None = None
    # The task of the key if it is old, and its key in the new layout
    old_task: str | None = None
    destination: str | None = None


def parse_log_key(key: str) -> ParsedKey:
    if match := NEW_LOG.fullmatch(key) or NEW_LOG_PIECE.fullmatch(key):
        return ParsedKey(Layout.NEW, first=match["task"])
    if match := OLD_LOG.fullmatch(key):
        # Unambiguous: no new key has a folder
        return ParsedKey(Layout.OLD, old_task=match["task"], destination=log_key(match["task"]))
    return ParsedKey(Layout.OTHER)


def parse_artifact_key(key: str) -> ParsedKey:
    if match := AMBIGUOUS_ARTIFACT.fullmatch(key):
        return ParsedKey(
            AMBIGUOUS,
            first=match["first"],
            old_task=match["task"],
            destination=artifact_key(match["task"], match["path"]),
        )
    if match := NEW_ARTIFACT.fullmatch(key):
        return ParsedKey(Layout.NEW, first=match["task"])
    return ParsedKey(Layout.OTHER)


def existing_task_ids(task_ids) -> set[str]:
    """The ids among `task_ids` that are tasks in the database, in one query."""
    if not task_ids:
        return set()
    found = Task.objects.filter(pk__in=list(task_ids)).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def classify(info: ObjectInfo, parsed: ParsedKey, existing: set[str]) -> ClassifiedObject:
    """The layout of a key, knowing which of the task ids it may hold exist."""
    if parsed.layout == AMBIGUOUS and parsed.first not in existing:
        return ClassifiedObject(
            info, Layout.OLD, task_id=parsed.old_task, destination=parsed.destination
        )
    if parsed.layout in (AMBIGUOUS, Layout.NEW):
        return ClassifiedObject(
            info, Layout.NEW, task_id=parsed.first, task_exists=parsed.first in existing
        )
    if parsed.layout == Layout.OLD:
        return ClassifiedObject(
            info, Layout.OLD, task_id=parsed.old_task, destination=parsed.destination
        )
    return ClassifiedObject(info, Layout.OTHER)


def classify_page(parse: Callable, infos: list[ObjectInfo]) -> list[ClassifiedObject]:
    """Classify a page of listed objects of one bucket, with one query for the whole page."""
    parsed = [parse(info.key) for info in infos]
    existing = existing_task_ids({key.first for key in parsed if key.first})
    return [classify(info, key, existing) for info, key in zip(infos, parsed, strict=True)]


def classified_objects(storage: Storage, bucket: str) -> Iterator[ClassifiedObject]:
    """
    Every object of a Ponos bucket with its layout, listed lazily: at most one page of keys
    is held at a time, whatever the size of the bucket.
    """
    parse = parse_log_key if bucket == storage.logs_bucket else parse_artifact_key
    page = []
    for info in storage.list_objects(bucket):
        page.append(info)
        if len(page) >= PAGE_SIZE:
            yield from classify_page(parse, page)
            page = []
    if page:
        yield from classify_page(parse, page)


@dataclass
class MigrationReport(OperationReport):
    scanned: int = 0
    old_keys: int = 0
    copied: int = 0
    # Destinations found with the source's size (an earlier, interrupted run copied them)
    already_copied: int = 0
    deleted: int = 0
    # Destinations of another size: never overwritten, both objects kept
    conflicts: int = 0

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        return (
            f"{'Dry run, nothing changed: ' if self.dry_run else 'Migration finished: '}"
            f"{self.scanned} keys scanned, {self.old_keys} in the old layout; {self.copied} "
            f"{verb} copied, {self.already_copied} already had their copy; {self.deleted} old "
            f"keys {verb} deleted; {self.conflicts} conflicts; {self.failures} failures."
        )


def migrate_object(storage: Storage, bucket: str, item: ClassifiedObject, report, dry_run):
    """
    Copy one old object to its new key and check the copy. Returns True when the old key can
    be deleted; conflicts and bad copies are reported and keep the old object.
    """
    existing = storage.head(bucket, item.destination)
    if existing is not None:
        if existing.size == item.info.size:
            report.already_copied += 1
            return True
        report.conflicts += 1
        report.fail(
            f"{bucket}/{item.destination} already exists with {existing.size} bytes, not "
            f"{item.info.size} like {item.key}: both are kept, delete the wrong one."
        )
        return False
    report.copied += 1
    if dry_run:
        return True
    storage.copy(bucket, item.key, item.destination)
    copy = storage.head(bucket, item.destination)
    if copy is None or copy.size != item.info.size:
        report.fail(
            f"The copy of {bucket}/{item.key} to {item.destination} does not have its size; "
            "the old key is kept."
        )
        return False
    return True


def delete_sources(storage: Storage, bucket: str, keys: list[str], report, dry_run) -> None:
    if not keys:
        return
    failed = [] if dry_run else storage.delete_many(bucket, keys)
    report.deleted += len(keys) - len(failed)
    if failed:
        report.fail(
            f"{len(failed)} old keys could not be deleted from {bucket} (first: {failed[0]}); "
            "their copies are done, the next run deletes them.",
            count=len(failed),
        )


def migrate_bucket(storage, bucket, report, dry_run, progress) -> None:
    # Old keys whose copy was checked, deleted together (one request per page)
    done = []
    for item in classified_objects(storage, bucket):
        report.scanned += 1
        if report.scanned % 10_000 == 0:
            progress(f"{bucket}: {report.scanned} keys scanned, {report.old_keys} old so far")
        if item.layout != Layout.OLD:
            continue
        report.old_keys += 1
        if migrate_object(storage, bucket, item, report, dry_run):
            done.append(item.key)
        if len(done) >= PAGE_SIZE:
            delete_sources(storage, bucket, done, report, dry_run)
            done = []
    delete_sources(storage, bucket, done, report, dry_run)


def migrate_storage(
    storage: Storage | None = None,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> MigrationReport:
    """
    Rename every old-layout key of both buckets to the new layout: copy, check, delete.

    Safe to interrupt and to run again: a copy already made is recognized by its size, and
    the old key goes only once its copy is checked. A storage error stops the run and is
    reported; whatever was done is kept.
    """
    storage = storage or get_storage()
    report = MigrationReport(dry_run=dry_run)
    for bucket in storage.buckets:
        progress(f"Scanning {bucket}…")
        try:
            migrate_bucket(storage, bucket, report, dry_run, progress)
        except StorageError as e:
            report.fail(f"Stopped on a storage error: {e}")
            break
    return report
