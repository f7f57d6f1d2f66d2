"""What the process page shows of one run, computed once from its tasks' rows: counts per
state, progress, the filtered and paginated task table, the failure summary, the worker
runs. Everything here works on rows already read (one query for the run's tasks), so the
page's number of queries does not depend on the number of tasks."""

import uuid
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import urlencode

from django.db.models import F
from rest_framework.exceptions import ValidationError

from pages.graph import DONE, FAILED_STATES, bar_segments, natural, run_name
from ponos.models import ACTIVE_STATES, FINAL_STATES, State, Task
from ponos.tasks import log_tail
from process.models import WorkerRun

TASK_COLUMNS = [
    "id",
    "slug",
    "depth",
    "state",
    "chunk",
    "worker_run_id",
    "original_task_id",
    "agent_id",
    "started",
    "finished",
]
# Rows of one page of the task table.
TABLE_PAGE_SIZE = 50
# Failed tasks whose last log lines the failure summary shows: one storage read each.
FAILURE_LOGS = 3
FAILURE_LOG_LINES = 8
# The states a count links to, in the order of the page.
COUNT_ORDER = [
    "running",
    "failed",
    "error",
    "cancelled",
    "stopping",
    "stopped",
    "pending",
    "unscheduled",
    "completed",
]


def task_order(task):
    return (task["depth"], natural(task["slug"]))


def run_tasks(process_id, run):
    """The rows of the tasks of a run, in the table's natural order: one query."""
    if run is None:
        return []
    # Plain tuples made into dicts here: twice as fast as .values() over 5,000 rows.
    rows = [
        dict(zip(TASK_COLUMNS, row, strict=True))
        for row in Task.objects.filter(process_id=process_id, run=run)
        .order_by()
        .values_list(*TASK_COLUMNS)
    ]
    rows.sort(key=task_order)
    return rows


def state_counts(tasks):
    counts = defaultdict(int)
    for task in tasks:
        counts[task["state"]] += 1
    return counts


