"""Background jobs, enqueued once the current transaction commits.

With `ARKINDEX_REDIS_URL` set, jobs go to django-rq's "default" queue and an RQ worker runs
them; without it, they run synchronously in the request's process, right after the commit.
Either way a job never sees rows its transaction rolled back, and never runs before the rows
it was given are committed. Jobs take IDs and keys (never model instances), so that they
can be serialized and run on another machine.
"""

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string


def _resolve(func):
    return import_string(func) if isinstance(func, str) else func


def enqueue(func, *args):
    """Run `func(*args)` in the background once the current transaction commits.

    `func` is a callable or its dotted path ("process.jobs.delete_storage_objects").
    """
    if settings.ARKINDEX_REDIS_URL:

        def send():
            import django_rq

            django_rq.get_queue("default").enqueue(func, *args)

        # robust: with Redis down the commit stands and the failure is logged; whatever the
        # job had to do is left to the periodic commands (cleanup's sweep for storage).
        transaction.on_commit(send, robust=True)
    else:
        # robust: a failing job is logged; it must not turn the committed request into a 500.
        transaction.on_commit(lambda: _resolve(func)(*args), robust=True)
