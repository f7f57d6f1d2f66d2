"""What only the local backend does: key checks, signatures, files on disk."""

import io
import os
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from ponos.storage import InvalidKeyError, StorageError
from ponos.storage.local import TEMP_PREFIX, LocalStorage, TruncatedUploadError, check_key
from ponos.storage.signing import SignatureError, UrlSigner
from tests.ponos.storage.fixtures import ARTIFACTS_BUCKET, LOGS_BUCKET

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    "key",
    ["a", "task/dir/file.txt", "task/.hidden", "a..b/..c", "café/été.txt", "with space", "%2F"],
)
def test_ordinary_keys_are_accepted(key):
    check_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "..",
        "../x",
        "task/../../x",
        "task/./x",
        "task//x",
        "task/",
        "task\\..\\x",
        "task/a\x00b",
        "task/a\nb",
        f"task/{TEMP_PREFIX}1234",
        "x" * 1025,
        "task/\udcff",
    ],
)
def test_keys_that_could_leave_the_bucket_or_clash_are_refused(key):
    with pytest.raises(InvalidKeyError):
        check_key(key)


def test_a_symbolic_link_cannot_lead_out_of_the_bucket(local_storage, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, os.path.join(local_storage.root, ARTIFACTS_BUCKET, "link"))

    with pytest.raises(InvalidKeyError):
        local_storage.read_tail(ARTIFACTS_BUCKET, "link/secret.txt", 10)
    with pytest.raises(InvalidKeyError):
        local_storage.put_bytes(ARTIFACTS_BUCKET, "link/other.txt", b"x", "text/plain")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    # Listing does not follow it either
    assert list(local_storage.list_objects(ARTIFACTS_BUCKET)) == []


def test_listing_with_a_prefix_that_is_not_a_valid_key_finds_nothing(local_storage, tmp_path):
    (tmp_path / "storage" / "secret.txt").write_bytes(b"secret")

    assert list(local_storage.list_objects(ARTIFACTS_BUCKET, "../")) == []
    assert list(local_storage.list_objects(ARTIFACTS_BUCKET, "/etc/")) == []


@time_machine.travel(NOW, tick=False)
def test_upload_urls_name_the_object_and_every_signed_constraint(local_storage):
    url = local_storage.presigned_put(ARTIFACTS_BUCKET, "task/a b#1.txt", "text/plain", 42)

    parts = urlsplit(url)
    query = query_of(url)
    assert (parts.scheme, parts.netloc) == ("http", "testserver")
    assert parts.path == f"/storage/{ARTIFACTS_BUCKET}/task/a%20b%231.txt"
    assert query["content_type"] == "text/plain"
    assert query["content_length"] == "42"
    assert query["expires"] == str(int(NOW.timestamp()) + 3600)
    assert len(query["signature"]) == 64


def test_download_urls_carry_no_upload_constraint(local_storage):
    query = query_of(local_storage.presigned_get(LOGS_BUCKET, "task.log"))

    # The headers of the answer, not constraints on an upload: saved, as bytes, by default
    assert sorted(query) == ["content_type", "disposition", "expires", "signature"]
    assert query["content_type"] == "application/octet-stream"
    assert query["disposition"] == "attachment"


def test_urls_are_refused_for_keys_that_cannot_be_stored(local_storage):
    with pytest.raises(InvalidKeyError):
        local_storage.presigned_get(ARTIFACTS_BUCKET, "../ponos-logs/task.log")
    with pytest.raises(InvalidKeyError):
        local_storage.presigned_put(ARTIFACTS_BUCKET, "/etc/passwd", "text/plain")
    with pytest.raises(StorageError):
        local_storage.presigned_get("other-bucket", "task.log")


class TestSigner:
    signer = UrlSigner("secret", url_expiry=60)

    def signed(self, **changes):
        params = self.signer.sign("PUT", LOGS_BUCKET, "task.log", "text/plain", 10)
        params.update(changes)
        return params

    def test_a_signature_is_valid_until_it_expires(self):
        with time_machine.travel(NOW, tick=False) as traveller:
            params = self.signed()
            traveller.shift(60)
            signed = self.signer.verify("PUT", LOGS_BUCKET, "task.log", params)
            assert (signed.content_type, signed.content_length) == ("text/plain", 10)

            traveller.shift(1)
            with pytest.raises(SignatureError, match="expired"):
                self.signer.verify("PUT", LOGS_BUCKET, "task.log", params)

    @pytest.mark.parametrize(
        "changes",
        [
            {"signature": "0" * 64},
            {"signature": ""},
            {"expires": str(int(time.time()) + 7200)},
            {"expires": "soon"},
            {"content_type": "text/html"},
            {"content_length": "11"},
            {"content_length": "-1"},
        ],
    )
    def test_a_changed_parameter_invalidates_the_signature(self, changes):
        with pytest.raises(SignatureError):
            self.signer.verify("PUT", LOGS_BUCKET, "task.log", self.signed(**changes))

    def test_a_signature_holds_for_one_method_bucket_and_key(self):
        params = self.signed()

        for method, bucket, key in [
            ("GET", LOGS_BUCKET, "task.log"),
            ("PUT", ARTIFACTS_BUCKET, "task.log"),
            ("PUT", LOGS_BUCKET, "other.log"),
        ]:
            with pytest.raises(SignatureError):
                self.signer.verify(method, bucket, key, params)

    def test_a_signature_depends_on_the_secret_key(self):
        with pytest.raises(SignatureError):
            UrlSigner("other secret", 60).verify("PUT", LOGS_BUCKET, "task.log", self.signed())

    def test_a_secret_key_is_required(self):
        with pytest.raises(ValueError, match="secret"):
            UrlSigner("", 60)


