"""The process list, the process page with its task graph, and the process buttons."""

from django.contrib import messages
from django.db.models import Count, Max, Q
from django.http import HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import ValidationError

from arkindex.api.conditional import client_has, make_etag
from arkindex.api.errors import flatten, json_error
from pages.access import action, page, process_for_manager
from pages.agents import age
from pages.errors import NotFound, parse_id
from pages.graph import build_graph, node_id, render_svg
from pages.runs import (
    FAILURE_LOGS,
    TableFilters,
    bar,
    count_links,
    failures,
    progress,
    run_tasks,
    state_counts,
    table_page,
    worker_runs,
)
from ponos.additions import RESTARTABLE_STATES
from ponos.models import ACTIVE_STATES, State, Task
from process.access import can_manage, get_process_for_reader
from process.api.processes import check_farm
from process.builder import retry_process
from process.conditional import current_process_etag
from process.models import NON_RUNNABLE_MODES, Process
from process.processes import update_process

STOPPABLE_STATES = frozenset({State.UNSCHEDULED, State.PENDING, State.RUNNING})
# Worker runs listed at first; `?worker_runs=all` lists every one (a process of 500 worker
# runs would otherwise spend most of its page on them).
WORKER_RUNS = 50


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


def graph_states(tasks, graph):
    """What the script refreshes in the graph: the state of each single-task node, and the
    count of each state in each grouped node."""
    singles, groups = {}, {}
    for node in graph.nodes:
        if node.single:
            singles[str(node.task["id"])] = node.task["state"]
        else:
            groups[node_id(node.key)] = dict(node.counts)
    return singles, groups


@page
def process_detail(request, process_id):
    user = request.user
    queryset = Process.objects.select_related("farm", "creator", "corpus").annotate(
        managed=can_manage(user)
    )
    process = get_process_for_reader(user, parse_id(process_id, "process"), queryset)
    runs = run_summaries(process.pk)
    run = chosen_run(request, runs, process.last_run)
    filters = TableFilters(request.GET)
    tasks = run_tasks(process.pk, run)
    edges = []
    if run is not None:
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
    graph = build_graph(tasks, list(edges))
    counts = state_counts(tasks)
    table = table_page(tasks, filters)
    shown_runs = worker_runs(process.pk, tasks)
    filtered_run = next(
        (item for item in shown_runs if item["id"] == filters.values.get("worker_run")), None
    )
    context = {
        "process": process,
        "runs": runs,
        "run": run,
        "expiry": max((summary["expiry"] for summary in runs), default=None),
        "active": active,
        "retryable": process.started is not None and process.mode not in NON_RUNNABLE_MODES,
        "graph": graph,
        "svg": render_svg(graph, run, process.pk),
        "task_count": len(tasks),
        "counts": count_links(counts, filters, run),
        "all_link": filters.link(run, state=None),
        "clear_link": f"?run={run}#tasks",
        "failed_link": filters.link(run, state=State.FAILED),
        "error_link": filters.link(run, state=State.ERROR) if counts.get(State.ERROR) else None,
        "chunk_choices": range(1, process.chunks + 1),
        "states_url": states_url(process.pk, run, request),
        "previous_link": filters.link(run, page=table["number"] - 1),
        "next_link": filters.link(run, page=table["number"] + 1),
        "progress": progress(counts, len(tasks)),
        "progress_bar": bar(counts, len(tasks)),
        "filters": filters,
        "filtered_run": filtered_run,
        "states": State.values,
        "table": table,
        "failures": failures(tasks),
        "failure_logs": FAILURE_LOGS,
        "worker_runs": shown_runs,
        "worker_runs_shown": (
            shown_runs if request.GET.get("worker_runs") == "all" else shown_runs[:WORKER_RUNS]
        ),
        "elapsed": elapsed(process.started, process.finished),
    }
    # Storage reads (the failure summary) are done: nothing above runs in a transaction.
    return render(request, "pages/process_detail.html", context)


def states_url(process_id, run, request):
    """The address the page's script polls: the states of the page's run and table page."""
    query = request.GET.copy()
    if run is not None:
        query["run"] = run
    encoded = query.urlencode()
    return reverse("pages:process-states", args=[process_id]) + (f"?{encoded}" if encoded else "")


def elapsed(started, finished):
    """The duration of a process or task: until it finished, or until now while active."""
    if started is None:
        return None
    return age((finished or timezone.now()) - started)


def json_refusal(exc):
    """A 400 in the API's error format, naming the refused filter."""
    errors = [
        {"code": code, "detail": detail, "attr": attr} for code, detail, attr in flatten(exc.detail)
    ]
    return JsonResponse({"type": "validation_error", "errors": errors}, status=400)


@never_cache
def process_states(request, process_id):
    """What the process page refreshes, as JSON: the process, its counts, the nodes of the
    graph and the rows of the table's page (the page's own query string).

    Conditional: its ETag is the process's version (`process.conditional`: its revision,
    bumped by every change of the process or of its tasks), so a poll while nothing changed
    costs the session, the user and one statement, and answers 304."""
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
    version = current_process_etag(request.user, pk)
    if version is None:
        return json_error(404, "not_found", "No process has this id, or you may not see it.")
    etag = make_etag("process-page-states", version, request.GET.urlencode())
    if client_has(request, etag):
        return states_tagged(HttpResponseNotModified(), etag)
    process = (
        Process.objects.readable_by(request.user)
        .filter(pk=pk)
        .values("state", "started", "finished", "last_run")
        .first()
    )
    if process is None:
        return json_error(404, "not_found", "No process has this id, or you may not see it.")
    run = request.GET.get("run")
    if run is None:
        run = process["last_run"]
    elif not (run.isascii() and run.isdigit() and len(run) < 10):
        return json_error(404, "not_found", f"{run[:20]!r} is not the number of a run.")
    try:
        filters = TableFilters(request.GET)
    except ValidationError as e:
        return json_refusal(e)
    tasks = run_tasks(pk, run)
    active = process["last_run"] is not None and (
        Task.objects.filter(
            process_id=pk, run=process["last_run"], state__in=ACTIVE_STATES
        ).exists()
    )
    graph = build_graph(tasks, [])
    singles, groups = graph_states(tasks, graph)
    try:
        rows = table_page(tasks, filters)["rows"]
    except ValidationError:
        rows = []
    counts = state_counts(tasks)
    body = {
        "state": process["state"],
        "active": active,
        "started": process["started"],
        "finished": process["finished"],
        "counts": counts,
        "progress": progress(counts, len(tasks)),
        "tasks": {
            **singles,
            **{str(task["id"]): task["state"] for task in rows},
        },
        "groups": groups,
        "rows": {
            str(task["id"]): {"started": task["started"], "finished": task["finished"]}
            for task in rows
        },
    }
    return states_tagged(JsonResponse(body), etag)


def states_tagged(response, etag):
    response["ETag"] = etag
    return response


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
    # As RetryProcess with an empty body: on the farm of its previous run, if still allowed,
    # and with worker activities (its default), so that a workers process processes again
    # only the elements whose activity did not end `processed`.
    if process.farm is not None:
        check_farm(request.user, process.farm)
    retry_process(process.pk, farm=process.farm, worker_activity=True)
    messages.success(request, "A new run of the process has started.")
    return back_to(process.pk)
