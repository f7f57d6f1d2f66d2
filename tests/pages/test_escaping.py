"""Every name a user, an agent or a task chose is shown as text: in HTML text, attributes,
the task graph's SVG, error pages and the fields that echo the query or the form back.

Process names, hostnames, farm and corpus names, display names, log text and artifact paths
are free text; task slugs are validated by CreateTask, but the pages do not rely on it."""

import html
import re

import pytest
from django.conf import settings
from django.utils import timezone

from ponos.models import GPU, Agent, Artifact, State
from ponos.storage import get_storage, log_key
from process.models import Process
from tests.factories import TaskFactory
from tests.pages.conftest import assert_error_page, page_client, text

pytestmark = pytest.mark.django_db

EVIL = '<script>alert("x")</script>\'&</svg><img src=x onerror=alert(1)>'
ESCAPED = html.escape(EVIL)
# Markup any unescaped copy of EVIL, whole or cut, would bring into the page.
RAW = ["<script>alert", "<img src=x", "</svg><img", 'alert("x")']


def evil(tag):
    return f"{tag} {EVIL}"


def assert_escaped(response, *values):
    """`values` appear escaped in the page, and none of EVIL's markup appears raw."""
    page = response.content.decode()
    for raw in RAW:
        assert raw not in page, (raw, page[page.find(raw) - 200 : page.find(raw) + 200])
    for value in values:
        assert html.escape(value) in page, value
    return page


@pytest.fixture
def hostile(process, corpus, farm, contributor, agent):
    """The cast, renamed: every free-text name holds markup."""
    Process.objects.filter(pk=process.pk).update(
        name=evil("process"),
        repository_url="https://git.example/a?b=<i>&c='d'",
        last_run=0,
        started=timezone.now(),
    )
    corpus.name = evil("corpus")
    corpus.save()
    farm.name = evil("farm")
    farm.save()
    contributor.display_name = evil("creator")[:120]
    contributor.save()
    Agent.objects.filter(pk=agent.pk).update(hostname=evil("host"), last_ping=timezone.now())
    GPU.objects.create(agent=agent, gpu_id="GPU-0", name=evil("gpu"), index=0, ram_total=1)
    parent = TaskFactory(
        process=process,
        slug=evil("parent"),
        state=State.FAILED,
        agent=agent,
        started=timezone.now(),
    )
    child = TaskFactory(process=process, slug=evil("child"), state=State.UNSCHEDULED, depth=1)
    child.parents.add(parent)
    Artifact.objects.create(task=parent, path=f"out/{EVIL}.txt", size=10)
    get_storage().put_bytes(
        settings.PONOS_LOGS_BUCKET,
        log_key(parent.id),
        f"line one\n</pre>{EVIL}\n".encode(),
        "text/plain",
    )
    process.refresh_from_db()
    return {"process": process, "parent": parent, "child": child}


def test_the_process_list_shows_every_name_as_text(superuser, hostile):
    response = page_client(superuser).get("/ui/")
    assert response.status_code == 200
    assert_escaped(response, evil("process"), evil("corpus"), evil("farm"), evil("creator")[:120])
    assert evil("process") in text(response)


def test_the_filters_echoed_back_are_escaped(superuser, hostile):
    response = page_client(superuser).get("/ui/", {"name": EVIL})
    page = assert_escaped(response, EVIL)
    assert f'name="name" value="{ESCAPED}"' in page
    # The pagination links carry the filters as a query string, never as markup.
    response = page_client(superuser).get("/ui/", {"name": EVIL, "state": EVIL})
    assert response.status_code == 400
    assert_escaped(response)


def test_the_process_page_and_its_graph_show_every_name_as_text(superuser, hostile):
    response = page_client(superuser).get(f"/ui/process/{hostile['process'].id}/")
    assert response.status_code == 200
    page = assert_escaped(
        response, evil("process"), evil("corpus"), evil("farm"), evil("parent"), evil("child")
    )
    # One drawing, closed once: no name ends it early.
    # (The progress bars are small drawings of their own, without names.)
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 1
    assert page.count("<svg") == page.count("</svg>")
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg"')
    svg = page[start : page.index("</svg>", start)]
    assert f'data-slug="{html.escape(evil("parent"))}"' in svg
    assert f"<title>{html.escape(evil('parent'))}: failed</title>" in svg
    # The node's text is the slug cut short, then escaped: no entity is cut in two.
    assert f'class="slug">{html.escape(evil("parent")[:20])}…</text>' in svg
    assert "<title>" + html.escape(evil("process")) not in svg
    # The repository is text, not a link.
    assert "<dd>https://git.example/a?b=&lt;i&gt;&amp;c=&#x27;d&#x27;</dd>" in page
    assert f"<title>{html.escape(evil('process'))} · Arkindex</title>" in page


