"""Helpers of the pages' tests: Django's test client, logged in as one of the shared cast
(tests/conftest.py), and readers of the HTML they answer."""

import html
import re

import pytest
from django.test import Client


def page_client(user=None, *, csrf=False):
    """A browser-like client with a session for `user`; `csrf` enforces CSRF checks, as a
    real browser request meets them."""
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def text(response):
    """The text of an HTML answer, tags removed and blanks squeezed."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def csrf_token(client, path="/ui/login/"):
    """The CSRF token a page gives its forms, read from the page as a browser would."""
    response = client.get(path)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, response.content.decode()[:500]
    return match.group(1)


def assert_error_page(response, status, *phrases):
    """An HTML error page of the pages with this status, saying each phrase."""
    assert response.status_code == status, (response.status_code, text(response)[:400])
    assert response["Content-Type"].startswith("text/html")
    body = text(response)
    assert f"({status})" in body, body[:400]
    for phrase in phrases:
        assert phrase in body, (phrase, body[:600])
    return body


@pytest.fixture
def anonymous():
    return page_client()


@pytest.fixture
def started(process, farm):
    """`process` started with one worker run (its task pending); modules may override it."""
    from process.builder import start_process
    from tests.process.helpers import add_worker_run

    add_worker_run(process, slug="ocr")
    start_process(process.pk, farm=farm)
    process.refresh_from_db()
    return process
