from django.db import IntegrityError, transaction
from django.db.models import Max

from process.models import Worker, WorkerVersion


def create_worker_version(worker_id, **fields):
    """Create the next version of a worker: 1, 2, … assigned under a lock of the worker row."""
    for _attempt in range(3):
        try:
            with transaction.atomic():
                Worker.objects.select_for_update().filter(pk=worker_id).first()
                last = WorkerVersion.objects.filter(worker_id=worker_id).aggregate(
                    last=Max("version")
                )["last"]
                return WorkerVersion.objects.create(
                    worker_id=worker_id, version=(last or 0) + 1, **fields
                )
        except IntegrityError:
            # SQLite ignores row locks: a concurrent creation took the number, try again.
            continue
    raise IntegrityError("Could not assign a version number; try again.")
