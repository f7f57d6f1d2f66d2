"""Fixtures of the Ponos API tests (the shared cast lives in tests/conftest.py)."""

import pytest
import requests
from moto import mock_aws

from tests.ponos.storage.fixtures import (  # noqa: F401 (fixtures, by name)
    local_app_storage,
    moto_server,
    use_s3_storage,
)


@pytest.fixture
def s3(settings):
    """The application's storage switched to S3, on moto's in-process mock, with its buckets."""
    with mock_aws():
        storage = use_s3_storage(settings)
        storage.ensure_buckets()
        yield storage


@pytest.fixture
def s3_http(settings, moto_server):  # noqa: F811
    """The application's storage on moto's HTTP server: signed URLs work with requests."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    storage = use_s3_storage(settings, moto_server)
    storage.ensure_buckets()
    return storage


def keys(storage, bucket):
    """Every key of a bucket, sorted."""
    return sorted(info.key for info in storage.list_objects(bucket))