def test_objects_are_files_under_the_bucket_directory(local_storage):
    local_storage.put_bytes(ARTIFACTS_BUCKET, "task/dir/a.txt", b"content", "text/plain")

    path = os.path.join(local_storage.root, ARTIFACTS_BUCKET, "task", "dir", "a.txt")
    with open(path, "rb") as file:
        assert file.read() == b"content"


def test_listing_skips_uploads_in_progress(local_storage):
    local_storage.put_bytes(ARTIFACTS_BUCKET, "task/a.txt", b"x", "text/plain")
    bucket_dir = os.path.join(local_storage.root, ARTIFACTS_BUCKET)
    with open(os.path.join(bucket_dir, "task", f"{TEMP_PREFIX}xyz"), "wb"):
        pass

    assert [item.key for item in local_storage.list_objects(ARTIFACTS_BUCKET)] == ["task/a.txt"]


def test_deleting_the_last_object_of_a_directory_removes_the_directory(local_storage):
    local_storage.put_bytes(ARTIFACTS_BUCKET, "task/dir/a.txt", b"x", "text/plain")
    local_storage.put_bytes(ARTIFACTS_BUCKET, "task/b.txt", b"x", "text/plain")

    local_storage.delete(ARTIFACTS_BUCKET, "task/dir/a.txt")
    assert os.listdir(os.path.join(local_storage.root, ARTIFACTS_BUCKET)) == ["task"]

    local_storage.delete_many(ARTIFACTS_BUCKET, ["task/b.txt"])
    assert os.listdir(os.path.join(local_storage.root, ARTIFACTS_BUCKET)) == []


def test_a_truncated_upload_leaves_the_previous_object_untouched(local_storage):
    local_storage.put_bytes(LOGS_BUCKET, "task.log", b"previous", "text/plain")

    with pytest.raises(TruncatedUploadError, match="too early"):
        local_storage.write_stream(LOGS_BUCKET, "task.log", io.BytesIO(b"short").read, 100)

    assert local_storage.read_tail(LOGS_BUCKET, "task.log", 100) == b"previous"
    assert os.listdir(os.path.join(local_storage.root, LOGS_BUCKET)) == ["task.log"]


def test_write_stream_reads_in_chunks(local_storage):
    data = os.urandom(3 * 1024 * 1024 + 5)
    stream = io.BytesIO(data)
    sizes = []

    def read(size):
        sizes.append(size)
        return stream.read(size)

    local_storage.write_stream(ARTIFACTS_BUCKET, "task/big.bin", read, len(data))

    assert max(sizes) == 1024 * 1024
    assert local_storage.read_tail(ARTIFACTS_BUCKET, "task/big.bin", len(data)) == data


def test_an_object_cannot_be_stored_below_another_object(local_storage):
    local_storage.put_bytes(ARTIFACTS_BUCKET, "task", b"x", "text/plain")

    with pytest.raises(StorageError):
        local_storage.put_bytes(ARTIFACTS_BUCKET, "task/a.txt", b"x", "text/plain")
    assert local_storage.head(ARTIFACTS_BUCKET, "task/a.txt") is None


def test_deleting_an_invalid_key_succeeds_as_no_object_can_have_it(local_storage):
    assert local_storage.delete_many(ARTIFACTS_BUCKET, ["../x", "a//b"]) == []


def test_buckets_are_created_under_the_root(tmp_path):
    storage = LocalStorage(
        root=tmp_path / "new",
        public_url="http://example.com/",
        secret_key="secret",
        artifacts_bucket="artifacts",
        logs_bucket="logs",
    )

    storage.ensure_buckets()

    assert sorted(os.listdir(tmp_path / "new")) == ["artifacts", "logs"]
    assert storage.presigned_get("logs", "a.log").startswith("http://example.com/storage/logs/")
