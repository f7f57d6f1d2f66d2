"""The interface every storage backend implements, and the key layout of Ponos objects."""

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime


class StorageError(Exception):
    """
    A storage operation failed: the backend is unreachable, refused the request or an IO
    error happened. Callers catch exactly this one exception; the original error is kept as
    ``__cause__``.
    """


class InvalidKeyError(ValueError):
    """A key that a backend cannot store (the local backend refuses keys leaving its root)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD request tells about one stored object."""

    key: str
    size: int
    # Always timezone-aware, in UTC
    last_modified: datetime


def artifact_key(task_id, path: str) -> str:
    """Key of an artifact in the artifacts bucket: ``<task id>/<path>``."""
    return f"{task_id}/{path}"


def log_key(task_id) -> str:
    """Key of a task's log in the logs bucket: ``<task id>.log``."""
    return f"{task_id}.log"


# Digits of the offset in a log piece's key: zero-padded, so that key order is offset order
PIECE_OFFSET_DIGITS = 16


def log_piece_prefix(task_id) -> str:
    """Prefix of the pieces of a running task's log: ``<task id>.log.d/``."""
    return f"{task_id}.log.d/"


def log_piece_key(task_id, offset: int) -> str:
    """Key of the piece of a task's log starting at byte ``offset``:
    ``<task id>.log.d/<offset, 16 digits>``."""
    return f"{log_piece_prefix(task_id)}{offset:0{PIECE_OFFSET_DIGITS}d}"


@dataclass(frozen=True)
class Segment:
    """A part of a concatenation: ``length`` bytes of the object ``key`` from byte ``start``,
    or, without a key, the bytes ``data`` themselves (a line the server adds)."""

    key: str | None = None
    start: int = 0
    length: int = 0
    data: bytes = b""


class Storage(abc.ABC):
    """
    An object store holding the two Ponos buckets.

    Signed URLs are computed locally and never contact the store; every other method does,
    and raises :class:`StorageError` on any network or IO failure.
    """

    def __init__(self, *, artifacts_bucket: str, logs_bucket: str, url_expiry: int = 3600):
        self.artifacts_bucket = artifacts_bucket
        self.logs_bucket = logs_bucket
        self.url_expiry = int(url_expiry)

    @property
    def buckets(self) -> tuple[str, str]:
        """The names of the buckets this storage manages."""
        return (self.artifacts_bucket, self.logs_bucket)

    @abc.abstractmethod
    def presigned_put(
        self, bucket: str, key: str, content_type: str, content_length: int | None = None
    ) -> str:
        """
        A URL accepting one PUT of the object for ``url_expiry`` seconds. The upload must send
        exactly this ``Content-Type`` and, when ``content_length`` is given, exactly that many
        bytes.
        """

    @abc.abstractmethod
    def presigned_get(self, bucket: str, key: str) -> str:
        """A URL downloading the object for ``url_expiry`` seconds; it supports ``Range``."""

    @abc.abstractmethod
    def read_tail(self, bucket: str, key: str, nbytes: int) -> bytes | None:
        """
        The last ``nbytes`` bytes of an object (all of it when smaller) in a single ranged
        read, or None when the object does not exist.
        """

    @abc.abstractmethod
    def delete_many(self, bucket: str, keys: Iterable[str]) -> list[str]:
        """
        Delete objects, returning the keys that could not be deleted. A key that does not
        exist counts as deleted, so that an interrupted cleanup can simply be run again.
        """

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched lazily."""

    @abc.abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and modification time of an object, or None when it does not exist."""

    @abc.abstractmethod
    def copy(self, bucket: str, src_key: str, dst_key: str) -> None:
        """Copy an object within a bucket; the source must exist."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete one object; deleting a missing object succeeds."""

    @abc.abstractmethod
    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Store a whole object at once."""

    @abc.abstractmethod
    def concatenate(
        self, bucket: str, segments: list[Segment], dst_key: str, content_type: str
    ) -> int:
        """
        Store at ``dst_key`` the given byte ranges of other objects of the bucket, one after
        the other, streaming them: memory does not grow with the objects. Returns the size
        written. A segment whose object ends before ``start + length`` raises StorageError.
        """

    @abc.abstractmethod
    def ensure_buckets(self) -> None:
        """Create the managed buckets that do not exist yet."""
