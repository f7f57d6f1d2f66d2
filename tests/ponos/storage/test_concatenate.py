"""Storage.concatenate, on both backends: how a log's pieces become one object."""

import tracemalloc

import pytest

from ponos.storage import Segment, StorageError, log_key, log_piece_key
from ponos.storage.s3 import PART_SIZE, S3Storage
from tests.ponos.storage.fixtures import LOGS_BUCKET

TASK = "6f1c1b9e-3a55-4c5e-9a55-2f1d8d3c0b11"


def test_segments_and_lines_are_written_one_after_the_other(storage):
    storage.put_bytes(LOGS_BUCKET, log_piece_key(TASK, 0), b"0123456789", "text/plain")
    storage.put_bytes(LOGS_BUCKET, log_piece_key(TASK, 10), b"abcdef", "text/plain")
    segments = [
        Segment(log_piece_key(TASK, 0), 0, 10),
        Segment(data=b"[cut]\n"),
        Segment(log_piece_key(TASK, 10), 2, 3),
    ]

    written = storage.concatenate(LOGS_BUCKET, segments, log_key(TASK), "text/plain")

    assert written == 19
    assert storage.read_tail(LOGS_BUCKET, log_key(TASK), 100) == b"0123456789[cut]\ncde"
    # The sources stay: deleting them is the caller's business
    assert storage.head(LOGS_BUCKET, log_piece_key(TASK, 0)).size == 10


def test_a_missing_or_short_source_fails_and_writes_nothing(storage):
    storage.put_bytes(LOGS_BUCKET, log_piece_key(TASK, 0), b"short", "text/plain")
    with pytest.raises(StorageError):
        storage.concatenate(
            LOGS_BUCKET, [Segment(log_piece_key(TASK, 0), 0, 10)], log_key(TASK), "text/plain"
        )
    with pytest.raises(StorageError):
        storage.concatenate(
            LOGS_BUCKET, [Segment(log_piece_key(TASK, 99), 0, 1)], log_key(TASK), "text/plain"
        )
    assert storage.head(LOGS_BUCKET, log_key(TASK)) is None


def test_a_big_log_is_assembled_without_holding_it_in_memory(storage):
    piece = bytes(range(256)) * (1024 * 4)  # 1 MiB
    count = 3 * PART_SIZE // len(piece) + 1  # more than three parts
    for index in range(count):
        storage.put_bytes(LOGS_BUCKET, log_piece_key(TASK, index * len(piece)), piece, "text/plain")
    segments = [
        Segment(log_piece_key(TASK, index * len(piece)), 0, len(piece)) for index in range(count)
    ]

    bodies = []
    if isinstance(storage, S3Storage):
        # moto keeps its objects in this process: count what each request carries instead
        def record(params, **kwargs):
            bodies.append(len(params["Body"]))

        storage.client.meta.events.register("provide-client-params.s3.UploadPart", record)
    tracemalloc.start()
    try:
        storage.concatenate(LOGS_BUCKET, segments, log_key(TASK), "text/plain")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    size = count * len(piece)
    assert storage.head(LOGS_BUCKET, log_key(TASK)).size == size
    assert storage.read_tail(LOGS_BUCKET, log_key(TASK), len(piece)) == piece
    if isinstance(storage, S3Storage):
        # Four parts of a multipart upload, none much bigger than PART_SIZE
        assert len(bodies) == 4
        assert max(bodies) <= PART_SIZE + 1024 * 1024
        assert sum(bodies) == size
    else:
        # About a read chunk at a time: not the whole log
        assert peak < 4 * 1024 * 1024 < size
