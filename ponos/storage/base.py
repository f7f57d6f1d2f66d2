"""The interface every storage backend implements, and the key layout of Ponos objects."""

import abc
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.utils.http import content_disposition_header

# What a download says when nothing better is known: browsers save it, never render it.
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Types a browser shows without running anything (SVG and HTML run scripts; XML can hold
# XHTML). Objects are served with their declared type only when it is one of these, and as
# DEFAULT_CONTENT_TYPE otherwise: tasks choose their artifacts' types, and the local backend
# serves them on the application's own origin.
INERT_CONTENT_TYPES = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/json",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-7z-compressed",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/avif",
        DEFAULT_CONTENT_TYPE,
    }
)

# A charset parameter kept on a served text type: a name, nothing that could end the header.
CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,39}")

# How a download is presented: "attachment" (saved) unless a caller asks for "inline"
ATTACHMENT = "attachment"
INLINE = "inline"


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


def served_content_type(declared: str | None) -> str:
    """The Content-Type an object is served with: its declared type when it is inert (with
    its charset, for text), DEFAULT_CONTENT_TYPE otherwise."""
    if not declared:
        return DEFAULT_CONTENT_TYPE
    main, *params = declared.split(";")
    main = main.strip().lower()
    if main not in INERT_CONTENT_TYPES:
        return DEFAULT_CONTENT_TYPE
    if main.startswith("text/"):
        for param in params:
            name, _, value = param.partition("=")
            value = value.strip().strip('"')
            if name.strip().lower() == "charset" and CHARSET.fullmatch(value):
                return f"{main}; charset={value.lower()}"
    return main


def disposition_header(disposition: str, filename: str | None = None) -> str:
    """The Content-Disposition of a download: attachment unless ``disposition`` is inline."""
    if disposition not in (ATTACHMENT, INLINE):
        raise ValueError(f"A disposition is {ATTACHMENT!r} or {INLINE!r}, not {disposition!r}")
    if filename:
        return content_disposition_header(disposition == ATTACHMENT, filename)
    return disposition


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
    def presigned_get(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        disposition: str = ATTACHMENT,
        filename: str | None = None,
    ) -> str:
        """
        A URL downloading the object for ``url_expiry`` seconds; it supports ``Range``.

        The response's ``Content-Type`` and ``Content-Disposition`` are signed into the URL:
        ``served_content_type(content_type)`` and ``disposition`` (``attachment`` or
        ``inline``) with ``filename``, whatever the object was uploaded with.
        """

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