def test_the_task_page_shows_every_name_and_the_log_as_text(superuser, hostile):
    parent = hostile["parent"]
    response = page_client(superuser).get(f"/ui/task/{parent.id}/")
    assert response.status_code == 200
    page = assert_escaped(
        response, evil("process"), evil("parent"), evil("child"), evil("host"), f"out/{EVIL}.txt"
    )
    log = re.search(r'<pre class="log" data-log>(.*?)</pre>', page, re.S).group(1)
    assert log == html.escape(f"line one\n</pre>{EVIL}\n")
    # The artifact's link is its DownloadArtifact address, quoted: the path cannot leave
    # the attribute nor the API's address.
    link = re.search(r'<td><a href="([^"]+)">out/', page).group(1)
    assert link.startswith(f"/api/v1/task/{parent.id}/artifact/out/%3Cscript%3E")
    assert not set("<>\"'") & set(link) and "&" not in link.replace("&amp;", "").replace(
        "&#x27;", ""
    )
    assert not set('<>"') & set(html.unescape(link))
    assert page_client(superuser).get(html.unescape(link)).status_code in (200, 302)


def test_the_agents_page_shows_every_name_as_text(superuser, hostile):
    response = page_client(superuser).get("/ui/agents/")
    assert response.status_code == 200
    assert_escaped(response, evil("farm"), evil("host"), evil("gpu"))


def test_a_restart_message_shows_the_slug_as_text(superuser, hostile):
    client = page_client(superuser)
    response = client.post(f"/ui/task/{hostile['parent'].id}/restart/", follow=True)
    assert response.status_code == 200
    page = assert_escaped(response, evil("parent"))
    assert re.search(r'<li class="message-success">' + re.escape(html.escape(evil("parent"))), page)


def test_the_header_shows_the_display_name_as_text(contributor, hostile):
    assert_escaped(page_client(contributor).get("/ui/"), evil("creator")[:120])


@pytest.mark.parametrize(
    "path",
    [
        '/ui/<script>alert("x")</script>/',
        '/ui/process/<script>alert("x")</script>/',
        "/ui/task/'&<img src=x onerror=alert(1)>/",
    ],
)
def test_error_pages_show_the_address_as_text(path, superuser):
    response = page_client(superuser).get(path)
    assert_error_page(response, 404)
    assert_escaped(response)


@pytest.mark.parametrize("name", ["run", "page"])
def test_error_pages_show_the_query_as_text(name, superuser, hostile):
    path = f"/ui/process/{hostile['process'].id}/" if name == "run" else "/ui/"
    response = page_client(superuser).get(path, {name: "<img src=x onerror=alert(1)>"})
    assert_error_page(response, 404, "<img src=x")
    assert_escaped(response, "<img src=x")


def test_the_login_form_echoes_its_fields_as_text(outsider):
    target = '/ui/"><script>alert("x")</script>'
    client = page_client()
    response = client.post("/ui/login/", {"email": EVIL, "password": "x", "next": target})
    assert response.status_code == 400
    page = assert_escaped(response)
    assert f'name="next" value="{html.escape(target)}"' in page
    assert f'value="{html.escape(EVIL)}"' in page
    response = client.get("/ui/login/", {"next": target})
    assert f'name="next" value="{html.escape(target)}"' in assert_escaped(response)


def test_the_states_endpoint_is_json_the_browser_does_not_sniff(superuser, hostile):
    response = page_client(superuser).get(f"/ui/process/{hostile['process'].id}/states/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    # States and ids only: no name travels through it.
    assert "script" not in response.content.decode()
    assert set(response.json()) == {
        "state", "active", "started", "finished", "tasks", "groups", "counts", "progress", "rows"
    }  # fmt: skip
