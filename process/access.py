"""Fetch processes and worker runs for a caller: 404 when unknown or unreadable, 403 when
readable but not manageable (SPEC §3). Views go through these functions only.
"""

from django.db.models import BooleanField, Case, Value, When
from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from arkindex.rights import manageable_processes, readable_processes
from process.models import Process, WorkerRun

MANAGE_DENIED = (
    "Managing this process needs admin rights on its corpus, or being its creator with at "
    "least contributor rights on its corpus."
)


def can_manage(user, prefix=""):
    """An annotation, true when `user` may manage the process (computed in the same query)."""
    condition = manageable_processes(user, prefix)
    if not condition:
        # Superusers get an empty filter, which When() refuses.
        return Value(True, output_field=BooleanField())
    return Case(
        When(condition, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def _get(queryset, pk):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def get_process_for_reader(user, process_id, queryset=None):
    queryset = Process.objects.all() if queryset is None else queryset
    return _get(queryset.filter(readable_processes(user)), process_id)


def get_process_for_manager(user, process_id, queryset=None):
    """A process the user may manage: one query, the right annotated on the row."""
    queryset = Process.objects.all() if queryset is None else queryset
    process = _get(
        queryset.filter(readable_processes(user)).annotate(managed=can_manage(user)),
        process_id,
    )
    if not process.managed:
        raise PermissionDenied(MANAGE_DENIED)
    return process


def get_worker_run_for_reader(user, worker_run_id, queryset=None):
    """A worker run of a process the user reads; `queryset` (by default with what its
    serializer shows) says what is loaded with it."""
    queryset = worker_run_queryset() if queryset is None else queryset
    return _get(queryset.filter(readable_processes(user, "process__")), worker_run_id)


def get_worker_run_for_manager(user, worker_run_id):
    queryset = WorkerRun.objects.filter(readable_processes(user, "process__")).annotate(
        managed=can_manage(user, "process__")
    )
    worker_run = _get(worker_run_queryset(queryset), worker_run_id)
    if not worker_run.managed:
        raise PermissionDenied(MANAGE_DENIED)
    return worker_run


def worker_run_queryset(queryset=None):
    """Worker runs with what their serializer shows, in three queries for any number."""
    queryset = WorkerRun.objects.all() if queryset is None else queryset
    return queryset.select_related("version__worker", "process").prefetch_related("parents")
