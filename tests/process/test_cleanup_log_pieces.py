"""Pieces of logs (`<task id>.log.d/<offset>`) in cleanup, its orphan sweep and the storage
migration, on both backends."""

import uuid
from datetime import timedelta

import pytest
import time_machine

from ponos.models import LogPiece, State, Task
from ponos.storage import log_key, log_piece_key
from ponos.storage_migration import Layout, classified_objects, migrate_storage
from process.cleanup import cleanup
from tests.factories import ProcessFactory, TaskFactory
from tests.ponos.storage.fixtures import LOGS_BUCKET
from tests.process import cleanup_fixtures
from tests.process.cleanup_fixtures import EXPIRED, FRESH, NOW, OLD, put_object, stored_keys

app_storage = cleanup_fixtures.app_storage
local_app_storage = cleanup_fixtures.local_app_storage
s3_app_storage = cleanup_fixtures.s3_app_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_process(corpus, contributor, farm):
    def make(**fields):
        return ProcessFactory(corpus=corpus, creator=contributor, farm=farm, **fields)

    return make


def add_piece(storage, task, offset, data, at=OLD):
    LogPiece.objects.create(task=task, offset=offset, size=len(data))
    put_object(storage, LOGS_BUCKET, log_piece_key(task.id, offset), at=at, data=data)


def run_cleanup():
    with time_machine.travel(NOW, tick=False):
        return cleanup()


def test_expired_tasks_lose_their_pieces_with_their_rows(app_storage, make_process):
    process = make_process(state=State.ERROR)
    task = TaskFactory(process=process, state=State.ERROR, expiry=EXPIRED)
    add_piece(app_storage, task, 0, b"abc")
    add_piece(app_storage, task, 3, b"def")
    # An assembly job that never ran: cleanup deletes it all, the task expired
    report = run_cleanup()

    assert stored_keys(app_storage, LOGS_BUCKET) == []
    assert not Task.objects.exists()
    assert not LogPiece.objects.exists()
    assert report.tasks == 1
    # Its log key (absent) and its two pieces
    assert report.logs == 3
    assert not report.failed


def test_the_sweep_deletes_old_orphan_pieces_and_never_takes_them_for_old_keys(
    app_storage, make_process
):
    gone = uuid.uuid4()
    put_object(app_storage, LOGS_BUCKET, log_piece_key(gone, 0), at=OLD)
    recent = uuid.uuid4()
    put_object(app_storage, LOGS_BUCKET, log_piece_key(recent, 0), at=NOW - timedelta(minutes=5))
    # Pieces of a live task stay
    live = TaskFactory(process=make_process(), state=State.RUNNING, expiry=FRESH)
    add_piece(app_storage, live, 0, b"running")

    report = run_cleanup()

    assert stored_keys(app_storage, LOGS_BUCKET) == sorted(
        [log_piece_key(recent, 0), log_piece_key(live.id, 0)]
    )
    assert report.orphans == 1
    assert report.recent_orphans == 1
    assert report.old_layout == 0


def test_finished_tasks_left_in_pieces_get_their_log_assembled(app_storage, make_process):
    task = TaskFactory(process=make_process(), state=State.FAILED, expiry=FRESH)
    add_piece(app_storage, task, 0, b"it went ")
    add_piece(app_storage, task, 8, b"wrong\n")

    report = run_cleanup()

    assert report.assembled_logs == 1
    assert stored_keys(app_storage, LOGS_BUCKET) == [log_key(task.id)]
    assert app_storage.read_tail(LOGS_BUCKET, log_key(task.id), 100) == b"it went wrong\n"
    assert not LogPiece.objects.exists()
    assert "Logs assembled from pieces: 1." in report.summary()


def test_the_migration_leaves_pieces_alone(app_storage, make_process):
    task = TaskFactory(process=make_process(), state=State.RUNNING, expiry=FRESH)
    add_piece(app_storage, task, 0, b"abc")
    orphan = log_piece_key(uuid.uuid4(), 42)
    put_object(app_storage, LOGS_BUCKET, orphan, at=OLD)

    layouts = {item.key: item.layout for item in classified_objects(app_storage, LOGS_BUCKET)}
    assert layouts == {log_piece_key(task.id, 0): Layout.NEW, orphan: Layout.NEW}
    report = migrate_storage(app_storage)

    assert report.old_keys == 0
    assert stored_keys(app_storage, LOGS_BUCKET) == sorted([log_piece_key(task.id, 0), orphan])
