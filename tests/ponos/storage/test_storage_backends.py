"""Every behaviour of the storage interface, checked against both backends."""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ponos.storage import StorageError, artifact_key, log_key
from ponos.storage.s3 import S3Storage
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET


def keys_of(storage, bucket, prefix=""):
    return [item.key for item in storage.list_objects(bucket, prefix)]


@pytest.fixture
def fail_deletion_of(storage, monkeypatch):
    """
    A function making the deletion of some keys fail, the way each backend fails: S3 lists
    them in the Errors of its DeleteObjects answer, the local disk refuses to unlink them.
    """

    def on_s3(keys):
        held_back = []

        def hold_back(params, **kwargs):
            # Keep the keys out of the request, so the objects really stay
            objects = params["Delete"]["Objects"]
            held_back[:] = [item["Key"] for item in objects if item["Key"] in keys]
            params["Delete"]["Objects"] = [item for item in objects if item["Key"] not in keys]

        def report(parsed, **kwargs):
            parsed.setdefault("Errors", []).extend(
                {"Key": key, "Code": "AccessDenied", "Message": "Access Denied"}
                for key in held_back
            )

        events = storage.client.meta.events
        events.register("before-parameter-build.s3.DeleteObjects", hold_back)
        events.register("after-call.s3.DeleteObjects", report)

    def on_local(keys):
        unlink = os.unlink

        def refuse(path, *args, **kwargs):
            if any(str(path).endswith(f"/{key}") for key in keys):
                raise PermissionError(13, "Permission denied", str(path))
            return unlink(path, *args, **kwargs)

        monkeypatch.setattr(os, "unlink", refuse)

    return on_s3 if isinstance(storage, S3Storage) else on_local


def test_objects_are_stored_under_the_keys_of_the_spec(storage):
    task_id = uuid.uuid4()
    storage.put_bytes(
        ARTIFACTS_BUCKET, artifact_key(task_id, "dir/result.json"), b"{}", "application/json"
    )
    storage.put_bytes(LOGS_BUCKET, log_key(task_id), b"log line\n", "text/plain")

    assert keys_of(storage, ARTIFACTS_BUCKET) == [f"{task_id}/dir/result.json"]
    assert keys_of(storage, LOGS_BUCKET) == [f"{task_id}.log"]


def test_read_tail_returns_the_last_bytes_of_a_bigger_object(storage):
    data = bytes(range(256)) * 40
    storage.put_bytes(LOGS_BUCKET, "task.log", data, "text/plain")

    assert storage.read_tail(LOGS_BUCKET, "task.log", 1000) == data[-1000:]


def test_read_tail_returns_the_whole_object_when_it_is_smaller(storage):
    storage.put_bytes(LOGS_BUCKET, "task.log", b"short log", "text/plain")

    assert storage.read_tail(LOGS_BUCKET, "task.log", 1000) == b"short log"


def test_read_tail_of_an_empty_object_is_empty(storage):
    storage.put_bytes(LOGS_BUCKET, "task.log", b"", "text/plain")

    assert storage.read_tail(LOGS_BUCKET, "task.log", 1000) == b""


def test_read_tail_returns_none_when_the_object_does_not_exist(storage):
    assert storage.read_tail(LOGS_BUCKET, "missing.log", 1000) is None


def test_read_tail_refuses_a_length_that_is_not_positive(storage):
    with pytest.raises(ValueError, match="positive"):
        storage.read_tail(LOGS_BUCKET, "task.log", 0)


def test_put_bytes_replaces_an_existing_object(storage):
    storage.put_bytes(LOGS_BUCKET, "task.log", b"first version, longer", "text/plain")
    storage.put_bytes(LOGS_BUCKET, "task.log", b"second", "text/plain")

    assert storage.read_tail(LOGS_BUCKET, "task.log", 100) == b"second"
    assert storage.head(LOGS_BUCKET, "task.log").size == 6


def test_listing_gives_sizes_and_utc_modification_times(storage):
    before = datetime.now(UTC)
    storage.put_bytes(ARTIFACTS_BUCKET, "task/a.txt", b"12345", "text/plain")
    storage.put_bytes(ARTIFACTS_BUCKET, "task/b.txt", b"", "text/plain")
    after = datetime.now(UTC)

    items = list(storage.list_objects(ARTIFACTS_BUCKET))

    assert [(item.key, item.size) for item in items] == [("task/a.txt", 5), ("task/b.txt", 0)]
    for item in items:
        assert item.last_modified.utcoffset() == timedelta(0)
        # S3 keeps whole seconds only
        assert before - timedelta(seconds=1) <= item.last_modified <= after


