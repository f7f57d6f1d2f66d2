"""Filters of the pages' templates: cheaper than an include per cell in long tables."""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def timestamp(value):
    """A date as a <time> element (UTC, to the second), or a dash for none."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M:%S"),
    )
