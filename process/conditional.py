"""What versions the bodies of RetrieveProcess, for conditional requests (see
`arkindex.api.conditional`).

A RetrieveProcess body shows the process row, its farm's and its creator's names, and every
task of every run. Every change of the row or of its tasks is made under the process lock,
which bumps `Process.revision` in the same statement (`ponos.states.lock_process`); cleanup
bumps it when it deletes tasks. One task change is made without that lock: an agent
claiming a pending task (`ponos.assignment.claim`), which never waits on a process row.
A claim only ever adds to the process's claimed pending tasks, and only changes made under
the lock ever take tasks out of that set, so the pair (revision, claimed pending tasks)
never repeats: it names one version of the tasks. The names of the farm and the creator
complete the version. It is read in one statement, against an index of claimed tasks.
"""

import uuid
from functools import lru_cache
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from arkindex.api.conditional import make_etag
from arkindex.rights import readable_processes
from ponos.models import State, Task
from process.models import Process


def claimed_tasks():
    """The number of pending tasks of the outer process that an agent claimed
    (task_claimed_idx)."""
    claimed = (
        Task.objects.filter(process_id=OuterRef("pk"), state=State.PENDING, agent__isnull=False)
        .order_by()
        .values("process_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(claimed, output_field=IntegerField()), Value(0))


def process_etag(process_id, revision, claimed, farm_name, creator_name):
    return make_etag("process", str(process_id), revision, claimed, farm_name, creator_name)


class Caller(NamedTuple):
    """What the rights filters read of a user: the statement below is built once per caller."""

    pk: object
    is_admin: bool
    is_authenticated: bool = True


# Stands for the process id in the cached statement; replaced by the real one at each call.
PLACEHOLDER = uuid.UUID(int=0)


@lru_cache(maxsize=1024)
def version_statement(caller):
    """SQL and parameters reading a process's version as `caller` may read it.

    Polls repeat this one statement: building it through the ORM (the rights filter, the
    claimed-tasks subquery, two joins) cost more than running it, so it is built once per
    caller. Its text depends only on the caller; the data are read at each run.
    """
    queryset = (
        Process.objects.filter(readable_processes(caller), pk=PLACEHOLDER)
        .order_by()
        .annotate(claimed=claimed_tasks())
        .values_list("revision", "claimed", "farm__name", "creator__display_name")
    )[:1]
    sql, params = queryset.query.sql_with_params()
    if list(params).count(db_id(PLACEHOLDER)) != 1:
        raise AssertionError("The process id must appear once among the parameters.")
    return sql, tuple(params)


def db_id(process_id):
    """A process id as the database takes it in parameters: a UUID for PostgreSQL, 32 hex
    digits for SQLite (the statement's parameters are already in that form)."""
    return Process._meta.pk.get_db_prep_value(process_id, connection)


def current_process_etag(user, process_id):
    """The ETag of the process as `user` would read it now, or None when the user may not
    read it (or it does not exist): one statement."""
    sql, params = version_statement(Caller(user.pk, bool(user.is_admin)))
    placeholder = db_id(PLACEHOLDER)
    params = [db_id(process_id) if value == placeholder else value for value in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return process_etag(process_id, *row)


def loaded_process_etag(process):
    """The ETag of a process read with its farm, its creator and its tasks (`load_tasks`).

    The revision was read before the tasks: a change landing between the two reads gives
    the body an older revision than it shows, so the next poll gets it again, never the
    other way round.
    """
    claimed = sum(
        1
        for task in process.loaded_tasks
        if task["state"] == State.PENDING and task["agent_id"] is not None
    )
    farm_name = process.farm.name if process.farm_id else None
    return process_etag(
        process.pk, process.revision, claimed, farm_name, process.creator.display_name
    )
