"""The process list, the process page with its task graph, and the process buttons."""

from django.contrib import messages
from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, F, Max, Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from arkindex.api.errors import json_error
from pages.access import action, page, process_for_manager
from pages.errors import NotFound, parse_id
from pages.graph import build_graph, render_svg
from ponos.models import ACTIVE_STATES, State, Task
from ponos.states import RESTARTABLE_STATES, SUMMARY_ORDER
from process.access import can_manage, get_process_for_reader
from process.api.processes import check_farm
from process.builder import retry_process
from process.filters import ProcessFilter
from process.models import NON_RUNNABLE_MODES, Process, ProcessMode
from process.processes import update_process

# ListProcesses' default page size: the list's refreshing script asks the API for the same
# page, with the same query string, and finds the same processes.
PAGE_SIZE = 20
# Rows of the task table of a process page; the graph shows the whole run.
TABLE_LIMIT = 200
STOPPABLE_STATES = frozenset({State.UNSCHEDULED, State.PENDING, State.RUNNING})
TASK_COLUMNS = [
    "id",
    "slug",
    "depth",
    "state",
    "chunk",
    "worker_run_id",
    "original_task_id",
    "started",
    "finished",
]


@page
def process_list(request):
    processes = Process.objects.readable_by(request.user).order_by("-created", "-id")
    filterset = ProcessFilter(request.GET, processes, request=request)
    context = {
        "filters": request.GET,
        "states": State.values,
        "modes": ProcessMode.values,
        "errors": [],
        "page": None,
    }
    if not filterset.is_valid():
        context["errors"] = [
            f"{name}: {message}" for name, errors in filterset.errors.items() for message in errors
        ]
        return render(request, "pages/process_list.html", context, status=400)
    paginator = Paginator(filterset.qs.select_related("farm", "creator", "corpus"), PAGE_SIZE)
    number = request.GET.get("page") or 1
    try:
        context["page"] = paginator.page(number)
    except InvalidPage:
        raise NotFound(
            f"There is no page {str(number)[:20]!r} of this list: pages go from 1 to "
            f"{paginator.num_pages}."
        )
    query = request.GET.copy()
    query.pop("page", None)
    context["query"] = query.urlencode()
    return render(request, "pages/process_list.html", context)


def run_summaries(process_id):
    """Each run of the process: its number, its tasks, its active tasks and latest expiry."""
    return list(
        Task.objects.filter(process_id=process_id)
        .order_by("run")
        .values("run")
        .annotate(
            count=Count("id"),
            active=Count("id", filter=Q(state__in=ACTIVE_STATES)),
            expiry=Max("expiry"),
        )
    )


def chosen_run(request, runs, last_run):
    """The run of ?run=, or the last run the process has tasks of."""
    numbers = [run["run"] for run in runs]
    value = request.GET.get("run")
    if value in (None, ""):
        if last_run in numbers:
            return last_run
        return numbers[-1] if numbers else None
    if not (value.isascii() and value.isdigit()) or int(value) not in numbers:
        shown = ", ".join(map(str, numbers)) or "none"
        raise NotFound(f"This process has no run {value[:20]!r}; its runs: {shown}.")
    return int(value)


def attention(task):
    """Sort key of the task table: failures first, then what runs, then the rest."""
    return (SUMMARY_ORDER.index(task["state"]), task["depth"], task["slug"])


@page
def process_detail(request, process_id):
    user = request.user
    queryset = Process.objects.select_related("farm", "creator", "corpus").annotate(
        managed=can_manage(user)
    )
    process = get_process_for_reader(user, parse_id(process_id, "process"), queryset)
    runs = run_summaries(process.pk)
    run = chosen_run(request, runs, process.last_run)
    tasks, edges = [], []
    if run is not None:
        tasks = list(
            Task.objects.filter(process_id=process.pk, run=run)
            .order_by("depth", "slug")
            .values(*TASK_COLUMNS, worker_slug=F("worker_run__version__worker__slug"))
        )
        edges = Task.parents.through.objects.filter(
            from_task__process_id=process.pk, from_task__run=run
        ).values_list("from_task_id", "to_task_id")
    active = any(summary["active"] for summary in runs if summary["run"] == process.last_run)
    restarted = {task["original_task_id"] for task in tasks if task["original_task_id"]}
    for task in tasks:
        task["can_stop"] = task["state"] in STOPPABLE_STATES
        task["can_restart"] = (
            run == process.last_run
            and task["state"] in RESTARTABLE_STATES
            and task["id"] not in restarted
        )
    table = sorted(tasks, key=attention)
    graph = build_graph(tasks, list(edges))
    context = {
        "process": process,
        "runs": runs,
        "run": run,
        "expiry": max((summary["expiry"] for summary in runs), default=None),
        "active": active,
        "retryable": process.started is not None and process.mode not in NON_RUNNABLE_MODES,
        "graph": graph,
        "svg": render_svg(graph, run),
        "tasks": table[:TABLE_LIMIT],
        "more_tasks": max(len(table) - TABLE_LIMIT, 0),
        "task_count": len(tasks),
    }
    return render(request, "pages/process_detail.html", context)


@never_cache
def process_states(request, process_id):
    """The states the process page refreshes, as JSON: the process and the tasks of a run."""
    if request.method not in ("GET", "HEAD"):
        response = json_error(405, "method_not_allowed", "This address answers to GET only.")
        response["Allow"] = "GET, HEAD"
        return response
    if not request.user.is_authenticated:
        return json_error(403, "not_authenticated", "Log in first.")
    try:
        pk = parse_id(process_id, "process")
    except NotFound as e:
        return json_error(404, "not_found", str(e))
    process = (
        Process.objects.readable_by(request.user)
        .filter(pk=pk)
        .values("state", "finished", "last_run")
        .first()
    )
    if process is None:
        return json_error(404, "not_found", "No process has this id, or you may not see it.")
    run = request.GET.get("run")
    if run is None:
        run = process["last_run"]
    elif not (run.isascii() and run.isdigit() and len(run) < 10):
        return json_error(404, "not_found", f"{run[:20]!r} is not the number of a run.")
    tasks = dict(
        Task.objects.filter(process_id=pk, run=run).values_list("id", "state")
        if run is not None
        else []
    )
    active = process["last_run"] is not None and (
        Task.objects.filter(
            process_id=pk, run=process["last_run"], state__in=ACTIVE_STATES
        ).exists()
    )
    return JsonResponse(
        {
            "state": process["state"],
            "active": active,
            "finished": process["finished"],
            "tasks": {str(pk): state for pk, state in tasks.items()},
        }
    )


def back_to(process_id):
    return redirect(reverse("pages:process", args=[process_id]))


@action
def process_stop(request, process_id):
    process = process_for_manager(request.user, process_id)
    # The API's own path: PartialUpdateProcess with {"state": "stopping"}.
    update_process(process.pk, state=State.STOPPING)
    messages.success(request, "The process is stopping: its agents stop its running tasks.")
    return back_to(process.pk)


@action
def process_retry(request, process_id):
    process = process_for_manager(request.user, process_id, Process.objects.select_related("farm"))
    # As RetryProcess without a farm: on the farm of its previous run, if still allowed.
    if process.farm is not None:
        check_farm(request.user, process.farm)
    retry_process(process.pk, farm=process.farm)
    messages.success(request, "A new run of the process has started.")
    return back_to(process.pk)
