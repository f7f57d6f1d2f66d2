"""Error pages of the pages for humans: every refusal is a page saying what happened and
what to do, with the status the API would give (400, 403, 404, 405, 429)."""

import functools
import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import render
from rest_framework.exceptions import APIException, ValidationError

from arkindex.api.errors import flatten

TITLES = {
    400: "This cannot be done",
    403: "Not allowed",
    404: "Not found",
    405: "Not a page",
    429: "Too many attempts",
}


# The pages load their own script and style sheet only, and no other site may frame them:
# a name that slipped through unescaped still could not run a script, nor a form post
# elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def protect(response):
    """Give an answer of the pages their Content-Security-Policy."""
    response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def error_page(request, status, detail, *, title=None, messages=None):
    """Render the error page; `messages` lists further explanations."""
    return protect(
        render(
            request,
            "pages/error.html",
            {
                "status": status,
                "title": title or TITLES.get(status, "Error"),
                "detail": detail,
                "messages": messages or [],
            },
            status=status,
        )
    )


class NotFound(Http404):
    """A 404 whose message is meant for the person reading the page."""


def parse_id(value, what):
    """The UUID in a path, or a 404 saying that the id is malformed."""
    try:
        return uuid.UUID(value)
    except ValueError:
        shown = value if len(value) <= 60 else value[:60] + "…"
        raise NotFound(f"{shown!r} is not the id of a {what}: ids look like {uuid.uuid4()}.")


def refusal_messages(exc):
    """The messages of a refusal of the API's service functions (DRF exceptions)."""
    return [detail for _code, detail, _attr in flatten(exc.detail)]


def handle_refusals(view):
    """Turn the refusals a view or the functions it calls raise into error pages: unknown
    or unreadable objects (404), missing rights (403), refused changes (400)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as e:
            return error_page(request, 404, str(e))
        except Http404:
            return error_page(
                request, 404, "There is nothing here, or you are not allowed to see it."
            )
        except DjangoPermissionDenied as e:
            return error_page(request, 403, str(e) or "You may not do this.")
        except ValidationError as e:
            messages = refusal_messages(e)
            return error_page(request, 400, messages[0], messages=messages[1:])
        except APIException as e:
            # PermissionDenied, Throttled, ...: the same statuses as the API's.
            messages = refusal_messages(e)
            return error_page(request, e.status_code, messages[0], messages=messages[1:])

    return wrapper


def csrf_failure(request, reason=""):
    """A form posted without the CSRF token of the session (a forged or expired form)."""
    return error_page(
        request,
        403,
        "This form was not sent from a page of this site, or the page was too old: "
        "reload the page and send the form again.",
        title="Form refused",
    )


def not_found(request, path=""):
    return error_page(request, 404, f"No page is at /ui/{path}.")
