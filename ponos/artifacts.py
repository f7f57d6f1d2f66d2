"""Artifacts: files tasks upload to `<task id>/<path>` in the artifacts bucket."""

import re

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from arkindex.api.errors import validation_error
from ponos.models import Artifact, Task
from ponos.storage import artifact_key, get_storage

MAX_PATH_LENGTH = 512
# The longest file name of common file systems, in bytes: the local backend and agents
# store each segment of the path as a file or directory name.
MAX_SEGMENT_BYTES = 255

# A MIME type as RFC 9110 writes it: type/subtype and parameters, tokens or quoted strings.
# No control character, so no CR/LF can reach a header.
MIME_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
QUOTED = r'"[^"\\\x00-\x1f\x7f]*"'
CONTENT_TYPE = re.compile(
    rf"{MIME_NAME}/{MIME_NAME}(?:[ \t]*;[ \t]*{MIME_NAME}=(?:{MIME_NAME}|{QUOTED}))*"
)


def path_errors(path):
    """Why a path cannot name an artifact (SPEC §6), or None when it can.

    Paths are relative POSIX paths: the same file must get the same key on S3 and in the
    local backend's directory, and agents write parents' artifacts under their data dir.
    """
    if not path:
        return "The path cannot be empty."
    if len(path) > MAX_PATH_LENGTH:
        return f"The path is {len(path)} characters long; the limit is {MAX_PATH_LENGTH}."
    if path.startswith("/"):
        return "The path must be relative: remove the leading '/'."
    if "\\" in path:
        return "The path cannot contain a backslash: separate directories with '/'."
    if "\x00" in path:
        return "The path cannot contain a NUL character."
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return "The path cannot contain control characters."
    segments = path.split("/")
    if ".." in segments:
        return "The path cannot contain '..' segments."
    if "" in segments or "." in segments:
        return "The path cannot contain empty or '.' segments (as in 'a//b', 'a/./b' or 'a/')."
    for segment in segments:
        size = len(segment.encode(errors="surrogatepass"))
        if size > MAX_SEGMENT_BYTES:
            return (
                f"Each segment of the path is at most {MAX_SEGMENT_BYTES} bytes in UTF-8; "
                f"{segment[:20]!r}... has {size}."
            )
    return None


def content_type_errors(content_type):
    """Why a declared content type cannot be stored, or None when it can."""
    if not CONTENT_TYPE.fullmatch(content_type):
        return (
            "The content type must be a MIME type such as 'application/json' or "
            "'text/plain; charset=utf-8', without control characters."
        )
    return None


def path_conflict(task, path):
    """An artifact of the task that is a directory of `path` or has it as a directory.

    `d1` and `d1/x.txt` cannot both be files: S3 would store both, the local backend and
    an agent downloading a task's artifacts cannot. Every backend refuses the second one.
    """
    segments = path.split("/")
    directories = ["/".join(segments[:end]) for end in range(1, len(segments))]
    return (
        Artifact.objects.filter(task=task)
        .filter(Q(path__in=directories) | Q(path__startswith=path + "/"))
        .values_list("path", flat=True)
        .first()
    )


def put_url(task, path, content_type, size):
    """A signed PUT of exactly `size` bytes of `content_type` to the artifact's key."""
    return get_storage().presigned_put(
        settings.PONOS_ARTIFACTS_BUCKET,
        artifact_key(task.id, path),
        content_type,
        content_length=size,
    )


def declare_artifact(task, path, content_type, size):
    """Create the artifact, or update the size and type of the one already at this path.

    Returns (artifact, created); a path conflicting with another artifact's is a 400.
    Declarations of one task are serialized on the task row, so that two conflicting paths
    declared at once cannot both be accepted; two first declarations of one path meet on
    the unique constraint of (task, path), where the loser updates the winner's row.
    """
    with transaction.atomic():
        Task.objects.select_for_update().filter(pk=task.pk).values_list("pk").first()
        conflict = path_conflict(task, path)
        if conflict is not None:
            raise validation_error(
                "path",
                f"The artifact {conflict!r} already exists: a path cannot be both a file and "
                "a directory of another artifact's path.",
            )
        return Artifact.objects.update_or_create(
            task=task, path=path, defaults={"size": size, "content_type": content_type}
        )
