"""Artifacts: files tasks upload to `<task id>/<path>` in the artifacts bucket."""

from django.conf import settings

from ponos.models import Artifact
from ponos.storage import artifact_key, get_storage

MAX_PATH_LENGTH = 512


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
    return None


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

    Returns (artifact, created). update_or_create locks an existing row, and two first
    declarations of one path at once meet on the unique constraint of (task, path), where
    the loser updates the winner's row.
    """
    return Artifact.objects.update_or_create(
        task=task, path=path, defaults={"size": size, "content_type": content_type}
    )
