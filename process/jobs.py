"""Background jobs of processes (enqueued with `arkindex.jobs.enqueue`; they take ids and
keys)."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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


def create_activities(process_id, run):
    """Create (start) or queue again and share out (retry) the worker activities of a run,
    then let its tasks start; on failure, end them in error. Idempotent: a job run again,
    or run for a run that is no longer the last, changes nothing.

    The process stays locked while the rows are written: its tasks all wait (unscheduled)
    until this commits, and no change of the process can interleave.
    """
    from ponos.states import abort_run, lock_process, open_run
    from process.activities import insert_activities, requeue_activities
    from process.models import ActivityState, Process, WorkerRun

    now = timezone.now()
    try:
        with transaction.atomic():
            process = lock_process(process_id)
            if process.last_run != run or process.activity_state != ActivityState.PENDING:
                return
            if run > 0:
                requeue_activities(process, now)
            worker_runs = WorkerRun.objects.filter(process_id=process.pk).order_by("created", "id")
            insert_activities(process, list(worker_runs.values_list("pk", flat=True)), now)
            Process.objects.filter(pk=process.pk).update(activity_state=ActivityState.READY)
            open_run(process.pk, run, now)
    except Exception:
        logger.exception("Could not create the worker activities of process %s", process_id)
        with transaction.atomic():
            process = lock_process(process_id)
            if process.last_run != run or process.activity_state != ActivityState.PENDING:
                return
            Process.objects.filter(pk=process.pk).update(activity_state=ActivityState.ERROR)
            abort_run(process.pk, run, now)
