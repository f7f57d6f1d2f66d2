"""One module per scenario: `NUMBER`, `TITLE`, `missing()` (why it cannot run yet, or None)
and `run(bench)` returning a `Table`."""

from django.urls import Resolver404, resolve


def missing_route(path, method, operation):
    """None when `path` is routed to a view handling `method`, else why not."""
    try:
        match = resolve(path)
    except Resolver404:
        return f"{operation} is not routed ({method.upper()} {path})"
    view = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    if view is not None and not hasattr(view, method.lower()):
        return f"{operation} is not implemented ({method.upper()} {path})"
    return None
