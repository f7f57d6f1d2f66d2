"""The agents of each farm, and its queue of pending tasks."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.shortcuts import render
from django.utils import timezone

from pages.access import flag, page
from ponos.models import ACTIVE_STATES, Agent, Farm, State, Task
from ponos.rights import administered_farms, usable_farms


def age(delta):
    """A duration for people: '45 s', '3 min 12 s', '2 h 5 min', '3 days 4 h'."""
    seconds = max(int(delta.total_seconds()), 0)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} day{'s' if days > 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


@page
def agent_list(request):
    """Superusers and farm admins see the agents of the farms they administer; everyone
    sees the queue of the farms they may use (never a seed)."""
    user = request.user
    now = timezone.now()
    farms = list(
        Farm.objects.filter(usable_farms(user) | administered_farms(user))
        .annotate(administered=flag(administered_farms(user)))
        .only("id", "name")
        .order_by("name", "id")
    )
    administered = [farm.pk for farm in farms if farm.administered]
    agents = (
        Agent.objects.filter(farm_id__in=administered)
        .prefetch_related("gpus")
        # One aggregate for every agent, not a count per agent.
        .annotate(held=Count("tasks", filter=Q(tasks__state__in=ACTIVE_STATES)))
        .defer("token_hash")
        .order_by("hostname", "id")
    )
    queues = {
        row["process__farm_id"]: row
        for row in Task.objects.filter(
            state=State.PENDING, process__farm_id__in=[f.pk for f in farms]
        )
        .values("process__farm_id")
        .annotate(count=Count("id"), oldest=Min("created"))
        .order_by()
    }
    since = now - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT)
    by_farm = {farm.pk: [] for farm in farms}
    if administered:
        for agent in agents:
            agent.status = agent.status_at(since)
            by_farm[agent.farm_id].append(agent)
    rows = []
    for farm in farms:
        queue = queues.get(farm.pk)
        rows.append(
            {
                "farm": farm,
                "agents": by_farm[farm.pk],
                "pending": queue["count"] if queue else 0,
                "oldest": age(now - queue["oldest"]) if queue else None,
            }
        )
    return render(request, "pages/agents.html", {"rows": rows, "now": now})
