"""Background jobs of processes (enqueued with `arkindex.jobs.enqueue`; they take keys)."""

import logging

from django.conf import settings

from ponos.storage import StorageError, get_storage

logger = logging.getLogger(__name__)


def delete_storage_objects(artifact_keys, log_keys):
    """Delete the artifact and log objects of deleted tasks.

    The rows are gone already; objects this job cannot delete (storage down, a refused key)
    are only logged: cleanup's sweep deletes objects whose task no longer exists.
    """
    storage = get_storage()
    buckets = (
        (settings.PONOS_ARTIFACTS_BUCKET, artifact_keys),
        (settings.PONOS_LOGS_BUCKET, log_keys),
    )
    for bucket, keys in buckets:
        if not keys:
            continue
        try:
            failed = storage.delete_many(bucket, keys)
        except StorageError:
            logger.warning(
                "Could not delete %d objects from %s; cleanup's sweep will remove them.",
                len(keys),
                bucket,
                exc_info=True,
            )
            continue
        if failed:
            logger.warning(
                "%d of %d objects could not be deleted from %s (first: %s); cleanup's sweep "
                "will remove them.",
                len(failed),
                len(keys),
                bucket,
                failed[0],
            )
