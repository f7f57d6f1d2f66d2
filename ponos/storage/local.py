"""
Storage in a local directory: objects live in ``<root>/<bucket>/<key>`` and the application
serves them itself through signed, expiring URLs (see ``ponos.storage.views``).
"""

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from ponos.storage.base import (
    ATTACHMENT,
    InvalidKeyError,
    ObjectInfo,
    Segment,
    Storage,
    StorageError,
    disposition_header,
    served_content_type,
)
from ponos.storage.signing import SignedRequest, UrlSigner

# Where ponos.storage.urls is mounted in the root URL configuration
URL_PATH = "/storage/"

# Uploads are written to a temporary file next to their destination, then renamed over it
# so that readers never see half an object. Keys may not use this prefix in any segment.
TEMP_PREFIX = ".ponos-upload-"

CHUNK_SIZE = 1024 * 1024
# The longest key S3 accepts, in UTF-8 bytes
MAX_KEY_LENGTH = 1024
MAX_SEGMENT_BYTES = 255

# Errors that only mean "there is no object under this key": the path, or one of its parent
# directories, does not exist, is a directory (a prefix of other keys) or is a file.
MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


class TruncatedUploadError(Exception):
    """An upload stream ended before the announced number of bytes."""


def check_key(key: str) -> None:
    """Raise InvalidKeyError unless ``key`` names a file strictly inside its bucket."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("A key cannot be empty.")
    try:
        encoded = key.encode()
    except UnicodeEncodeError as e:
        raise InvalidKeyError("A key must be valid Unicode.") from e
    if len(encoded) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"A key cannot exceed {MAX_KEY_LENGTH} bytes.")
    if key.startswith("/"):
        raise InvalidKeyError("A key cannot be an absolute path.")
    if "\\" in key:
        raise InvalidKeyError("A key cannot contain a backslash.")
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise InvalidKeyError("A key cannot contain NUL or other control characters.")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError("A key cannot contain empty, '.' or '..' segments.")
        if segment.startswith(TEMP_PREFIX):
            raise InvalidKeyError(f"Key segments cannot start with {TEMP_PREFIX!r}.")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            # The longest file name the file systems we run on accept
            raise InvalidKeyError(f"A key's segments cannot exceed {MAX_SEGMENT_BYTES} bytes.")


@contextlib.contextmanager
def translate_os_errors(action: str):
    """Re-raise IO failures as a StorageError naming what was attempted."""
    try:
        yield
    except OSError as e:
        raise StorageError(f"Could not {action}: {e}") from e


def modified_at(status: os.stat_result) -> datetime:
    """The modification time of a file, timezone-aware in UTC."""
    return datetime.fromtimestamp(status.st_mtime, tz=UTC)


class LocalStorage(Storage):
    """
    Storage in a directory of the application's host, for development and small installs.

    Objects carry no metadata: the content type and disposition they are served with are
    signed into each download URL (see ``ponos.storage.views``).
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        public_url: str,
        secret_key: str,
        artifacts_bucket: str,
        logs_bucket: str,
        url_expiry: int = 3600,
    ):
        super().__init__(
            artifacts_bucket=artifacts_bucket, logs_bucket=logs_bucket, url_expiry=url_expiry
        )
        self.root = os.path.abspath(root)
        self.public_url = public_url.rstrip("/")
        self.signer = UrlSigner(secret_key, self.url_expiry)

    # Paths

    def bucket_dir(self, bucket: str) -> str:
        """The directory of a managed bucket; any other bucket is an error."""
        if bucket not in self.buckets:
            raise StorageError(f"Unknown bucket {bucket!r}.")
        return os.path.join(self.root, bucket)

    def path_for(self, bucket: str, key: str) -> str:
        """The resolved file path of an object, checked to stay inside its bucket."""
        check_key(key)
        bucket_dir = os.path.realpath(self.bucket_dir(bucket))
        path = os.path.realpath(os.path.join(bucket_dir, *key.split("/")))
        # check_key already refuses '..', but a symbolic link inside the root could still
        # lead elsewhere: the resolved path is what gets opened, so check that one.
        if not path.startswith(bucket_dir + os.sep):
            raise InvalidKeyError("This key leads outside of its bucket.")
        return path

    # Signed URLs

    def presigned_put(self, bucket, key, content_type, content_length=None):
        check_key(key)
        params = self.signer.sign("PUT", bucket, key, content_type, content_length)
        return self._url(bucket, key, params)

    def presigned_get(
        self, bucket, key, *, content_type=None, disposition=ATTACHMENT, filename=None
    ):
        check_key(key)
        params = self.signer.sign(
            "GET",
            bucket,
            key,
            content_type=served_content_type(content_type),
            disposition=disposition_header(disposition, filename),
        )
        return self._url(bucket, key, params)

    def _url(self, bucket: str, key: str, params: dict) -> str:
        self.bucket_dir(bucket)
        path = f"{quote(bucket, safe='')}/{quote(key, safe='/')}"
        return f"{self.public_url}{URL_PATH}{path}?{urlencode(params)}"

    def verify(self, method: str, bucket: str, key: str, params) -> SignedRequest:
        """Check a request's signed parameters; raises signing.SignatureError."""
        return self.signer.verify(method, bucket, key, params)

    # Reading

    def open_object(self, bucket: str, key: str):
        """An open binary file and its size, or None when the object does not exist."""
        path = self.path_for(bucket, key)
        with translate_os_errors(f"open {bucket}/{key}"):
            try:
                file = open(path, "rb")  # noqa: SIM115 (the caller closes it)
            except MISSING:
                return None
            try:
                # Size of the opened file itself, even if it is replaced meanwhile
                return file, os.fstat(file.fileno()).st_size
            except OSError:
                file.close()
                raise

    def read_tail(self, bucket, key, nbytes):
        if nbytes < 1:
            raise ValueError("read_tail needs a positive number of bytes")
        opened = self.open_object(bucket, key)
        if opened is None:
            return None
        file, size = opened
        with file, translate_os_errors(f"read the end of {bucket}/{key}"):
            file.seek(max(0, size - nbytes))
            return file.read(nbytes)

    def head(self, bucket, key):
        path = self.path_for(bucket, key)
        with translate_os_errors(f"read the metadata of {bucket}/{key}"):
            try:
                status = os.stat(path)
            except MISSING:
                return None
        if not stat.S_ISREG(status.st_mode):
            return None
        return ObjectInfo(key=key, size=status.st_size, last_modified=modified_at(status))

    def list_objects(self, bucket, prefix=""):
        # Start from the deepest directory the prefix names entirely, not from the bucket
        directory, _, _ = prefix.rpartition("/")
        if directory:
            try:
                start = self.path_for(bucket, directory)
            except InvalidKeyError:
                # No stored key can begin with a prefix that is not a valid key itself
                return
            relative = directory + "/"
        else:
            start, relative = self.bucket_dir(bucket), ""
        with translate_os_errors(f"list {bucket}/{prefix}*"):
            yield from self._walk(start, relative, prefix)

    def _walk(self, directory: str, relative: str, prefix: str) -> Iterator[ObjectInfo]:
        """Objects below a directory whose key starts with the prefix, in key order."""
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except MISSING:
            return
        # Sorting directories as "name/" lists keys in the same order as S3 does
        entries.sort(key=lambda entry: entry.name + ("/" if is_directory(entry) else ""))
        for entry in entries:
            key = relative + entry.name
            if is_directory(entry):
                # Only enter directories holding keys that may start with the prefix
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(entry.path, key + "/", prefix)
            elif self._is_object(entry) and key.startswith(prefix):
                try:
                    status = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    # Deleted since the directory was read
                    continue
                yield ObjectInfo(key=key, size=status.st_size, last_modified=modified_at(status))

    @staticmethod
    def _is_object(entry: os.DirEntry) -> bool:
        """Regular files are objects, except uploads still being written."""
        return entry.is_file(follow_symlinks=False) and not entry.name.startswith(TEMP_PREFIX)

    # Writing

    def put_bytes(self, bucket, key, data, content_type):
        self._write_atomically(bucket, key, lambda file: file.write(data))

    def write_stream(self, bucket: str, key: str, read: Callable[[int], bytes], size: int):
        """
        Store exactly ``size`` bytes taken from ``read(n)`` in chunks, never holding the
        whole object in memory. Raises TruncatedUploadError when the stream ends early; the
        previous object, if any, is then left untouched.
        """

        def fill(file):
            remaining = size
            while remaining:
                chunk = read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise TruncatedUploadError(f"The body ended {remaining} bytes too early.")
                file.write(chunk)
                remaining -= len(chunk)

        self._write_atomically(bucket, key, fill)

    def copy(self, bucket, src_key, dst_key):
        source_path = self.path_for(bucket, src_key)
        # A missing source is an error, as it is on S3
        with (
            translate_os_errors(f"copy {bucket}/{src_key} to {dst_key}"),
            open(source_path, "rb") as source,
        ):
            self._write_atomically(
                bucket, dst_key, lambda file: shutil.copyfileobj(source, file, CHUNK_SIZE)
            )

    def concatenate(self, bucket, segments: list[Segment], dst_key, content_type):
        written = 0

        def fill(file):
            nonlocal written
            for segment in segments:
                if segment.key is None:
                    file.write(segment.data)
                    written += len(segment.data)
                    continue
                with open(self.path_for(bucket, segment.key), "rb") as source:
                    source.seek(segment.start)
                    remaining = segment.length
                    while remaining:
                        chunk = source.read(min(CHUNK_SIZE, remaining))
                        if not chunk:
                            raise StorageError(
                                f"{bucket}/{segment.key} ends {remaining} bytes before the end "
                                "of its segment."
                            )
                        file.write(chunk)
                        remaining -= len(chunk)
                        written += len(chunk)

        self._write_atomically(bucket, dst_key, fill)
        return written

    def _write_atomically(self, bucket: str, key: str, fill: Callable) -> None:
        """Write a temporary file with ``fill(file)``, then rename it over the object."""
        path = self.path_for(bucket, key)
        with translate_os_errors(f"store {bucket}/{key}"):
            descriptor, temp_path = self._make_temp_file(os.path.dirname(path))
            try:
                with os.fdopen(descriptor, "wb") as file:
                    fill(file)
                os.replace(temp_path, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_path)
                raise

    @staticmethod
    def _make_temp_file(directory: str, attempts: int = 3) -> tuple[int, str]:
        for attempt in range(1, attempts + 1):
            os.makedirs(directory, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
            except FileNotFoundError:
                # A concurrent delete removed the directory as it became empty: create it
                # again, unless this keeps happening.
                if attempt == attempts:
                    raise

    # Deleting

    def delete(self, bucket, key):
        try:
            path = self.path_for(bucket, key)
        except InvalidKeyError:
            # No object can be stored under an invalid key: it is already absent
            return
        with translate_os_errors(f"delete {bucket}/{key}"):
            try:
                os.unlink(path)
            except MISSING:
                return
            self._prune_empty_dirs(os.path.dirname(path), os.path.realpath(self.bucket_dir(bucket)))

    def delete_many(self, bucket, keys: Iterable[str]) -> list[str]:
        # An unknown bucket fails the whole call, as a missing bucket does on S3
        self.bucket_dir(bucket)
        failed = []
        for key in keys:
            try:
                self.delete(bucket, key)
            except StorageError:
                failed.append(key)
        return failed

    @staticmethod
    def _prune_empty_dirs(directory: str, bucket_dir: str) -> None:
        """Remove directories left empty, up to the bucket's: else each task leaves one."""
        while directory.startswith(bucket_dir + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                # Not empty, or removed by someone else: the parents are not empty either
                return
            directory = os.path.dirname(directory)

    def ensure_buckets(self):
        for bucket in self.buckets:
            with translate_os_errors(f"create the bucket {bucket}"):
                os.makedirs(self.bucket_dir(bucket), exist_ok=True)


def is_directory(entry: os.DirEntry) -> bool:
    """A real directory: symbolic links are never followed while listing."""
    return entry.is_dir(follow_symlinks=False)
