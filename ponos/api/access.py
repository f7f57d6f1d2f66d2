"""Fetching a task for the caller of a request: 404 when it may not read it."""

from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from arkindex.api.permissions import caller_kind
from ponos.models import Task
from ponos.rights import artifact_readable_tasks, manageable_tasks, readable_tasks


def calling_agent(request):
    return request.auth if caller_kind(request) == "agent" else None


def calling_task(request):
    return request.auth if caller_kind(request) == "task" else None


def get_task(request, task_id, queryset=None, rule=readable_tasks):
    """A task the caller may see through `rule` (readable_tasks by default), or a 404."""
    queryset = Task.objects.all() if queryset is None else queryset
    # No ordering: Task's default one would join the process for a single row.
    readable = queryset.filter(rule(request.user, calling_agent(request))).order_by()
    task = readable.filter(pk=task_id).first()
    if task is None:
        raise Http404
    return task


def get_task_for_artifacts(request, task_id, queryset=None):
    """A task whose artifacts the caller may list: readers, and agents of its farm."""
    return get_task(request, task_id, queryset, rule=artifact_readable_tasks)


def check_manager(request, task):
    """403 unless the calling user manages the task's process (stop, restart)."""
    if caller_kind(request) != "user":
        raise PermissionDenied("Only users with manage rights on the process can do this.")
    allowed = Task.objects.filter(manageable_tasks(request.user), pk=task.pk).exists()
    if not allowed:
        raise PermissionDenied(
            "This needs admin rights on the process's corpus, or to be its creator with "
            "contributor rights."
        )
