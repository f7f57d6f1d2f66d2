"""Background jobs, enqueued once the current transaction commits.

With `ARKINDEX_REDIS_URL` set, jobs go to django-rq's "default" queue and an RQ worker runs
them; without it, they run synchronously in the request's process, right after the commit.
Either way a job never sees rows its transaction rolled back, and never runs before the rows
it was given are committed. Jobs take IDs and keys (never model instances), so that they
can be serialized and run on another machine.

A job may run more than once, so every job is idempotent. An RQ worker killed in the middle
of a job (a machine lost, `kill -9`) leaves it in RQ's registry of started jobs; the workers
of `Worker` below beat every few seconds while a job runs, so another worker finds that beat
missing within `ABANDONED_AFTER` seconds, at its next maintenance, and enqueues the job again
(each job has `JOB_RETRIES` retries). A worker started again does the same at its start.
"""

from importlib import import_module

import rq
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

# Times a job is enqueued again after its worker died under it (or after it raised)
JOB_RETRIES = 3
# Seconds between two beats of a worker running a job
HEARTBEAT_INTERVAL = 5
# Seconds without a beat after which a started job counts as abandoned
ABANDONED_AFTER = 15
# Seconds between two maintenances of an idle worker (where abandoned jobs are found)
MAINTENANCE_INTERVAL = 10
# The modules of the jobs enqueued by the project, loaded by workers before they fork
JOB_MODULES = ("ponos.logs", "process.jobs")


def _resolve(func):
    return import_string(func) if isinstance(func, str) else func


def enqueue(func, *args):
    """Run `func(*args)` in the background once the current transaction commits.

    `func` is a callable or its dotted path ("process.jobs.delete_storage_objects").
    """
    if settings.ARKINDEX_REDIS_URL:

        def send():
            import django_rq

            django_rq.get_queue("default").enqueue(func, *args, retry=rq.Retry(max=JOB_RETRIES))

        # robust: with Redis down the commit stands and the failure is logged; whatever the
        # job had to do is left to the periodic commands (cleanup's sweep for storage).
        transaction.on_commit(send, robust=True)
    else:
        # robust: a failing job is logged; it must not turn the committed request into a 500.
        transaction.on_commit(lambda: _resolve(func)(*args), robust=True)


class Worker(rq.Worker):
    """The RQ worker of `manage.py rqworker` (settings.RQ["WORKER_CLASS"]).

    RQ's own margins let a killed worker's job wait more than ten minutes: its beats last
    a minute longer than their interval, and an idle worker runs its maintenance every ten
    minutes, after a blocking wait of up to `--worker-ttl` seconds. Here a job's beat lasts
    `ABANDONED_AFTER` seconds, and an idle worker wakes up for maintenance every
    `MAINTENANCE_INTERVAL` seconds.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_INTERVAL)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs):
        # Every job runs in a work horse forked from this process: what jobs need is loaded
        # once here instead of in each horse (boto3's import and an S3 client cost a horse
        # more than a small job's own work). The storage opens no connection until a horse
        # uses it, so no horse shares one with another.
        for module in JOB_MODULES:
            import_module(module)
        from ponos.storage import get_storage

        get_storage()
        return super().work(*args, **kwargs)

    @property
    def dequeue_timeout(self):
        return min(super().dequeue_timeout, self.maintenance_interval)

    def get_heartbeat_ttl(self, job, working_time=0.0):
        grace = ABANDONED_AFTER - self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            # A job past its timeout is killed by its worker: its beat need not outlive it
            return int(min(job.timeout - working_time, self.job_monitoring_interval)) + grace
        return self.job_monitoring_interval + grace
