"""Backends for the storage suites: each behaviour is checked against S3 and the local one."""

import pytest

from tests.ponos.storage.fixtures import (  # noqa: F401 (fixtures are found by name)
    local_app_storage,
    local_live_storage,
    local_storage,
    moto_server,
    s3_server_storage,
    s3_storage,
)


@pytest.fixture(params=["s3", "local"])
def storage(request):
    """Each backend in turn, called directly (S3 through moto's in-process mock)."""
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture(params=["s3-moto-server", "local-live-server"])
def http_storage(request):
    """Each backend in turn, with signed URLs that work over HTTP."""
    name = {"s3-moto-server": "s3_server_storage", "local-live-server": "local_live_storage"}
    return request.getfixturevalue(name[request.param])
