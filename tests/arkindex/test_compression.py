"""Compression by the application: the pages' HTML and the API's JSON are gzipped for
clients that accept it; storage responses (streams, ranged reads) never are."""

import gzip
import json

import pytest
from django.test import Client

from ponos.models import State
from tests.conftest import client_for
from tests.pages.conftest import page_client
from tests.ponos.storage.fixtures import LOGS_BUCKET, local_app_storage  # noqa: F401 (a fixture)
from tests.process.helpers import make_run

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}


def test_the_api_json_is_compressed_and_stays_conditional(guest, process):
    make_run(process, **{f"task-{index:04}": State.COMPLETED for index in range(300)})
    client = client_for(guest)
    plain = client.get(f"/api/v1/process/{process.id}/")
    response = client.get(f"/api/v1/process/{process.id}/", **GZIP)
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    body = json.loads(gzip.decompress(response.content))
    assert body == plain.json()
    assert len(response.content) * 5 < len(plain.content)
    # The ETag of a compressed answer (made weak by the compression) still gives a 304.
    assert response["ETag"].startswith("W/")
    again = client.get(
        f"/api/v1/process/{process.id}/", HTTP_IF_NONE_MATCH=response["ETag"], **GZIP
    )
    assert again.status_code == 304 and again.content == b""


def test_pages_are_compressed(guest, process):
    make_run(process, **{f"task-{index:04}": State.COMPLETED for index in range(100)})
    response = page_client(guest).get(f"/ui/process/{process.id}/", **GZIP)
    assert response["Content-Encoding"] == "gzip"
    assert b"task-0099" in gzip.decompress(response.content)
    # So are the JSON states of the page.
    states = page_client(guest).get(f"/ui/process/{process.id}/states/", **GZIP)
    assert states["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(states.content))["tasks"]) == 100


def test_small_answers_and_clients_without_gzip_get_plain_bytes(guest, process):
    client = client_for(guest)
    assert not client.get(f"/api/v1/process/{process.id}/").has_header("Content-Encoding")
    health = Client().get("/health/", **GZIP)
    assert not health.has_header("Content-Encoding")


def test_storage_downloads_and_ranged_reads_are_never_compressed(local_app_storage):  # noqa: F811
    data = b"the same line of a log, again and again\n" * 2000
    local_app_storage.put_bytes(LOGS_BUCKET, "task.log", data, "text/plain")
    url = local_app_storage.presigned_get(LOGS_BUCKET, "task.log")
    client = Client()
    whole = client.get(url, **GZIP)
    assert whole.status_code == 200 and not whole.has_header("Content-Encoding")
    assert b"".join(whole.streaming_content) == data
    ranged = client.get(url, HTTP_RANGE="bytes=100-199", **GZIP)
    assert ranged.status_code == 206 and not ranged.has_header("Content-Encoding")
    assert b"".join(ranged.streaming_content) == data[100:200]
