"""Storage faults, injected at the boto3 boundary (a closed port, a botocore event), never by
replacing our own code: the API keeps answering, nothing is lost, and what could not be
deleted is left for cleanup's sweep.

Tested elsewhere, listed in the README: RetrieveTask with nothing listening at the storage
endpoint (tests/ponos/test_retrieve_task_api.py), and cleanup with an unreachable store
deleting no row and being completed by the next run (tests/process/test_cleanup.py).
"""

import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from botocore.exceptions import ReadTimeoutError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ponos.models import Artifact, State, Task
from ponos.storage import artifact_key, get_storage, log_key
from process.models import Process
from tests.conftest import client_for
from tests.e2e.helpers import clean_environ
from tests.factories import ProcessFactory, TaskFactory
from tests.ponos.storage.fixtures import (  # noqa: F401 (moto_server: a fixture, by name)
    ARTIFACTS_BUCKET,
    LOGS_BUCKET,
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    moto_server,
)
from tests.process.cleanup_fixtures import closed_port_endpoint, stored_keys, use_s3_storage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3_server(settings, moto_server):  # noqa: F811
    """The application's storage on moto's HTTP server, emptied, with its buckets."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    storage = use_s3_storage(settings, moto_server)
    storage.ensure_buckets()
    return storage


def store_task_objects(storage, task, paths=("out/a.txt", "out/b.json")):
    """A log and artifacts of `task`, in the storage and in the database."""
    storage.put_bytes(LOGS_BUCKET, log_key(task.id), b"log\n", "text/plain")
    for path in paths:
        Artifact.objects.create(task=task, path=path, size=4)
        storage.put_bytes(ARTIFACTS_BUCKET, artifact_key(task.id, path), b"data", "text/plain")


def time_out_every_call(storage):
    """Every S3 call times out, as a store that accepts connections and never answers."""

    def time_out(request, **kwargs):
        raise ReadTimeoutError(endpoint_url=request.url)

    storage.client.meta.events.register("before-send.s3", time_out)


@pytest.mark.django_db
def test_retrieve_task_answers_with_empty_logs_when_the_storage_times_out(
    s3_server, guest, running_task
):
    running_task.refresh_from_db()
    store_task_objects(s3_server, running_task)
    time_out_every_call(get_storage())

    response = client_for(guest).get(f"/api/v1/task/{running_task.id}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(running_task.id)
    assert body["logs"] == ""
    # Signing needs no store: the URL of the whole log is still given.
    assert body["full_log"].startswith(f"{s3_server.client.meta.endpoint_url}/ponos-logs/")


@pytest.mark.django_db
def test_destroy_process_with_the_storage_down_answers_204_and_leaves_objects_to_the_sweep(
    settings,
    s3_server,
    contributor,
    process,
    django_capture_on_commit_callbacks,
    caplog,
):
    tasks = [TaskFactory(process=process, slug=slug, state=State.COMPLETED) for slug in ("a", "b")]
    for task in tasks:
        store_task_objects(s3_server, task)
    Process.objects.filter(pk=process.pk).update(last_run=0, state=State.COMPLETED)
    objects = {bucket: stored_keys(s3_server, bucket) for bucket in (ARTIFACTS_BUCKET, LOGS_BUCKET)}
    assert len(objects[ARTIFACTS_BUCKET]) == 4 and len(objects[LOGS_BUCKET]) == 2

    # Nothing listens at the storage endpoint while the process is deleted.
    use_s3_storage(settings, closed_port_endpoint())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(contributor).delete(f"/api/v1/process/{process.id}/")

    assert response.status_code == 204, response.content
    assert len(callbacks) == 1
    assert not Process.objects.filter(pk=process.pk).exists()
    assert not Task.objects.filter(pk__in=[task.pk for task in tasks]).exists()
    assert not Artifact.objects.exists()
    assert "cleanup's sweep will remove them" in caplog.text
    # The storage is back: every object is still there...
    storage = use_s3_storage(settings, s3_server.client.meta.endpoint_url)
    for bucket, keys in objects.items():
        assert stored_keys(storage, bucket) == keys

    # ...until cleanup sweeps the objects of tasks that no longer exist, once an hour old.
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        call_command("cleanup", stdout=io.StringIO(), stderr=io.StringIO())
    for bucket in objects:
        assert stored_keys(storage, bucket) == []


def database_url():
    """The URL of the test database, for subprocesses."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def manage_cleanup(endpoint):
    """`manage.py cleanup` in its own process, as cron runs it: (exit status, output)."""
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="arkindex.settings",
        ARKINDEX_SECRET_KEY="fault-tests-secret-key-0123456789abcdef",
        ARKINDEX_DATABASE_URL=database_url(),
        ARKINDEX_STORAGE="s3",
        ARKINDEX_S3_ENDPOINT=endpoint,
        ARKINDEX_S3_ACCESS_KEY=TEST_ACCESS_KEY,
        ARKINDEX_S3_SECRET_KEY=TEST_SECRET_KEY,
        PONOS_ARTIFACTS_BUCKET=ARTIFACTS_BUCKET,
        PONOS_LOGS_BUCKET=LOGS_BUCKET,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "cleanup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_cleanup_with_the_storage_down_exits_non_zero_and_a_later_run_completes(
    s3_server, corpus, contributor
):
    process = ProcessFactory(corpus=corpus, creator=contributor)
    expired = timezone.now() - timedelta(days=1)
    tasks = [
        TaskFactory(process=process, slug=slug, state=State.COMPLETED, expiry=expired)
        for slug in ("a", "b", "c")
    ]
    for task in tasks:
        store_task_objects(s3_server, task)
    Process.objects.filter(pk=process.pk).update(last_run=0, state=State.COMPLETED)

    status, output = manage_cleanup(closed_port_endpoint())

    assert status != 0, output
    assert "run the cleanup again once they are fixed" in output
    assert Task.objects.filter(process=process).count() == 3
    assert Artifact.objects.count() == 6
    assert len(stored_keys(s3_server, ARTIFACTS_BUCKET)) == 6

    status, output = manage_cleanup(s3_server.client.meta.endpoint_url)

    assert status == 0, output
    assert not Task.objects.filter(process=process).exists()
    assert not Artifact.objects.exists()
    assert stored_keys(s3_server, ARTIFACTS_BUCKET) == []
    assert stored_keys(s3_server, LOGS_BUCKET) == []
    process.refresh_from_db()
    # The process stays, with its state.
    assert process.state == State.COMPLETED
