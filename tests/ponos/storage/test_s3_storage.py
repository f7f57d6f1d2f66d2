"""What only the S3 backend does: batching, single ranged reads, signing, outages."""

import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from ponos.storage import StorageError
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET, make_s3_storage


def record_calls(storage, operation):
    """The parameters of every call to an S3 operation, as botocore sends them."""
    calls = []
    storage.client.meta.events.register(
        f"before-call.s3.{operation}", lambda params, **kwargs: calls.append(params)
    )
    return calls


def signed_query(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def unreachable_storage():
    """An S3Storage whose endpoint is a closed local port, failing fast."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The socket is closed: connections to this port are refused at once
    return make_s3_storage(
        f"http://127.0.0.1:{port}", max_retries=1, connect_timeout=1, read_timeout=5
    )


def test_delete_many_sends_batches_of_at_most_1000_keys(s3_storage):
    calls = record_calls(s3_storage, "DeleteObjects")

    failed = s3_storage.delete_many(ARTIFACTS_BUCKET, [f"task/{n}" for n in range(2500)])

    assert failed == []
    assert len(calls) == 3


def test_delete_many_does_not_report_keys_the_store_says_are_missing(s3_storage):
    # Some S3-compatible stores list missing keys among the errors: they are gone as asked
    def report_missing(parsed, **kwargs):
        parsed["Errors"] = [{"Key": "task/gone", "Code": "NoSuchKey", "Message": "Missing"}]

    s3_storage.client.meta.events.register("after-call.s3.DeleteObjects", report_missing)

    assert s3_storage.delete_many(ARTIFACTS_BUCKET, ["task/gone"]) == []


def test_read_tail_is_one_ranged_request(s3_storage):
    s3_storage.put_bytes(LOGS_BUCKET, "task.log", b"x" * 5000, "text/plain")
    calls = record_calls(s3_storage, "GetObject")

    s3_storage.read_tail(LOGS_BUCKET, "task.log", 100)

    assert len(calls) == 1
    assert calls[0]["headers"]["Range"] == "bytes=-100"


def test_listing_fetches_pages_as_it_goes(s3_storage):
    for n in range(1001):
        s3_storage.put_bytes(ARTIFACTS_BUCKET, f"task/{n:04}", b"", "text/plain")
    calls = record_calls(s3_storage, "ListObjectsV2")

    items = s3_storage.list_objects(ARTIFACTS_BUCKET, "task/")
    first = next(items)

    assert first.key == "task/0000"
    assert len(calls) == 1
    assert len(list(items)) == 1000
    assert len(calls) == 2


def test_signed_upload_binds_the_content_type_and_length(s3_storage):
    url = s3_storage.presigned_put(ARTIFACTS_BUCKET, "task/a b.txt", "text/plain", 42)

    query = signed_query(url)

    # moto accepts any upload, real S3 checks these: verify what was signed
    assert urlsplit(url).path == f"/{ARTIFACTS_BUCKET}/task/a%20b.txt"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"] == "content-length;content-type;host"
    assert query["X-Amz-Expires"] == "3600"


def test_signed_upload_without_a_length_binds_the_content_type_only(s3_storage):
    url = s3_storage.presigned_put(LOGS_BUCKET, "task.log", "text/plain")

    assert signed_query(url)["X-Amz-SignedHeaders"] == "content-type;host"


def test_signed_urls_live_as_long_as_configured():
    storage = make_s3_storage("http://127.0.0.1:9", url_expiry=120)

    url = storage.presigned_get(LOGS_BUCKET, "task.log")

    assert urlsplit(url).netloc == "127.0.0.1:9"
    assert signed_query(url)["X-Amz-Expires"] == "120"


def test_the_client_signs_with_sigv4_path_style_and_a_default_region():
    storage = make_s3_storage("http://127.0.0.1:9")

    config = storage.client.meta.config
    assert config.signature_version == "s3v4"
    assert config.s3["addressing_style"] == "path"
    assert storage.client.meta.region_name == "us-east-1"
    assert make_s3_storage(region="eu-west-3").client.meta.region_name == "eu-west-3"


def test_signing_needs_no_connection_to_the_store(unreachable_storage):
    assert unreachable_storage.presigned_get(LOGS_BUCKET, "task.log").startswith("http://")
    assert unreachable_storage.presigned_put(LOGS_BUCKET, "task.log", "text/plain")


@pytest.mark.parametrize(
    "operation",
    [
        lambda storage: storage.read_tail(LOGS_BUCKET, "task.log", 10),
        lambda storage: storage.delete_many(ARTIFACTS_BUCKET, ["task/a"]),
        lambda storage: list(storage.list_objects(ARTIFACTS_BUCKET)),
        lambda storage: storage.head(ARTIFACTS_BUCKET, "task/a"),
        lambda storage: storage.copy(ARTIFACTS_BUCKET, "task/a", "task/b"),
        lambda storage: storage.delete(ARTIFACTS_BUCKET, "task/a"),
        lambda storage: storage.put_bytes(ARTIFACTS_BUCKET, "task/a", b"x", "text/plain"),
        lambda storage: storage.ensure_buckets(),
    ],
    ids=["read_tail", "delete_many", "list", "head", "copy", "delete", "put", "ensure"],
)
def test_an_unreachable_store_fails_fast_with_a_storage_error(unreachable_storage, operation):
    start = time.monotonic()

    with pytest.raises(StorageError, match="Could not"):
        operation(unreachable_storage)

    assert time.monotonic() - start < 10
