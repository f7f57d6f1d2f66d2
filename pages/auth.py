"""Logging in and out of the pages: the same session as the API's Login opens."""

import functools
from urllib.parse import unquote, urlsplit

from django.contrib.auth import logout as end_session
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from arkindex.users.api import LoginThrottle, log_in
from arkindex.users.serializers import LoginSerializer
from pages.errors import error_page, protect

HOME = "/ui/"


def next_page(request, value):
    """Where to go after logging in: a page of this site under /ui/, else the list.

    The browser resolves the address it is sent to: a backslash counts as a slash, tabs and
    newlines are dropped, and '..' or '%2e%2e' segments climb out of /ui/ (to the admin,
    say). Such addresses are refused rather than cleaned up."""
    if not value or len(value) > 2000 or value != value.strip():
        return HOME
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return HOME
    parts = urlsplit(value)
    path = unquote(parts.path)
    if parts.scheme or parts.netloc or not path.startswith(HOME) or "\\" in path:
        return HOME
    if {".", ".."} & set(path.split("/")):
        return HOME
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return HOME
    return value


def protected(view):
    """The view's answers carry the pages' Content-Security-Policy."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        return protect(view(request, *args, **kwargs))

    return wrapper


@never_cache
@ensure_csrf_cookie
@protected
def login(request):
    """The login form; its POST checks the email and password as the API's Login does,
    with the same throttle per client address, and opens the session."""
    if request.method not in ("GET", "HEAD", "POST"):
        return error_page(request, 405, "The login page answers to GET and POST only.")
    target = next_page(request, request.POST.get("next") or request.GET.get("next"))
    context = {"next": target, "email": "", "errors": []}
    if request.method != "POST":
        if request.user.is_authenticated:
            return redirect(target)
        return render(request, "pages/login.html", context)

    throttle = LoginThrottle()
    if not throttle.allow_request(request, None):
        wait = throttle.wait()
        return error_page(
            request,
            429,
            f"Too many login attempts from your address: try again in {int(wait or 1) + 1} s.",
        )
    serializer = LoginSerializer(data=request.POST)
    context["email"] = request.POST.get("email", "")[:254]
    if not serializer.is_valid():
        context["errors"] = [
            f"{field}: {message}"
            for field, messages in serializer.errors.items()
            for message in messages
        ]
        return render(request, "pages/login.html", context, status=400)
    user = log_in(request, **serializer.validated_data)
    if user is None:
        context["errors"] = ["Wrong email or password."]
        return render(request, "pages/login.html", context, status=400)
    return redirect(target)


def logout(request):
    """End the session (POST, with the CSRF token): the pages and the API alike."""
    if request.method != "POST":
        return error_page(request, 405, "Log out with the button of the page header.")
    end_session(request)
    return redirect("/ui/login/")