def progress(counts, total):
    """Done (completed) out of total, and what failed (failed or in error)."""
    done = counts.get(DONE, 0)
    return {
        "total": total,
        "done": done,
        "failed": sum(counts.get(state, 0) for state in FAILED_STATES),
        "finished": sum(counts.get(state, 0) for state in FINAL_STATES),
        "active": sum(counts.get(state, 0) for state in ACTIVE_STATES),
        "percent": (100 * done // total) if total else 0,
    }


def _integer(value, name, low, high):
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ValidationError({name: f"{name} is a whole number from {low} to {high}."})
    return int(value)


class TableFilters:
    """The filters of the task table, from the page's query string: state, worker run,
    chunk, depth, a part of the slug, and the page number. Bad values are a 400."""

    NAMES = ("state", "worker_run", "chunk", "depth", "slug")

    def __init__(self, query):
        self.values = {}
        state = query.get("state") or ""
        if state:
            if state not in State.values:
                raise ValidationError(
                    {"state": f"Unknown state {state[:20]!r}: one of {', '.join(State.values)}."}
                )
            self.values["state"] = state
        worker_run = query.get("worker_run") or ""
        if worker_run:
            try:
                self.values["worker_run"] = uuid.UUID(worker_run)
            except ValueError:
                raise ValidationError({"worker_run": "worker_run is the id of a worker run."})
        for name, high in (("chunk", 10), ("depth", 100_000)):
            value = query.get(name) or ""
            if value:
                self.values[name] = _integer(value, name, 0, high)
        slug = (query.get("slug") or "").strip()
        if len(slug) > 250:
            raise ValidationError({"slug": "A slug has at most 250 characters."})
        if slug:
            self.values["slug"] = slug
        page = query.get("page") or "1"
        self.page = _integer(page, "page", 1, 1_000_000)

    def __bool__(self):
        return bool(self.values)

    def keep(self, task):
        values = self.values
        if "state" in values and task["state"] != values["state"]:
            return False
        if "worker_run" in values and task["worker_run_id"] != values["worker_run"]:
            return False
        if "chunk" in values and task["chunk"] != values["chunk"]:
            return False
        if "depth" in values and task["depth"] != values["depth"]:
            return False
        return "slug" not in values or values["slug"].lower() in task["slug"].lower()

    def link(self, run, **changes):
        """The query string of the table with some filters changed (None removes one); a
        change of filter goes back to the first page."""
        values = {"run": run, **self.values}
        if "page" not in changes:
            changes["page"] = None
        elif self.page != 1:
            values["page"] = self.page
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        query = urlencode({name: value for name, value in values.items() if value is not None})
        return f"?{query}#tasks"


def table_page(tasks, filters):
    """The rows of the requested page of the filtered table, and how many pages it has."""
    rows = [task for task in tasks if filters.keep(task)]
    pages = max(1, -(-len(rows) // TABLE_PAGE_SIZE))
    if filters.page > pages:
        raise ValidationError(
            {"page": f"The task table has {pages} page{'s' if pages > 1 else ''} here."}
        )
    start = (filters.page - 1) * TABLE_PAGE_SIZE
    return {
        "rows": rows[start : start + TABLE_PAGE_SIZE],
        "count": len(rows),
        "number": filters.page,
        "pages": pages,
        "first": start + 1,
        "last": min(start + TABLE_PAGE_SIZE, len(rows)),
    }


def failures(tasks):
    """The failed and errored tasks of the run, and the last lines of the logs of the first
    few: at most FAILURE_LOGS storage reads, outside any transaction."""
    failed = [task for task in tasks if task["state"] in FAILED_STATES]
    for task in failed[:FAILURE_LOGS]:
        text, _exists = log_tail(
            SimpleNamespace(
                id=task["id"],
                pk=task["id"],
                state=task["state"],
                agent_id=task["agent_id"],
                started=task["started"],
            )
        )
        lines = text.rstrip("\n").split("\n")[-FAILURE_LOG_LINES:] if text else []
        task["log_lines"] = "\n".join(lines)
    return failed


def bar(counts, total, width=100):
    """The segments of a progress bar, as percentages of its width."""
    return [
        {"state": state, "x": x, "width": size, "count": counts.get(state, 0)}
        for state, x, size in bar_segments(counts, total, width)
    ]


def worker_runs(process_id, tasks):
    """The worker runs of the process, with their version, configuration, parents and the
    progress of their tasks in the shown run: two queries."""
    runs = list(
        WorkerRun.objects.filter(process_id=process_id)
        .order_by("created", "id")
        .values(
            "id",
            "configuration",
            "created",
            "version_id",
            version_number=F("version__version"),
            worker_name=F("version__worker__name"),
            worker_slug=F("version__worker__slug"),
            image=F("version__docker_image"),
        )
    )
    edges = WorkerRun.parents.through.objects.filter(from_workerrun__process_id=process_id)
    parents = defaultdict(list)
    for child, parent in edges.values_list("from_workerrun_id", "to_workerrun_id"):
        parents[child].append(parent)
    by_run = defaultdict(list)
    for task in tasks:
        by_run[task["worker_run_id"]].append(task)
    names = {}
    for run in runs:
        members = by_run.get(run["id"], [])
        run["name"] = run_name(members[0]) if members else run["worker_slug"]
        names[run["id"]] = run["name"]
        counts = state_counts(members)
        run["progress"] = progress(counts, len(members))
        run["bar"] = bar(counts, len(members))
    for run in runs:
        run["parents"] = sorted(
            ({"id": pk, "name": names.get(pk, str(pk))} for pk in parents[run["id"]]),
            key=lambda parent: natural(parent["name"]),
        )
    return runs


def count_links(counts, filters, run):
    """The count of each state, linking to the table filtered on it (or, for the state
    already chosen, back to all states). States without tasks are hidden, and shown by the
    page's script when tasks reach them."""
    chosen = filters.values.get("state")
    return [
        {
            "state": state,
            "count": counts.get(state, 0),
            "chosen": chosen == state,
            "link": filters.link(run, state=None if chosen == state else state),
        }
        for state in COUNT_ORDER
    ]
