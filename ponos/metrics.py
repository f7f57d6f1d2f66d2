"""`GET /metrics`: the farms' queues and agents, and the API's requests, for Prometheus.

The gauges are read from the database at scrape time, in three statements whatever the
size of the history: live tasks through `task_live_state_idx` (a partial index over the
unscheduled and active tasks only), agents with their held tasks through
`task_active_agent_idx`, and the farms. The request metrics are counted by
`arkindex.api.metrics.RequestMetricsMiddleware` in each server process.
"""

import hmac
import uuid
from datetime import UTC, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from ponos.models import ACTIVE_STATES, Agent, Farm, State, Task

# The states counted by `arkindex_tasks`: what is queued or running, not the history.
LIVE_STATES = sorted(ACTIVE_STATES | {State.UNSCHEDULED})
AGENT_STATUSES = ("active", "inactive", "disabled")


def live_task_counts():
    """(farm id, state, tasks, oldest creation of the pending ones) of the live tasks.

    The tasks are counted per process and state first, from `task_live_state_idx` alone
    (an index-only scan in the index's order, so no sort); each process with live tasks
    then gives its farm through its primary key, one lookup per process, not per task.
    """
    task, process = Task._meta.db_table, Task._meta.get_field("process").related_model
    quote = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(LIVE_STATES))
    sql = (
        f"SELECT farm_id, state, SUM(count), MIN(oldest) FROM ("  # noqa: S608
        f"SELECT (SELECT p.{quote('farm_id')} FROM {quote(process._meta.db_table)} p "
        f"WHERE p.{quote('id')} = t.process_id) AS farm_id, state, count, oldest FROM ("
        f"SELECT {quote('state')} AS state, {quote('process_id')} AS process_id, "
        f"COUNT(*) AS count, MIN(CASE WHEN {quote('state')} = %s "
        f"THEN {quote('created')} END) AS oldest "
        f"FROM {quote(task)} WHERE {quote('state')} IN ({placeholders}) "
        f"GROUP BY {quote('state')}, {quote('process_id')}"
        ") t) f GROUP BY farm_id, state"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [State.PENDING, *LIVE_STATES])
        rows = cursor.fetchall()
    # SQLite gives raw ids as hex and dates as text: the ORM's own conversions apply.
    return [
        (
            None if farm is None else uuid.UUID(str(farm)),
            state,
            int(count),
            parse(oldest) if isinstance(oldest, str) else oldest,
        )
        for farm, state, count, oldest in rows
    ]


def queued_activity_counts():
    """{farm id: queued worker activities} (SPEC §11), in one statement.

    The activities are reached through the Process model's relation (ponos imports nothing
    of `process`); counted per process from the activity_counts index, then each process
    gives its farm through its primary key, as for the tasks.
    """
    process = Task._meta.get_field("process").related_model
    activity = process._meta.get_field("activities").related_model
    quote = connection.ops.quote_name
    sql = (
        f"SELECT farm_id, SUM(count) FROM ("  # noqa: S608
        f"SELECT (SELECT p.{quote('farm_id')} FROM {quote(process._meta.db_table)} p "
        f"WHERE p.{quote('id')} = a.process_id) AS farm_id, count FROM ("
        f"SELECT {quote('process_id')} AS process_id, COUNT(*) AS count "
        f"FROM {quote(activity._meta.db_table)} WHERE {quote('state')} = %s "
        f"GROUP BY {quote('process_id')}"
        ") a) f GROUP BY farm_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ["queued"])
        rows = cursor.fetchall()
    return {uuid.UUID(str(farm)): int(count) for farm, count in rows if farm is not None}


def parse(value):
    parsed = parse_datetime(value)
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


class FarmCollector:
    """Gauges of every farm, labelled with the farm's id (names need not be unique)."""

    def describe(self):
        # Nothing to describe up front: registering the collector must not query.
        return []

    def collect(self):
        now = timezone.now()
        since = now - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT)
        farms = [str(pk) for pk in Farm.objects.order_by().values_list("id", flat=True)]

        tasks = GaugeMetricFamily(
            "arkindex_tasks",
            "Unscheduled and active tasks, per farm and state.",
            labels=["farm", "state"],
        )
        oldest = GaugeMetricFamily(
            "arkindex_pending_task_oldest_seconds",
            "Age of the oldest pending task of the farm, 0 without any.",
            labels=["farm"],
        )
        counts = {(farm, state): 0 for farm in farms for state in LIVE_STATES}
        ages = dict.fromkeys(farms, 0.0)
        for farm_id, state, count, oldest_created in live_task_counts():
            if farm_id is None:  # tasks of a process that was never given a farm
                continue
            farm = str(farm_id)
            counts[farm, state] = count
            if oldest_created is not None:
                ages[farm] = max((now - oldest_created).total_seconds(), 0.0)
        for (farm, state), count in sorted(counts.items()):
            tasks.add_metric([farm, state], count)
        for farm, age in sorted(ages.items()):
            oldest.add_metric([farm], age)

        agents = GaugeMetricFamily(
            "arkindex_agents", "Registered agents, per farm and status.", labels=["farm", "status"]
        )
        free = GaugeMetricFamily(
            "arkindex_agent_free_slots",
            "Task slots left on the farm's active, enabled agents.",
            labels=["farm"],
        )
        statuses = {(farm, status): 0 for farm in farms for status in AGENT_STATUSES}
        slots = dict.fromkeys(farms, 0)
        held = (
            Task.objects.filter(agent=OuterRef("pk"), state__in=sorted(ACTIVE_STATES))
            .order_by()
            .values("agent")
            .annotate(count=Count("id"))
            .values("count")
        )
        for agent in (
            Agent.objects.order_by()
            .only("farm_id", "enabled", "last_ping", "cpu_cores")
            .annotate(held=Coalesce(Subquery(held), 0))
        ):
            farm = str(agent.farm_id)
            status = agent.status_at(since)
            statuses[farm, status] = statuses.get((farm, status), 0) + 1
            if status == "active":
                slots[farm] = slots.get(farm, 0) + max(agent.cpu_cores - agent.held, 0)
        for (farm, status), count in sorted(statuses.items()):
            agents.add_metric([farm, status], count)
        for farm, count in sorted(slots.items()):
            free.add_metric([farm], count)

        activities = GaugeMetricFamily(
            "arkindex_queued_worker_activities",
            "Worker activities waiting for a worker, per farm of their process.",
            labels=["farm"],
        )
        queued = dict.fromkeys(farms, 0)
        for farm_id, count in queued_activity_counts().items():
            queued[str(farm_id)] = count
        for farm, count in sorted(queued.items()):
            activities.add_metric([farm], count)

        yield from (tasks, oldest, agents, free, activities)


def request_registry():
    """The request metrics: of this process, or of every gunicorn worker in multiprocess mode."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
        return registry
    return REGISTRY


def authorized(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.ARKINDEX_METRICS_TOKEN
    return scheme == "Bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


@never_cache
@require_GET
def metrics(request):
    """Prometheus text format; 404 unless ARKINDEX_METRICS_TOKEN is set, 401 without it."""
    if not settings.ARKINDEX_METRICS_TOKEN:
        raise Http404("Metrics are disabled.")
    if not authorized(request):
        response = HttpResponse(
            "Send the metrics token as `Authorization: Bearer <token>`.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    farms = CollectorRegistry(auto_describe=False)
    farms.register(FarmCollector())
    body = generate_latest(farms) + generate_latest(request_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