def test_listing_is_in_key_order_and_filters_by_prefix(storage):
    keys = ["b", "a0", "a/b", "a-c", "a/a/x", "ab/c"]
    for key in keys:
        storage.put_bytes(ARTIFACTS_BUCKET, key, b"x", "text/plain")

    assert keys_of(storage, ARTIFACTS_BUCKET) == sorted(keys)
    assert keys_of(storage, ARTIFACTS_BUCKET, "a/") == ["a/a/x", "a/b"]
    assert keys_of(storage, ARTIFACTS_BUCKET, "a/a") == ["a/a/x"]
    assert keys_of(storage, ARTIFACTS_BUCKET, "a") == ["a-c", "a/a/x", "a/b", "a0", "ab/c"]
    assert keys_of(storage, ARTIFACTS_BUCKET, "zz/") == []
    assert keys_of(storage, LOGS_BUCKET) == []


def test_head_describes_an_object_or_returns_none(storage):
    storage.put_bytes(ARTIFACTS_BUCKET, "task/a.txt", b"12345", "text/plain")

    info = storage.head(ARTIFACTS_BUCKET, "task/a.txt")

    assert (info.key, info.size) == ("task/a.txt", 5)
    assert info.last_modified.tzinfo is not None
    assert storage.head(ARTIFACTS_BUCKET, "task/missing.txt") is None
    # A prefix of other keys is not an object
    assert storage.head(ARTIFACTS_BUCKET, "task") is None


def test_copy_duplicates_an_object_and_delete_removes_it(storage):
    storage.put_bytes(ARTIFACTS_BUCKET, "old/a.txt", b"content", "text/plain")

    storage.copy(ARTIFACTS_BUCKET, "old/a.txt", "new/a.txt")
    storage.delete(ARTIFACTS_BUCKET, "old/a.txt")

    assert keys_of(storage, ARTIFACTS_BUCKET) == ["new/a.txt"]
    assert storage.read_tail(ARTIFACTS_BUCKET, "new/a.txt", 100) == b"content"


def test_copying_a_missing_object_is_a_storage_error(storage):
    with pytest.raises(StorageError):
        storage.copy(ARTIFACTS_BUCKET, "old/missing.txt", "new/missing.txt")
    assert keys_of(storage, ARTIFACTS_BUCKET) == []


def test_deleting_a_missing_object_succeeds(storage):
    storage.delete(ARTIFACTS_BUCKET, "task/missing.txt")


def test_delete_many_removes_thousands_of_keys_and_counts_missing_ones_as_deleted(storage):
    stored = [f"task/{n:04}.txt" for n in range(0, 2500, 250)]
    for key in stored:
        storage.put_bytes(ARTIFACTS_BUCKET, key, b"x", "text/plain")
    storage.put_bytes(ARTIFACTS_BUCKET, "other/kept.txt", b"x", "text/plain")

    failed = storage.delete_many(ARTIFACTS_BUCKET, (f"task/{n:04}.txt" for n in range(2500)))

    assert failed == []
    assert keys_of(storage, ARTIFACTS_BUCKET) == ["other/kept.txt"]


def test_delete_many_reports_the_keys_it_could_not_delete(storage, fail_deletion_of):
    keys = [f"task/{n}.txt" for n in range(5)]
    for key in keys:
        storage.put_bytes(ARTIFACTS_BUCKET, key, b"x", "text/plain")
    fail_deletion_of({"task/1.txt", "task/3.txt"})

    failed = storage.delete_many(ARTIFACTS_BUCKET, keys)

    assert sorted(failed) == ["task/1.txt", "task/3.txt"]
    assert keys_of(storage, ARTIFACTS_BUCKET) == ["task/1.txt", "task/3.txt"]


def test_delete_many_of_no_keys_does_nothing(storage):
    assert storage.delete_many(ARTIFACTS_BUCKET, []) == []


def test_ensure_buckets_can_run_again(storage):
    storage.put_bytes(LOGS_BUCKET, "task.log", b"kept", "text/plain")

    storage.ensure_buckets()

    assert keys_of(storage, LOGS_BUCKET) == ["task.log"]


def test_an_unknown_bucket_is_a_storage_error(storage):
    with pytest.raises(StorageError):
        list(storage.list_objects("unknown-bucket"))
    with pytest.raises(StorageError):
        storage.put_bytes("unknown-bucket", "key", b"x", "text/plain")
