"""The worker class of `manage.py rqworker`: its work horses, forked for every job, find
what jobs need already loaded by the worker."""

import subprocess
import sys

import pytest
import redis
from rq import Queue

from arkindex.jobs import JOB_MODULES, Worker
from ponos.storage import get_storage
from tests.e2e.helpers import free_port, wait_for


def storage_built_before_the_job():
    """A job: whether its work horse found the storage already built."""
    return get_storage.cache_info().currsize == 1


@pytest.fixture
def connection(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    client = redis.Redis(port=port)

    def answers():
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, message=lambda: "redis-server to answer", timeout=20)
        yield client
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_work_horses_inherit_the_storage_and_the_job_modules(connection):
    get_storage.cache_clear()
    queue = Queue("default", connection=connection)
    job = queue.enqueue(storage_built_before_the_job)

    Worker([queue], connection=connection).work(burst=True)

    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() is True
    # The worker itself built the storage and loaded the modules of the project's jobs
    assert get_storage.cache_info().currsize == 1
    assert set(JOB_MODULES) <= set(sys.modules)
