"""DestroyProcess: rows at once, storage objects in a background job enqueued on commit."""

from unittest import mock

import pytest
from django.test import override_settings

from arkindex import jobs
from ponos.models import Artifact, LogPiece, State, Task
from ponos.storage import StorageError, get_storage, log_piece_key
from process.models import Process, WorkerRun
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import ProcessFactory, TaskFactory
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db


def destroy(user, process):
    return client_for(user).delete(f"/api/v1/process/{process.id}/")


@pytest.fixture
def stored(process, settings):
    """A finished process with two tasks, their logs and artifacts in storage."""
    add_worker_run(process, slug="w")
    tasks = make_run(process, a=State.COMPLETED, b=State.FAILED)
    storage = get_storage()
    storage.ensure_buckets()
    keys = {"artifacts": [], "logs": []}
    for task in tasks.values():
        storage.put_bytes(settings.PONOS_LOGS_BUCKET, f"{task.id}.log", b"log", "text/plain")
        keys["logs"].append(f"{task.id}.log")
        for path in ("out.json", "sub/dir/page.png"):
            Artifact.objects.create(task=task, path=path, size=3)
            storage.put_bytes(settings.PONOS_ARTIFACTS_BUCKET, f"{task.id}/{path}", b"abc", "x/y")
            keys["artifacts"].append(f"{task.id}/{path}")
    return keys


def present(bucket, keys):
    storage = get_storage()
    return [key for key in keys if storage.head(bucket, key) is not None]


def test_rows_go_at_once_and_objects_after_the_commit(
    process, stored, contributor, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = destroy(contributor, process)

        assert response.status_code == 204
        assert not Process.objects.filter(pk=process.pk).exists()
        assert not Task.objects.exists() and not Artifact.objects.exists()
        assert not WorkerRun.objects.filter(process_id=process.pk).exists()
        # Nothing is deleted from storage before the commit.
        assert len(present(settings.PONOS_LOGS_BUCKET, stored["logs"])) == 2

    assert len(callbacks) == 1
    callbacks[0]()
    assert present(settings.PONOS_LOGS_BUCKET, stored["logs"]) == []
    assert present(settings.PONOS_ARTIFACTS_BUCKET, stored["artifacts"]) == []


def test_pieces_of_a_log_not_assembled_yet_go_too(
    process, stored, contributor, settings, django_capture_on_commit_callbacks
):
    # The last task ended a moment ago: its assembly job has not run yet
    task = Task.objects.create(process=process, run=0, slug="late", state=State.FAILED)
    pieces = [log_piece_key(task.id, 0), log_piece_key(task.id, 4)]
    for offset, key in zip((0, 4), pieces, strict=True):
        LogPiece.objects.create(task=task, offset=offset, size=4)
        get_storage().put_bytes(settings.PONOS_LOGS_BUCKET, key, b"log\n", "text/plain")

    with django_capture_on_commit_callbacks(execute=True):
        assert destroy(contributor, process).status_code == 204

    assert not LogPiece.objects.exists()
    assert present(settings.PONOS_LOGS_BUCKET, pieces + stored["logs"]) == []
    assert present(settings.PONOS_ARTIFACTS_BUCKET, stored["artifacts"]) == []


def test_a_storage_outage_still_answers_204(
    process, stored, contributor, settings, django_capture_on_commit_callbacks, caplog
):
    with (
        mock.patch.object(type(get_storage()), "delete_many", side_effect=StorageError("down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = destroy(contributor, process)

    assert response.status_code == 204
    assert not Process.objects.filter(pk=process.pk).exists()
    # The objects stay for cleanup's sweep, and the failure is logged.
    assert len(present(settings.PONOS_ARTIFACTS_BUCKET, stored["artifacts"])) == 4
    assert "cleanup's sweep will remove them" in caplog.text


def test_the_job_gets_the_keys_of_the_new_layout(
    process, stored, contributor, settings, django_capture_on_commit_callbacks
):
    with (
        mock.patch("process.jobs.delete_storage_objects") as job,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert destroy(contributor, process).status_code == 204

    job.assert_called_once()
    artifact_keys, log_keys = job.call_args.args
    assert sorted(artifact_keys) == sorted(stored["artifacts"])
    assert sorted(log_keys) == sorted(stored["logs"])


def test_with_redis_the_job_is_enqueued_on_the_default_queue_after_commit(
    process, stored, contributor, django_capture_on_commit_callbacks
):
    queue = mock.Mock()
    with (
        override_settings(ARKINDEX_REDIS_URL="redis://redis.example:6379/0"),
        mock.patch("django_rq.get_queue", return_value=queue) as get_queue,
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert destroy(contributor, process).status_code == 204
        queue.enqueue.assert_not_called()
        assert len(callbacks) == 1
        callbacks[0]()

    get_queue.assert_called_once_with("default")
    func, artifact_keys, log_keys = queue.enqueue.call_args.args
    assert func == "process.jobs.delete_storage_objects"
    assert sorted(log_keys) == sorted(stored["logs"])


def test_a_rolled_back_deletion_enqueues_nothing(django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                jobs.enqueue("process.jobs.delete_storage_objects", ["k"], [])
                raise RuntimeError
        except RuntimeError:
            pass
    assert callbacks == []


def test_a_process_without_tasks_enqueues_nothing(
    process, contributor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert destroy(contributor, process).status_code == 204
    assert callbacks == []


@pytest.mark.parametrize("state", [State.PENDING, State.RUNNING, State.STOPPING])
def test_an_active_process_cannot_be_deleted(process, contributor, state):
    make_run(process, a=state, b=State.FAILED)

    errors = assert_error(destroy(contributor, process), 400, error_type="validation_error")

    assert errors[0]["detail"].startswith("This process is active (")
    assert errors[0]["detail"].endswith("stop it, then delete it once its tasks have stopped.")
    assert Process.objects.filter(pk=process.pk).exists()


def test_a_failed_dag_with_unscheduled_children_can_be_deleted(process, contributor):
    make_run(process, parent=State.FAILED, child=State.UNSCHEDULED)
    assert destroy(contributor, process).status_code == 204


def test_an_old_active_run_does_not_block_the_deletion(process, contributor):
    make_run(process, run=0, refresh=False, old=State.PENDING)
    make_run(process, run=1, new=State.COMPLETED)
    assert destroy(contributor, process).status_code == 204


def test_deleting_keeps_other_processes(process, contributor, corpus):
    other = ProcessFactory(corpus=corpus, creator=contributor)
    make_run(other, a=State.COMPLETED)
    assert destroy(contributor, process).status_code == 204
    assert Task.objects.filter(process=other).count() == 1


def test_readers_may_not_delete(process, guest):
    errors = assert_error(destroy(guest, process), 403)
    assert errors[0]["detail"].startswith("Managing this process needs admin rights")


def test_restarted_tasks_and_parent_links_go_with_the_process(process, contributor):
    run = add_worker_run(process, slug="w")
    tasks = make_run(process, parent=State.COMPLETED, child=State.FAILED)
    tasks["child"].parents.add(tasks["parent"])
    TaskFactory(
        process=process,
        slug="child_2",
        state=State.COMPLETED,
        original_task=tasks["child"],
        worker_run=run,
    )

    assert destroy(contributor, process).status_code == 204

    assert not Task.objects.exists()
    assert not Task.parents.through.objects.exists()
