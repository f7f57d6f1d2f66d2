"""The task page (its log tail, relatives and artifacts) and the task buttons."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from pages.access import action, get_task_for_manager, get_task_for_reader, page
from ponos import additions, states
from ponos.additions import RESTARTABLE_STATES
from ponos.logs import mark_watched
from ponos.models import Artifact, State, Task
from ponos.tasks import full_log_url, log_tail, may_have_log

RELATIVE_COLUMNS = ["id", "slug", "state", "run", "depth"]


@page
def task_detail(request, task_id):
    queryset = Task.objects.select_related("agent", "process", "worker_run__version__worker").defer(
        "token_mask", "token_hash", "env"
    )
    task = get_task_for_reader(request.user, task_id, queryset)
    mark_watched(task)
    parents = list(Task.objects.filter(children=task.pk).order_by("slug").values(*RELATIVE_COLUMNS))
    children = list(Task.objects.filter(parents=task.pk).order_by("slug").values(*RELATIVE_COLUMNS))
    restarts = list(
        Task.objects.filter(original_task_id=task.pk).order_by("slug").values(*RELATIVE_COLUMNS)
    )
    artifacts = list(Artifact.objects.filter(task_id=task.pk).order_by("path", "id"))
    # Storage calls, outside any transaction: an unreachable store shows no log.
    log, log_exists = log_tail(task)
    context = {
        "task": task,
        "process": task.process,
        "parents": parents,
        "children": children,
        "restarts": restarts,
        "artifacts": artifacts,
        "log": log,
        "log_note": (
            "The log could not be read: the storage does not answer."
            if log_exists is None and may_have_log(task) and settings.PONOS_LOG_TAIL
            else "No log yet."
        ),
        "log_tail": settings.PONOS_LOG_TAIL,
        # As in RetrieveTask: no link while the log is known to be only in pieces
        "full_log": None if log_exists is False else full_log_url(task),
        "can_stop": task.state in (State.UNSCHEDULED, State.PENDING, State.RUNNING),
        "can_restart": (
            task.run == task.process.last_run and task.state in RESTARTABLE_STATES and not restarts
        ),
    }
    return render(request, "pages/task_detail.html", context)


def back_to(task_id):
    return redirect(reverse("pages:task", args=[task_id]))


@action
def task_stop(request, task_id):
    task = get_task_for_manager(request.user, task_id)
    # The API's own path: PartialUpdateTask with {"state": "stopping"}.
    states.user_set_state(task.pk, State.STOPPING)
    messages.success(request, "The task is stopping.")
    return back_to(task.pk)


@action
def task_restart(request, task_id):
    task = get_task_for_manager(request.user, task_id)
    new = additions.restart_task(task.pk)
    messages.success(request, f"{task.slug} was restarted as {new.slug}.")
    return back_to(new.pk)
