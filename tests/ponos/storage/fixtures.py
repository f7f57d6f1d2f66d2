"""
Storage fixtures any test module can use.

They are registered for this folder by its conftest; elsewhere, import the ones needed into
a conftest (``from tests.ponos.storage.fixtures import moto_server, s3_server_storage``), or
list this module in ``pytest_plugins`` of the root conftest.

- ``moto_server``: an S3 endpoint URL served over HTTP by moto in a thread, for the session;
- ``s3_storage``: an S3Storage on moto's in-process mock (no HTTP), buckets created;
- ``s3_server_storage``: an S3Storage on ``moto_server`` (signed URLs work with requests),
  emptied before each test, buckets created;
- ``local_storage``: a LocalStorage in a temporary directory, buckets created; its URLs
  point at ``http://testserver``, the host of Django's test client;
- ``local_app_storage``: the application's storage (``get_storage()``) switched to a local
  directory, its URLs served by Django's test client (``client.put(url, ...)``);
- ``local_live_storage``: the same, served by pytest-django's ``live_server`` (signed URLs
  work with requests).

``make_s3_storage(endpoint)`` builds an S3Storage with the test credentials and buckets.
"""

import pytest
import requests
from moto import mock_aws
from moto.server import ThreadedMotoServer

from ponos.storage import get_storage
from ponos.storage.local import LocalStorage
from ponos.storage.s3 import S3Storage

ARTIFACTS_BUCKET = "ponos-artifacts"
LOGS_BUCKET = "ponos-logs"
# moto accepts any credentials; fixed ones keep boto3 away from the host's configuration
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"
TEST_SIGNING_SECRET = "storage-test-secret-key"


def make_s3_storage(endpoint: str | None = None, **options) -> S3Storage:
    """An S3Storage with the test credentials and bucket names; options override them."""
    arguments = {
        "artifacts_bucket": ARTIFACTS_BUCKET,
        "logs_bucket": LOGS_BUCKET,
        "endpoint": endpoint,
        "access_key": TEST_ACCESS_KEY,
        "secret_key": TEST_SECRET_KEY,
    }
    arguments.update(options)
    return S3Storage(**arguments)


@pytest.fixture(scope="session")
def moto_server():
    """The endpoint URL of an S3 server run by moto in a thread, on a free local port."""
    # Port 0: the system picks a free port when the server binds, so no race with others
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage():
    """An S3Storage on moto's in-process mock, with both buckets."""
    with mock_aws():
        storage = make_s3_storage()
        storage.ensure_buckets()
        yield storage


@pytest.fixture
def s3_server_storage(moto_server):
    """An S3Storage on the moto server, emptied first, with both buckets."""
    # Forget the buckets and objects of earlier tests
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    storage = make_s3_storage(moto_server)
    storage.ensure_buckets()
    return storage


@pytest.fixture
def local_storage(tmp_path):
    """A LocalStorage in a temporary directory, with both buckets."""
    storage = LocalStorage(
        root=tmp_path / "storage",
        public_url="http://testserver",
        secret_key=TEST_SIGNING_SECRET,
        artifacts_bucket=ARTIFACTS_BUCKET,
        logs_bucket=LOGS_BUCKET,
    )
    storage.ensure_buckets()
    return storage


def use_local_storage(settings, root, public_url):
    """Switch the application's storage to a local directory, and return it."""
    settings.ARKINDEX_STORAGE = "local"
    settings.ARKINDEX_STORAGE_DIR = str(root)
    settings.ARKINDEX_PUBLIC_URL = public_url
    settings.PONOS_ARTIFACTS_BUCKET = ARTIFACTS_BUCKET
    settings.PONOS_LOGS_BUCKET = LOGS_BUCKET
    # Changing these settings dropped the cached storage: this one is built from them
    storage = get_storage()
    storage.ensure_buckets()
    return storage


def use_s3_storage(settings, endpoint=None):
    """Switch the application's storage to S3 (moto's mock unless an endpoint is given)."""
    settings.ARKINDEX_STORAGE = "s3"
    settings.ARKINDEX_S3_ENDPOINT = endpoint
    settings.ARKINDEX_S3_REGION = "us-east-1"
    settings.ARKINDEX_S3_ACCESS_KEY = TEST_ACCESS_KEY
    settings.ARKINDEX_S3_SECRET_KEY = TEST_SECRET_KEY
    settings.PONOS_ARTIFACTS_BUCKET = ARTIFACTS_BUCKET
    settings.PONOS_LOGS_BUCKET = LOGS_BUCKET
    # Changing these settings dropped the cached storage: this one is built from them
    return get_storage()


@pytest.fixture
def local_app_storage(settings, tmp_path):
    """
    The application's storage, set to a local directory whose URLs Django's test client
    serves (``client.get(url)``). The storage views need no database.
    """
    return use_local_storage(settings, tmp_path / "storage", "http://testserver")


@pytest.fixture
def local_live_storage(request, settings, tmp_path):
    """
    The application's storage, set to a local directory served by the live test server.

    pytest-django's ``live_server`` is requested here, on demand, so that tests using
    other backends do not start it.
    """
    live_server = request.getfixturevalue("live_server")
    return use_local_storage(settings, tmp_path / "storage", live_server.url)
