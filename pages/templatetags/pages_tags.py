"""Filters of the pages' templates: cheaper than an include per cell in long tables."""

import json

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from pages.agents import age

register = template.Library()


@register.filter
def timestamp(value):
    """A date as a <time> element, to the second, with its zone (UTC), or a dash."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{} UTC</time>',
        value.isoformat(),
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M:%S"),
    )


@register.filter
def number(value):
    """A count with thousands separators: 5,000."""
    if value is None or value == "":
        return "—"
    return f"{value:,}"


@register.filter
def duration(task):
    """How long a task (or process) ran: until it finished, or so far while it runs."""
    if isinstance(task, dict):
        started, finished = task.get("started"), task.get("finished")
    else:
        started, finished = task.started, task.finished
    if not started:
        return "—"
    return age((finished or timezone.now()) - started)


@register.filter
def json_text(value):
    """A worker run's configuration as compact JSON, shortened past 300 characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return text if len(text) <= 300 else text[:299] + "…"


@register.filter
def state_bar(segments, label):
    """A bar of the states of some tasks (the segments of `pages.runs.bar`), as SVG: rects
    sized by attributes, since the pages' content policy allows no inline style. Plain
    strings rather than format_html: the worker runs of a large process draw hundreds."""
    title = ", ".join(
        f"{segment['count']:,} {segment['state']}" for segment in segments if segment["count"]
    )
    # States are names from ponos.models.State, offsets and widths integers.
    rects = "".join(
        f'<rect class="bar-{s["state"]}" x="{int(s["x"])}" '
        f'y="0" width="{int(s["width"])}" height="4"/>'
        for s in segments
    )
    return mark_safe(  # noqa: S308
        f'<svg class="bar" viewBox="0 0 100 4" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(title)}</title>{rects}</svg>'
    )
