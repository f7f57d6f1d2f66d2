"""
Signed download and upload URLs of the local storage backend.

Plain Django views rather than API views: they are called by agents and tasks with a signed
URL instead of credentials, and are not part of the API schema.
"""

import logging
import re

from django.http import FileResponse, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ponos.logs import piece_upload_refusal
from ponos.models import Task
from ponos.storage import get_storage
from ponos.storage.base import (
    ATTACHMENT,
    INLINE,
    InvalidKeyError,
    StorageError,
    served_content_type,
)
from ponos.storage.local import LocalStorage, TruncatedUploadError, check_key
from ponos.storage.signing import SignatureError

logger = logging.getLogger(__name__)

# A single byte range: "bytes=<first>-<last>", "bytes=<first>-" or "bytes=-<suffix length>"
SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

# The task id that starts the key of every log (`<id>.log`) and artifact (`<id>/<path>`)
TASK_KEY = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})[/.]")


class UnsatisfiableRange(Exception):
    """The requested range starts beyond the end of the object."""


def text_response(message: str, status: int) -> HttpResponse:
    """A short plain text answer telling the caller what went wrong."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


# Signed URLs replace both the CSRF token and the credentials
@csrf_exempt
@require_http_methods(["GET", "PUT"])
def object_view(request, bucket, key):
    """Download (GET) or upload (PUT) one object through a signed URL."""
    storage = get_storage()
    # These URLs only exist for the local backend and its two buckets
    if not isinstance(storage, LocalStorage) or bucket not in storage.buckets:
        return text_response("No such bucket.", 404)
    try:
        check_key(key)
    except InvalidKeyError as e:
        return text_response(str(e), 400)
    try:
        signed = storage.verify(request.method, bucket, key, request.GET)
    except SignatureError as e:
        return text_response(str(e), 403)
    if request.method == "PUT" and bucket == storage.logs_bucket:
        # Signed URLs outlive their task: a finished task's log does not change any more
        refusal = piece_upload_refusal(key)
        if refusal:
            return text_response(refusal, 403)
    try:
        if request.method == "PUT":
            return receive_object(request, storage, bucket, key, signed)
        return serve_object(request, storage, bucket, key, signed)
    except InvalidKeyError as e:
        # A symbolic link inside the bucket leading out of it
        return text_response(str(e), 400)
    except StorageError:
        logger.exception("Local storage failed on %s %s/%s", request.method, bucket, key)
        return text_response("The storage failed to handle this request.", 500)


def serve_object(request, storage, bucket, key, signed):
    """The whole object (200), or the single byte range the request asks for (206)."""
    opened = storage.open_object(bucket, key)
    if opened is None:
        return text_response("No such object.", 404)
    file, size = opened
    # The type signed into the URL, checked again: never one a browser would run scripts of
    content_type = served_content_type(signed.content_type)
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except UnsatisfiableRange:
        file.close()
        response = text_response("The requested range is beyond the end of the object.", 416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None:
        response = FileResponse(file, content_type=content_type)
    else:
        first, last = byte_range
        response = FileResponse(FileSlice(file, first, last - first + 1), status=206)
        # FileResponse cannot measure a slice: state its length and position
        response["Content-Type"] = content_type
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    protect(response, signed.disposition)
    return response


def protect(response, disposition: str | None):
    """
    Headers that keep an object from running anything on the application's origin: saved
    rather than shown unless the URL says inline, never sniffed into another type, and
    rendered (if at all) in a sandbox with no script, no form and no origin of its own.
    """
    if disposition and not disposition.startswith((ATTACHMENT, INLINE)):
        disposition = None
    response["Content-Disposition"] = disposition or ATTACHMENT
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    return response


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """
    The first and last byte positions of a single-range ``Range`` header, or None when the
    whole object should be sent: no header, a malformed one or several ranges, which HTTP
    lets a server ignore. Raises UnsatisfiableRange for a range past the end.
    """
    match = SINGLE_RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange
        return max(0, size - suffix), size - 1
    first = int(first)
    if last and int(last) < first:
        return None
    if first >= size:
        raise UnsatisfiableRange
    return first, min(int(last), size - 1) if last else size - 1


class FileSlice:
    """A read-only view of ``length`` bytes of an open file, streamed by FileResponse."""

    def __init__(self, file, offset: int, length: int):
        file.seek(offset)
        self.file = file
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.file.read(size)
        self.remaining -= len(data)
        return data

    def close(self):
        self.file.close()


def closed_task_error(key: str) -> str | None:
    """
    Why the task owning a key no longer accepts uploads, or None when it does: a URL
    signed while the task ran must not change its objects once it has finished. Keys the
    API signs all start with their task's id; any other key has no owner to check.
    """
    match = TASK_KEY.match(key)
    if match is None:
        return None
    task = Task.objects.filter(pk=match.group(1)).only("state").first()
    if task is None:
        return "No task owns this object any more: it cannot be uploaded."
    if not task.is_active:
        return f"The task is {task.state}: its logs and artifacts can no longer change."
    return None


def receive_object(request, storage, bucket, key, signed):
    """Store the request body as the object, within the limits the URL was signed with."""
    closed = closed_task_error(key)
    if closed:
        return text_response(closed, 403)
    # Compared as sent, like S3 compares the signed header
    if request.META.get("CONTENT_TYPE", "") != signed.content_type:
        return text_response(f"This URL needs the Content-Type {signed.content_type!r}.", 403)
    declared = request.META.get("CONTENT_LENGTH", "")
    if not declared.isascii() or not declared.isdigit():
        return text_response("Send the body with a Content-Length header.", 411)
    size = int(declared)
    if signed.content_length is not None and size > signed.content_length:
        # Refused before reading anything, so no byte beyond the limit reaches the disk
        return text_response(f"This URL accepts at most {signed.content_length} bytes.", 413)
    if signed.content_length is not None and size != signed.content_length:
        return text_response(f"This URL needs exactly {signed.content_length} bytes.", 400)
    try:
        # Django bounds request.read() to Content-Length: no more can arrive than declared
        storage.write_stream(bucket, key, request.read, size)
    except TruncatedUploadError as e:
        return text_response(str(e), 400)
    return HttpResponse(status=200)
