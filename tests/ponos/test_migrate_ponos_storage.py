"""manage.py migrate_ponos_storage: old-layout keys renamed to the new layout, on both backends."""

import io
import uuid
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ponos.storage_migration import migrate_storage
from tests.factories import TaskFactory
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET
from tests.process import cleanup_fixtures
from tests.process.cleanup_fixtures import closed_port_endpoint, stored_keys, use_s3_storage

pytestmark = pytest.mark.django_db

# Storage fixtures of this module
app_storage = cleanup_fixtures.app_storage
local_app_storage = cleanup_fixtures.local_app_storage
s3_app_storage = cleanup_fixtures.s3_app_storage


def put(storage, bucket, key, data=None):
    storage.put_bytes(bucket, key, data if data is not None else key.encode(), "text/plain")


def read(storage, bucket, key):
    return storage.read_tail(bucket, key, 1_000_000)


def contents(storage):
    """Every object of both buckets: {(bucket, key): bytes}."""
    return {
        (bucket, key): read(storage, bucket, key)
        for bucket in (ARTIFACTS_BUCKET, LOGS_BUCKET)
        for key in stored_keys(storage, bucket)
    }


def run_migration(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("migrate_ponos_storage", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def record_calls(storage, operation):
    calls = []
    storage.client.meta.events.register(
        f"before-parameter-build.s3.{operation}", lambda params, **kwargs: calls.append(params)
    )
    return calls


@pytest.fixture
def layouts(app_storage, process):
    """
    A bucket pair mixing old keys, new keys (one whose path starts with a UUID folder) and
    keys Ponos never wrote.
    """
    storage = app_storage
    task, other_task, logged_task = (
        TaskFactory(process=process, slug=slug) for slug in ("a", "b", "c")
    )
    workflow, gone, folder = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old = {
        (ARTIFACTS_BUCKET, f"{workflow}/{task.id}/out/a.txt"): f"{task.id}/out/a.txt",
        (ARTIFACTS_BUCKET, f"{workflow}/{task.id}/{folder}/deep.txt"): (
            f"{task.id}/{folder}/deep.txt"
        ),
        # Its task is gone: still an old key, renamed like the others
        (ARTIFACTS_BUCKET, f"{workflow}/{gone}/c.txt"): f"{gone}/c.txt",
        (LOGS_BUCKET, f"{workflow}/run_0/{task.id}.log"): f"{task.id}.log",
        (LOGS_BUCKET, f"{workflow}/run_12/{other_task.id}.log"): f"{other_task.id}.log",
    }
    untouched = [
        (ARTIFACTS_BUCKET, f"{other_task.id}/result.txt"),
        # A new key whose path starts with a UUID folder: its first segment is a task
        (ARTIFACTS_BUCKET, f"{other_task.id}/{uuid.uuid4()}/page.png"),
        (LOGS_BUCKET, f"{logged_task.id}.log"),
        (ARTIFACTS_BUCKET, "README.md"),
        (ARTIFACTS_BUCKET, f"{workflow}/notes.txt"),
        (ARTIFACTS_BUCKET, f"{str(workflow).upper()}/{task.id}/x.txt"),
        (LOGS_BUCKET, f"{workflow}/run_x/{task.id}.log"),
        (LOGS_BUCKET, f"{workflow}/{task.id}.log"),
        (LOGS_BUCKET, "notes.txt"),
    ]
    for bucket, key in [*old, *untouched]:
        put(storage, bucket, key)
    expected = {(bucket, key): key.encode() for bucket, key in untouched}
    expected.update(
        {(bucket, new_key): old_key.encode() for (bucket, old_key), new_key in old.items()}
    )
    return SimpleNamespace(storage=storage, old=old, untouched=untouched, expected=expected)


def test_old_keys_are_renamed_and_every_other_key_is_left_alone(layouts):
    with CaptureQueriesContext(connection) as queries:
        report = migrate_storage()

    assert contents(layouts.storage) == layouts.expected
    assert (report.scanned, report.old_keys, report.copied, report.deleted) == (14, 5, 5, 5)
    assert (report.already_copied, report.conflicts, report.failures) == (0, 0, 0)
    # One query per page of listed keys (one page per bucket here), never one per key
    assert len(queries) == 2


def test_a_second_migration_changes_nothing(layouts):
    migrate_storage()
    before = contents(layouts.storage)

    report = migrate_storage()

    assert contents(layouts.storage) == before
    assert (report.scanned, report.old_keys, report.copied, report.deleted) == (14, 0, 0, 0)


def test_a_rerun_sends_no_copy_nor_delete(s3_app_storage, process):
    task = TaskFactory(process=process)
    put(s3_app_storage, LOGS_BUCKET, f"{uuid.uuid4()}/run_0/{task.id}.log")
    migrate_storage()
    copies = record_calls(s3_app_storage, "CopyObject")
    deletes = record_calls(s3_app_storage, "DeleteObjects")

    migrate_storage()

    assert copies == []
    assert deletes == []
    assert stored_keys(s3_app_storage, LOGS_BUCKET) == [f"{task.id}.log"]


def test_a_dry_run_changes_nothing_and_counts_what_the_real_run_does(layouts):
    before = contents(layouts.storage)

    dry = migrate_storage(dry_run=True)
    out, _err = run_migration("--dry-run")

    assert contents(layouts.storage) == before
    assert out.splitlines()[-1] == (
        "Dry run, nothing changed: 14 keys scanned, 5 in the old layout; 5 would be copied, "
        "0 already had their copy; 5 old keys would be deleted; 0 conflicts; 0 failures."
    )
    real = migrate_storage()
    assert (dry.scanned, dry.old_keys, dry.copied, dry.deleted) == (
        real.scanned,
        real.old_keys,
        real.copied,
        real.deleted,
    )


def test_a_copy_left_by_an_interrupted_run_is_not_made_again(layouts):
    # The previous run copied this one and stopped before deleting the old key
    (bucket, old_key), new_key = next(iter(layouts.old.items()))
    layouts.storage.copy(bucket, old_key, new_key)

    report = migrate_storage()

    assert (report.copied, report.already_copied, report.deleted) == (4, 1, 5)
    assert contents(layouts.storage) == layouts.expected


def test_a_destination_of_another_size_is_never_overwritten(app_storage, process):
    task = TaskFactory(process=process)
    old_key = f"{uuid.uuid4()}/run_0/{task.id}.log"
    put(app_storage, LOGS_BUCKET, old_key, b"old log")
    put(app_storage, LOGS_BUCKET, f"{task.id}.log", b"a newer, longer log")

    with pytest.raises(CommandError, match="1 failures: fix them, then run the migration again."):
        run_migration()

    assert read(app_storage, LOGS_BUCKET, old_key) == b"old log"
    assert read(app_storage, LOGS_BUCKET, f"{task.id}.log") == b"a newer, longer log"
    report = migrate_storage()
    assert (report.old_keys, report.conflicts, report.copied, report.deleted) == (1, 1, 0, 0)
    assert report.messages == [
        f"{LOGS_BUCKET}/{task.id}.log already exists with 19 bytes, not 7 like {old_key}: "
        "both are kept, delete the wrong one."
    ]


def test_the_command_prints_progress_and_a_summary(layouts):
    out, err = run_migration()

    assert out.splitlines() == [
        f"Scanning {ARTIFACTS_BUCKET}…",
        f"Scanning {LOGS_BUCKET}…",
        "Migration finished: 14 keys scanned, 5 in the old layout; 5 were copied, 0 already "
        "had their copy; 5 old keys were deleted; 0 conflicts; 0 failures.",
    ]
    assert err == ""


def test_an_unreachable_store_stops_the_migration_with_an_error(s3_app_storage, settings):
    use_s3_storage(settings, closed_port_endpoint())

    with pytest.raises(CommandError):
        run_migration()

    report = migrate_storage()
    assert report.failures == 1
    assert report.messages[0].startswith("Stopped on a storage error: Could not list")
