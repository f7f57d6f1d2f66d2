"""Fixtures of the Ponos API tests (the shared cast lives in tests/conftest.py)."""

import pytest
import requests
from moto import mock_aws

from ponos.storage import get_storage
from tests.ponos.storage.fixtures import (  # noqa: F401 (moto_server: a fixture, by name)
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    moto_server,
)


@pytest.fixture
def s3(settings):
    """The application's storage switched to S3, on moto's in-process mock, with its buckets."""
    with mock_aws():
        settings.ARKINDEX_STORAGE = "s3"
        settings.ARKINDEX_S3_ENDPOINT = None
        settings.ARKINDEX_S3_REGION = "us-east-1"
        settings.ARKINDEX_S3_ACCESS_KEY = TEST_ACCESS_KEY
        settings.ARKINDEX_S3_SECRET_KEY = TEST_SECRET_KEY
        # Changing the settings dropped the cached storage: this one is built from them.
        storage = get_storage()
        storage.ensure_buckets()
        yield storage


@pytest.fixture
def s3_http(settings, moto_server):  # noqa: F811
    """The application's storage on moto's HTTP server: signed URLs work with requests."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    settings.ARKINDEX_STORAGE = "s3"
    settings.ARKINDEX_S3_ENDPOINT = moto_server
    settings.ARKINDEX_S3_REGION = "us-east-1"
    settings.ARKINDEX_S3_ACCESS_KEY = TEST_ACCESS_KEY
    settings.ARKINDEX_S3_SECRET_KEY = TEST_SECRET_KEY
    storage = get_storage()
    storage.ensure_buckets()
    return storage


def keys(storage, bucket):
    """Every key of a bucket, sorted."""
    return sorted(info.key for info in storage.list_objects(bucket))
