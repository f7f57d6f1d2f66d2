"""Objects served by the application never run in its origin (stored XSS through artifacts).

A task chooses its artifacts' contents and declared types: downloads are saved (attachment),
never sniffed, served with the declared type only when it is inert, and the local backend
adds a sandbox with no script. Logs still show as text in the browser.
"""

from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from ponos.models import Artifact
from ponos.storage import get_storage, log_key
from ponos.storage.base import served_content_type
from tests.conftest import agent_client, client_for
from tests.ponos.storage.fixtures import use_local_storage

pytestmark = pytest.mark.django_db

SCRIPT = b"<html><script>fetch('/api/v1/user/')</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def local(settings, tmp_path):
    return use_local_storage(settings, tmp_path / "storage", "http://testserver")


def upload_artifact(agent, task, path, data, content_type):
    client = agent_client(agent)
    body = {"path": path, "size": len(data), "content_type": content_type}
    response = client.post(f"/api/v1/task/{task.id}/artifacts/", body)
    assert response.status_code == 201, response.content
    upload = client.generic("PUT", response.json()["s3_put_url"], data, content_type=content_type)
    assert upload.status_code == 200, upload.content


def download(client, task, path):
    redirect = client.get(f"/api/v1/task/{task.id}/artifact/{quote(path)}")
    assert redirect.status_code == 302
    response = client.get(redirect["Location"])
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@pytest.mark.parametrize(
    "path, declared, data",
    [
        ("report.html", "text/html", SCRIPT),
        ("image.svg", "image/svg+xml", SVG),
        # A harmless declared type does not make the key's extension count
        ("report.html", "application/octet-stream", SCRIPT),
        ("page.xhtml", "application/xhtml+xml", SCRIPT),
    ],
)
def test_an_artifact_holding_a_script_is_saved_never_rendered(
    local, guest, agent, running_task, path, declared, data
):
    upload_artifact(agent, running_task, path, data, declared)

    response, body = download(client_for(guest), running_task, path)

    assert response.status_code == 200
    assert body == data
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert path in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "sandbox" in csp and "allow-scripts" not in csp


def test_an_inert_artifact_keeps_its_declared_type_but_is_still_an_attachment(
    local, guest, agent, running_task
):
    upload_artifact(agent, running_task, "out/page.png", b"\x89PNG....", "image/png")

    response, body = download(client_for(guest), running_task, "out/page.png")

    assert body == b"\x89PNG...."
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="page.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_range_of_an_artifact_carries_the_same_headers(local, guest, agent, running_task):
    upload_artifact(agent, running_task, "r.html", SCRIPT, "text/html")
    redirect = client_for(guest).get(f"/api/v1/task/{running_task.id}/artifact/r.html")

    response = client_for(guest).get(redirect["Location"], HTTP_RANGE="bytes=0-5")

    assert response.status_code == 206
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_full_log_shows_as_text_in_the_browser_in_a_sandbox(local, guest, running_task):
    local.put_bytes(local.logs_bucket, log_key(running_task.id), b"<script>x</script>\n", "")
    url = client_for(guest).get(f"/api/v1/task/{running_task.id}/").json()["full_log"]

    response = client_for(guest).get(url)

    assert b"".join(response.streaming_content) == b"<script>x</script>\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == "inline"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_served_type_and_disposition_cannot_be_changed_in_the_url(
    local, guest, agent, running_task
):
    upload_artifact(agent, running_task, "r.html", SCRIPT, "text/html")
    redirect = client_for(guest).get(f"/api/v1/task/{running_task.id}/artifact/r.html")
    url = redirect["Location"].replace("application%2Foctet-stream", "text%2Fhtml")
    assert url != redirect["Location"]

    assert client_for(guest).get(url).status_code == 403
    inline = redirect["Location"].replace("disposition=attachment", "disposition=inline")
    assert client_for(guest).get(inline).status_code == 403


@pytest.mark.parametrize(
    "declared, served",
    [
        ("text/plain", "text/plain"),
        ("TEXT/PLAIN; charset=ISO-8859-1", "text/plain; charset=iso-8859-1"),
        ('text/plain; charset="utf-8"', "text/plain; charset=utf-8"),
        ("text/plain; charset=utf-8<script>", "text/plain"),
        ("application/json; charset=utf-8", "application/json"),
        ("application/pdf", "application/pdf"),
        ("image/jpeg", "image/jpeg"),
        ("image/svg+xml", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_only_inert_types_are_served_as_declared(declared, served):
    assert served_content_type(declared) == served


def test_s3_download_urls_sign_the_type_and_disposition(s3, guest, running_task):
    Artifact.objects.create(task=running_task, path="a/r.html", size=3, content_type="text/html")

    location = client_for(guest).get(f"/api/v1/task/{running_task.id}/artifact/a/r.html")[
        "Location"
    ]

    query = parse_qs(urlsplit(location).query)
    assert query["response-content-type"] == ["application/octet-stream"]
    assert query["response-content-disposition"] == ['attachment; filename="r.html"']
    # In the query string of a SigV4 URL, hence covered by X-Amz-Signature
    assert "X-Amz-Signature" in query


def test_s3_full_log_urls_sign_text_inline(s3, guest, running_task):
    s3.put_bytes(s3.logs_bucket, log_key(running_task.id), b"<script>x</script>\n", "text/html")
    url = client_for(guest).get(f"/api/v1/task/{running_task.id}/").json()["full_log"]

    query = parse_qs(urlsplit(url).query)
    assert query["response-content-type"] == ["text/plain; charset=utf-8"]
    assert query["response-content-disposition"] == ["inline"]


def test_s3_serves_the_signed_headers_whatever_the_upload_said(s3_http):
    storage = get_storage()
    key = "task/report.html"
    put = storage.presigned_put(storage.artifacts_bucket, key, "text/html", len(SCRIPT))
    upload = requests.put(put, data=SCRIPT, headers={"Content-Type": "text/html"}, timeout=10)
    assert upload.status_code == 200

    url = storage.presigned_get(storage.artifacts_bucket, key, content_type="text/html")
    response = requests.get(url, timeout=10)

    assert response.content == SCRIPT
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == "attachment"
