"""Who may open a page: a logged-in user, with exactly the rights of the API.

Objects are fetched through the API's own access functions (`arkindex.rights`,
`process.access`, `ponos.rights`): unknown or unreadable objects are 404, an action without
manage rights is 403.
"""

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Value, When
from django.utils.cache import add_never_cache_headers

from pages.errors import NotFound, error_page, handle_refusals, parse_id, protect
from ponos.models import Task
from ponos.rights import readable_tasks
from process.access import can_manage, get_process_for_manager

LOGIN_URL = "/ui/login/"


def page(view=None, *, methods=("GET", "HEAD")):
    """A page for logged-in users: the others go to the login page first (a POST gets a
    403, since it cannot be sent again after logging in); other methods get a 405 page;
    refusals become error pages."""

    def decorate(view):
        refusing = handle_refusals(view)

        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error_page(
                    request,
                    405,
                    f"This address answers to {' and '.join(methods)} only, not {request.method}.",
                )
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                if request.method != "GET":
                    return error_page(request, 403, "Log in first.")
                return redirect_to_login(request.get_full_path(), LOGIN_URL)
            response = refusing(request, *args, **kwargs)
            # What a page shows belongs to its caller and changes by the second: no cache
            # keeps it, and the back button asks again.
            add_never_cache_headers(response)
            return protect(response)

        return wrapper

    return decorate if view is None else decorate(view)


def action(view):
    """A form's target: POST only (CSRF is checked by the middleware before the view)."""
    return page(view, methods=("POST",))


def flag(condition):
    """An annotation true where `condition` holds (an empty Q, a superuser's, is true)."""
    if not condition:
        return Value(True, output_field=BooleanField())
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def get_task_for_reader(user, task_id, queryset=None):
    """A task of a process the user may read, annotated with `managed`; one query."""
    queryset = Task.objects.all() if queryset is None else queryset
    task = (
        queryset.filter(readable_tasks(user))
        .annotate(managed=can_manage(user, "process__"))
        .order_by()
        .filter(pk=parse_id(task_id, "task"))
        .first()
    )
    if task is None:
        raise NotFound("No task has this id, or you may not see it.")
    return task


def get_task_for_manager(user, task_id):
    task = get_task_for_reader(user, task_id)
    if not task.managed:
        raise PermissionDenied(
            "Stopping and restarting tasks needs admin rights on the process's corpus, or "
            "being its creator with contributor rights."
        )
    return task


def process_for_manager(user, process_id, queryset=None):
    return get_process_for_manager(user, parse_id(process_id, "process"), queryset)
