"""The process list, and the rows its script refreshes (new processes, states, progress)."""

from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, F, Q
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.template.loader import render_to_string

from arkindex.api.conditional import client_has, make_etag
from pages.access import page
from pages.errors import NotFound
from pages.runs import progress
from ponos.models import State, Task
from process.filters import ProcessFilter
from process.models import Process, ProcessMode

# ListProcesses' default page size: the same filters give the same pages.
PAGE_SIZE = 20
LIST_COLUMNS = ["id", "revision", "state", "finished", "updated"]


def list_page(request):
    """The filtered page of processes the caller may read, or the filters' errors."""
    processes = Process.objects.readable_by(request.user).order_by("-created", "-id")
    filterset = ProcessFilter(request.GET, processes, request=request)
    if not filterset.is_valid():
        errors = [
            f"{name}: {message}" for name, errors in filterset.errors.items() for message in errors
        ]
        return None, errors
    paginator = Paginator(filterset.qs.select_related("farm", "creator", "corpus"), PAGE_SIZE)
    number = request.GET.get("page") or 1
    try:
        return paginator.page(number), []
    except InvalidPage:
        raise NotFound(
            f"There is no page {str(number)[:20]!r} of this list: pages go from 1 to "
            f"{paginator.num_pages}."
        )


def with_progress(processes):
    """Give each process of a page the progress of its last run: one aggregate query."""
    processes = list(processes)
    ids = [process.pk for process in processes if process.last_run is not None]
    rows = {}
    if ids:
        rows = {
            row["process_id"]: row
            for row in Task.objects.filter(process_id__in=ids, run=F("process__last_run"))
            .order_by()
            .values("process_id")
            .annotate(
                total=Count("id"),
                completed=Count("id", filter=Q(state=State.COMPLETED)),
                failed=Count("id", filter=Q(state=State.FAILED)),
                error=Count("id", filter=Q(state=State.ERROR)),
            )
        }
    for process in processes:
        row = rows.get(process.pk)
        process.progress = None
        if row:
            counts = {name: row[name] for name in ("completed", "failed", "error")}
            process.progress = progress(counts, row["total"])
    return processes


@page
def process_list(request):
    context = {
        "filters": request.GET,
        "states": State.values,
        "modes": ProcessMode.values,
        "errors": [],
        "page": None,
    }
    context["page"], context["errors"] = list_page(request)
    if context["errors"]:
        return render(request, "pages/process_list.html", context, status=400)
    context["processes"] = with_progress(context["page"])
    query = request.GET.copy()
    query.pop("page", None)
    context["query"] = query.urlencode()
    return render(request, "pages/process_list.html", context)


@page
def process_rows(request):
    """The rows of the list's page, as HTML, for its refreshing script: new processes
    appear, states and progress change. Conditional: the ETag names the rows' versions
    (each process's revision counts every change of its tasks) and their progress, so an
    unchanged page answers 304 without rendering."""
    current, errors = list_page(request)
    if errors:
        return HttpResponse("; ".join(errors), status=400, content_type="text/plain")
    processes = with_progress(current)
    etag = make_etag(
        "process-rows",
        request.GET.urlencode(),
        current.paginator.count,
        [[getattr(process, name) for name in LIST_COLUMNS] for process in processes],
        [process.progress for process in processes],
    )
    if client_has(request, etag):
        response = HttpResponseNotModified()
    else:
        html = render_to_string(
            "pages/process_rows.html", {"processes": processes, "filters": request.GET}, request
        )
        response = HttpResponse(html)
    response["ETag"] = etag
    return response
