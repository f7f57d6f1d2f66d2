"""
Storage helpers of the cleanup tests: the application's storage on either backend, objects
of a chosen age, and failures injected at the boto3 boundary.

Import the fixtures into a test module to use them (``from tests.process.cleanup_fixtures
import app_storage``).
"""

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from moto import mock_aws

from ponos.storage.local import LocalStorage
from tests.ponos.storage.fixtures import (
    use_local_storage,
    use_s3_storage,
)

# The time every cleanup of these tests runs at
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# Expiries just past and still ahead, and the age of objects written long ago
EXPIRED = NOW - timedelta(days=1)
FRESH = NOW + timedelta(days=10)
OLD = NOW - timedelta(days=20)


@pytest.fixture
def s3_app_storage(settings):
    """The application's storage, on S3 served by moto's in-process mock."""
    with mock_aws():
        storage = use_s3_storage(settings)
        storage.ensure_buckets()
        yield storage


@pytest.fixture
def local_app_storage(settings, tmp_path):
    """The application's storage, in a temporary directory."""
    return use_local_storage(settings, tmp_path / "storage", "http://testserver")


@pytest.fixture(params=["s3", "local"])
def app_storage(request):
    """The application's storage on each backend in turn."""
    return request.getfixturevalue(f"{request.param}_app_storage")


def closed_port_endpoint():
    """An endpoint URL on a local port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def put_object(storage, bucket, key, *, at, data=b"data"):
    """Store an object whose modification time is `at`."""
    # moto stamps objects with the (travelled) current time
    with time_machine.travel(at, tick=False):
        storage.put_bytes(bucket, key, data, "application/octet-stream")
    if isinstance(storage, LocalStorage):
        timestamp = at.timestamp()
        os.utime(storage.path_for(bucket, key), (timestamp, timestamp))


def stored_keys(storage, bucket):
    return sorted(info.key for info in storage.list_objects(bucket))


def record_delete_calls(storage):
    """(bucket, number of keys) of every DeleteObjects call our S3 client sends."""
    calls = []

    def record(params, **kwargs):
        calls.append((params["Bucket"], len(params["Delete"]["Objects"])))

    storage.client.meta.events.register("before-parameter-build.s3.DeleteObjects", record)
    return calls


def refuse_deletes(storage, refused_keys):
    """
    Make S3 refuse to delete some keys, the way DeleteObjects reports it: the request goes
    without them (so the objects stay), and the answer lists them among its Errors.
    """
    refused_keys = set(refused_keys)

    # Calls may run in several threads: each keeps what it left out in its own context
    def leave_out(params, context, **kwargs):
        objects = params["Delete"]["Objects"]
        context["refused"] = [item["Key"] for item in objects if item["Key"] in refused_keys]
        params["Delete"]["Objects"] = [item for item in objects if item["Key"] not in refused_keys]

    def report(parsed, context, **kwargs):
        parsed.setdefault("Errors", []).extend(
            {"Key": key, "Code": "AccessDenied", "Message": "Access Denied"}
            for key in context["refused"]
        )

    events = storage.client.meta.events
    events.register("before-parameter-build.s3.DeleteObjects", leave_out)
    events.register("after-call.s3.DeleteObjects", report)
