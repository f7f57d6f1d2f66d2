"""Signed URLs used over HTTP, as agents and tasks use them, against both backends."""

import requests

from ponos.storage import artifact_key, log_key
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET

TIMEOUT = 10


def upload(url, data, content_type):
    return requests.put(url, data=data, headers={"Content-Type": content_type}, timeout=TIMEOUT)


def test_an_artifact_uploaded_to_a_signed_url_can_be_downloaded(http_storage):
    # Not a task's id: the local backend checks the state of a task owning the key
    # (test_served_objects), which these storage tests have no database for.
    task_id = "task-7"
    key = artifact_key(task_id, "results/page 1.json")
    data = b'{"text": "caf\xc3\xa9"}'
    put_url = http_storage.presigned_put(ARTIFACTS_BUCKET, key, "application/json", len(data))

    response = upload(put_url, data, "application/json")

    assert response.status_code == 200
    assert [item.key for item in http_storage.list_objects(ARTIFACTS_BUCKET)] == [
        f"{task_id}/results/page 1.json"
    ]
    download = requests.get(
        http_storage.presigned_get(ARTIFACTS_BUCKET, key, content_type="application/json"),
        timeout=TIMEOUT,
    )
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["Content-Type"] == "application/json"


def test_a_log_uploaded_again_replaces_the_previous_upload(http_storage):
    task_id = "task-7"
    # Agents upload the whole log again and again to a URL without a size
    url = http_storage.presigned_put(LOGS_BUCKET, log_key(task_id), "text/plain")

    assert upload(url, b"line 1\n", "text/plain").status_code == 200
    assert upload(url, b"line 1\nline 2\n", "text/plain").status_code == 200

    assert [item.key for item in http_storage.list_objects(LOGS_BUCKET)] == [f"{task_id}.log"]
    assert http_storage.read_tail(LOGS_BUCKET, log_key(task_id), 7) == b"line 2\n"


def test_signed_downloads_serve_byte_ranges(http_storage):
    http_storage.put_bytes(LOGS_BUCKET, "task.log", b"0123456789", "text/plain")
    url = http_storage.presigned_get(LOGS_BUCKET, "task.log")

    tail = requests.get(url, headers={"Range": "bytes=-4"}, timeout=TIMEOUT)
    middle = requests.get(url, headers={"Range": "bytes=2-5"}, timeout=TIMEOUT)
    whole = requests.get(url, timeout=TIMEOUT)

    assert (tail.status_code, tail.content) == (206, b"6789")
    assert tail.headers["Content-Range"] == "bytes 6-9/10"
    assert (middle.status_code, middle.content) == (206, b"2345")
    assert (whole.status_code, whole.content) == (200, b"0123456789")


def test_a_signed_download_of_a_missing_object_is_not_found(http_storage):
    url = http_storage.presigned_get(LOGS_BUCKET, "missing.log")

    # S3 answers 403 rather than 404 to a signer who may not list the bucket, and moto's
    # server answers 403 to a signed GET of a missing key carrying response-content-*
    # parameters (it takes them for the headers of a signed upload).
    assert requests.get(url, timeout=TIMEOUT).status_code in (403, 404)


def test_the_local_server_refuses_an_upload_of_another_content_type(local_live_storage):
    # moto does not check signatures: test_s3_storage checks what S3 URLs sign instead
    url = local_live_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.json", "application/json")

    response = upload(url, b"{}", "text/plain")

    assert response.status_code == 403
    assert "application/json" in response.text
    assert local_live_storage.head(ARTIFACTS_BUCKET, "task/a.json") is None


def test_the_local_server_refuses_a_body_larger_than_signed(local_live_storage):
    url = local_live_storage.presigned_put(ARTIFACTS_BUCKET, "task/a.bin", "image/png", 10)

    response = upload(url, b"x" * 11, "image/png")

    assert response.status_code == 413
    assert local_live_storage.head(ARTIFACTS_BUCKET, "task/a.bin") is None


def test_the_local_server_streams_a_large_upload_and_download(local_live_storage):
    data = bytes(range(256)) * 12_000  # 3 MB: several chunks each way
    url = local_live_storage.presigned_put(
        ARTIFACTS_BUCKET, "task/big.bin", "application/octet-stream", len(data)
    )

    assert upload(url, data, "application/octet-stream").status_code == 200

    download = requests.get(
        local_live_storage.presigned_get(ARTIFACTS_BUCKET, "task/big.bin"), timeout=TIMEOUT
    )
    assert download.content == data
    assert local_live_storage.head(ARTIFACTS_BUCKET, "task/big.bin").size == len(data)
