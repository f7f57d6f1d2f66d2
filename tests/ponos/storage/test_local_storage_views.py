"""The views serving the local backend's signed URLs, through Django's test client."""

import time
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client

from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET

SECRET = b"must never be served"


@pytest.fixture
def app_storage(local_app_storage, tmp_path):
    """The app's local storage, with a secret file next to (not inside) its buckets."""
    (tmp_path / "storage" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return local_app_storage


def content(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def put(client, url, data, content_type="text/plain", **extra):
    return client.put(url, data, content_type=content_type, **extra)


def raw_url(app_storage, method, raw_path, key, **upload):
    """
    A URL for a key written in the path exactly as given, with a valid signature: an
    attacker who obtained one (or a signing bug) must still not leave the bucket.
    """
    params = app_storage.signer.sign(method, ARTIFACTS_BUCKET, key, **upload)
    return f"/storage/{ARTIFACTS_BUCKET}/{raw_path}?{urlencode(params)}"


def test_an_uploaded_object_can_be_downloaded(app_storage, client):
    url = app_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.txt", "text/plain", 5)

    response = put(client, url, b"hello")

    assert response.status_code == 200
    download = client.get(
        app_storage.presigned_get(ARTIFACTS_BUCKET, "task/a.txt", content_type="text/plain")
    )
    assert download.status_code == 200
    assert download["Content-Type"] == "text/plain"
    assert download["Content-Length"] == "5"
    assert download["Accept-Ranges"] == "bytes"
    assert content(download) == b"hello"


def test_the_views_need_no_csrf_token(app_storage):
    client = Client(enforce_csrf_checks=True)
    url = app_storage.presigned_put(LOGS_BUCKET, "task.log", "text/plain")

    assert put(client, url, b"log").status_code == 200


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=-4", 206, b"6789", "bytes 6-9/10"),
        ("bytes=-100", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        # Several ranges, reversed or malformed ones: HTTP lets a server send everything
        ("bytes=0-1,4-5", 200, b"0123456789", None),
        ("bytes=5-2", 200, b"0123456789", None),
        ("lines=1-2", 200, b"0123456789", None),
        ("bytes=-", 200, b"0123456789", None),
    ],
)
def test_downloads_serve_a_single_byte_range(
    app_storage, client, header, status, body, content_range
):
    app_storage.put_bytes(LOGS_BUCKET, "task.log", b"0123456789", "text/plain")

    response = client.get(app_storage.presigned_get(LOGS_BUCKET, "task.log"), HTTP_RANGE=header)

    assert response.status_code == status
    assert content(response) == body
    assert response["Content-Length"] == str(len(body))
    assert response.get("Content-Range") == content_range


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=20-30"])
def test_a_range_beyond_the_end_is_unsatisfiable(app_storage, client, header):
    app_storage.put_bytes(LOGS_BUCKET, "task.log", b"0123456789", "text/plain")

    response = client.get(app_storage.presigned_get(LOGS_BUCKET, "task.log"), HTTP_RANGE=header)

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10"


def test_downloading_a_missing_object_or_a_prefix_is_not_found(app_storage, client):
    app_storage.put_bytes(ARTIFACTS_BUCKET, "task/dir/a.txt", b"x", "text/plain")

    assert client.get(app_storage.presigned_get(ARTIFACTS_BUCKET, "task/b.txt")).status_code == 404
    assert client.get(app_storage.presigned_get(ARTIFACTS_BUCKET, "task/dir")).status_code == 404


def test_an_unknown_bucket_is_not_found(app_storage, client):
    params = app_storage.signer.sign("GET", "other-bucket", "task.log")

    response = client.get(f"/storage/other-bucket/task.log?{urlencode(params)}")

    assert response.status_code == 404


def test_the_urls_do_not_exist_with_the_s3_backend(app_storage, client, settings):
    url = app_storage.presigned_get(LOGS_BUCKET, "task.log")
    settings.ARKINDEX_STORAGE = "s3"

    assert client.get(url).status_code == 404


@pytest.mark.parametrize("method", ["post", "delete", "patch"])
def test_only_get_and_put_are_allowed(app_storage, client, method):
    url = app_storage.presigned_get(LOGS_BUCKET, "task.log")

    assert getattr(client, method)(url).status_code == 405


def test_an_expired_url_is_refused(app_storage, client):
    app_storage.put_bytes(LOGS_BUCKET, "task.log", b"log", "text/plain")
    with time_machine.travel(int(time.time()), tick=False) as traveller:
        url = app_storage.presigned_get(LOGS_BUCKET, "task.log")
        traveller.shift(3600)
        assert client.get(url).status_code == 200

        traveller.shift(1)
        response = client.get(url)

    assert response.status_code == 403
    assert b"expired" in response.content


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("signature=", "signature=0"),
        lambda url: url.replace("expires=", "expires=9"),
        lambda url: url.replace("/task/a.txt", "/task/b.txt"),
        lambda url: url.replace("content_length=5", "content_length=50"),
        lambda url: url.replace("content_type=text%2Fplain", "content_type=text%2Fhtml"),
        lambda url: url.replace(ARTIFACTS_BUCKET, LOGS_BUCKET),
        lambda url: url.split("&signature=")[0],
    ],
    ids=["signature", "expiry", "key", "length", "content-type", "bucket", "unsigned"],
)
def test_a_tampered_url_is_refused(app_storage, client, tamper):
    url = tamper(app_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.txt", "text/plain", 5))

    response = put(client, url, b"hello", content_type="text/html")

    assert response.status_code == 403
    assert list(app_storage.list_objects(ARTIFACTS_BUCKET)) == []
    assert list(app_storage.list_objects(LOGS_BUCKET)) == []


def test_a_download_url_does_not_allow_an_upload(app_storage, client):
    url = app_storage.presigned_get(ARTIFACTS_BUCKET, "task/a.txt")

    assert put(client, url, b"hello").status_code == 403
    assert app_storage.head(ARTIFACTS_BUCKET, "task/a.txt") is None


def test_an_upload_of_another_content_type_is_refused(app_storage, client):
    url = app_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.json", "application/json", 2)

    response = put(client, url, b"{}", content_type="application/json; charset=utf-8")

    assert response.status_code == 403
    assert b"application/json" in response.content
    assert app_storage.head(ARTIFACTS_BUCKET, "task/a.json") is None


def test_an_upload_larger_than_signed_is_too_large(app_storage, client):
    url = app_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.txt", "text/plain", 5)

    response = put(client, url, b"hello world")

    assert response.status_code == 413
    assert app_storage.head(ARTIFACTS_BUCKET, "task/a.txt") is None


def test_an_upload_smaller_than_signed_is_refused(app_storage, client):
    url = app_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.txt", "text/plain", 5)

    response = put(client, url, b"hell")

    assert response.status_code == 400
    assert app_storage.head(ARTIFACTS_BUCKET, "task/a.txt") is None


def test_an_upload_needs_a_content_length(app_storage, client):
    url = app_storage.presigned_put(LOGS_BUCKET, "task.log", "text/plain")

    response = put(client, url, b"log", CONTENT_LENGTH="")

    assert response.status_code == 411
    assert app_storage.head(LOGS_BUCKET, "task.log") is None


def test_an_upload_is_not_limited_when_no_length_was_signed(app_storage, client):
    url = app_storage.presigned_put(LOGS_BUCKET, "task.log", "text/plain")

    assert put(client, url, b"x" * 100_000).status_code == 200
    assert app_storage.head(LOGS_BUCKET, "task.log").size == 100_000


# Paths as sent on the wire, and the key Django decodes from them
TRAVERSALS = [
    ("..%2F..%2Fsecret.txt", "../../secret.txt"),
    ("task/%2e%2e/%2e%2e/secret.txt", "task/../../secret.txt"),
    ("task%2F..%2F..%2Fsecret.txt", "task/../../secret.txt"),
    ("task/../../secret.txt", "task/../../secret.txt"),
    ("/secret.txt", "/secret.txt"),
    (f"%2F{'..%2F' * 8}etc%2Fpasswd", f"/{'../' * 8}etc/passwd"),
    ("task%5C..%5C..%5Csecret.txt", "task\\..\\..\\secret.txt"),
    ("secret.txt%00.log", "secret.txt\x00.log"),
]


@pytest.mark.parametrize(("raw_path", "key"), TRAVERSALS)
def test_a_download_cannot_leave_its_bucket_even_when_signed(app_storage, client, raw_path, key):
    response = client.get(raw_url(app_storage, "GET", raw_path, key))

    assert response.status_code == 400
    assert SECRET not in content(response)


@pytest.mark.parametrize(("raw_path", "key"), TRAVERSALS)
def test_an_upload_cannot_leave_its_bucket_even_when_signed(
    app_storage, client, tmp_path, raw_path, key
):
    url = raw_url(app_storage, "PUT", raw_path, key, content_type="text/plain")

    response = put(client, url, b"overwritten")

    assert response.status_code == 400
    assert (tmp_path / "secret.txt").read_bytes() == SECRET
    assert (tmp_path / "storage" / "secret.txt").read_bytes() == SECRET


def test_a_symbolic_link_cannot_lead_out_of_the_bucket(app_storage, client, tmp_path):
    (tmp_path / "storage" / ARTIFACTS_BUCKET / "link").symlink_to(tmp_path)

    response = client.get(app_storage.presigned_get(ARTIFACTS_BUCKET, "link/secret.txt"))

    assert response.status_code == 400
    assert SECRET not in content(response)
