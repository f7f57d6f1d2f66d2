"""What a hostile link, form or client can make of the pages: where logging in leads,
framing, the headers of every answer, the methods the states endpoint takes, API
credentials, and odd page numbers, runs and ids."""

import re

import pytest

from arkindex.corpora.models import Level
from ponos.models import State, Task
from tests.conftest import agent_client, task_client
from tests.factories import FarmFactory, FarmMembershipFactory
from tests.pages.conftest import assert_error_page, csrf_token, page_client, text
from tests.process.helpers import finish_run

pytestmark = pytest.mark.django_db

PASSWORD = "hunter22hunter"

# Addresses a browser resolves outside /ui/ (or off the site), though some start with /ui/.
ELSEWHERE = [
    "//evil.example",
    "//evil.example/ui/",
    "/\\evil.example",
    "/\\/evil.example/ui/",
    "\\\\evil.example/ui/",
    "https://evil.example/ui/",
    "https:evil.example/ui/",
    "javascript:alert(1)//ui/",
    " /ui/",
    "\t//evil.example/ui/",
    "/ui/../admin/",
    "/ui/./../admin/",
    "/ui/%2e%2e/admin/",
    "/ui/%2E%2e/admin/",
    "/ui/.%2e/admin/",
    "/ui/..\\admin/",
    "/ui/%5c..%5cadmin/",
    "/ui/\t../admin/",
    "/ui/.\n./admin/",
    "/ui/..",
    "/ui/x/../../admin/",
    "/admin/",
    "/uix/",
    "/ui",
    "/ui/" + "a" * 3000,
]


def snapshot(process):
    process.refresh_from_db()
    tasks = Task.objects.filter(process=process).values_list("slug", "run", "state", "agent_id")
    return process.state, process.last_run, process.farm_id, sorted(tasks)


@pytest.mark.parametrize("target", ELSEWHERE)
def test_logging_in_never_leads_out_of_the_pages(target, outsider):
    client = page_client()
    # The form carries the target back, or the list when it is refused.
    form = client.get("/ui/login/", {"next": target}).content.decode()
    assert re.search(r'name="next" value="/ui/"', form), target
    response = client.post(
        "/ui/login/", {"email": outsider.email, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == "/ui/", target
    # Already logged in, the login page sends to the list as well.
    response = client.get("/ui/login/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/ui/", target


@pytest.mark.parametrize(
    "target", ["/ui/agents/", "/ui/?name=a..b&state=failed", "/ui/process/x/?run=1", "/ui/a.b/"]
)
def test_logging_in_leads_to_the_page_asked_for(target, outsider):
    response = page_client().post(
        "/ui/login/", {"email": outsider.email, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == target


def test_a_page_asked_for_without_a_session_is_reached_after_logging_in(outsider, process):
    client = page_client()
    response = client.get("/ui/agents/?x=1")
    assert response["Location"] == "/ui/login/?next=/ui/agents/%3Fx%3D1"
    response = client.post(
        response["Location"],
        {"email": outsider.email, "password": PASSWORD, "next": "/ui/agents/?x=1"},
    )
    assert response["Location"] == "/ui/agents/?x=1"


def pages(process, task):
    return [
        "/ui/login/",
        "/ui/",
        "/ui/agents/",
        f"/ui/process/{process.id}/",
        f"/ui/task/{task.id}/",
        f"/ui/process/{process.id}/?run=9",
        "/ui/nothing/",
        "/ui/process/nope/",
    ]


def test_no_page_can_be_framed_nor_run_a_script_of_elsewhere(superuser, started):
    task = Task.objects.get(process=started)
    client = page_client(superuser)
    for path in pages(started, task) + ["/ui/logout/"]:
        response = client.get(path)
        assert response["X-Frame-Options"] == "DENY", path
        policy = response["Content-Security-Policy"]
        for directive in ["script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]:
            assert directive in policy, (path, policy)
        assert response["X-Content-Type-Options"] == "nosniff", path
    # The page of a refused form too.
    forged = page_client(superuser, csrf=True).post(f"/ui/process/{started.id}/stop/")
    assert_error_page(forged, 403, "Form refused")
    assert forged["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in forged["Content-Security-Policy"]


def test_the_pages_have_no_inline_script_nor_style_the_policy_would_block(superuser, started):
    task = Task.objects.get(process=started)
    client = page_client(superuser)
    for path in pages(started, task):
        page = (page_client() if path == "/ui/login/" else client).get(path).content.decode()
        scripts = re.findall(r"<script[^>]*>", page)
        assert len(scripts) == 1, (path, scripts)
        assert re.fullmatch(r'<script src="/static/pages/pages[.0-9a-f]*\.js" defer>', scripts[0])
        assert not re.search(r"\son[a-z]+=|\sstyle=|<style|javascript:", page), path


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_the_states_endpoint_answers_to_get_only(method, contributor, started):
    before = snapshot(started)
    client = page_client(contributor)
    response = getattr(client, method)(f"/ui/process/{started.id}/states/", {"state": "stopping"})
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["errors"][0]["detail"] == "This address answers to GET only."
    assert snapshot(started) == before
    assert client.head(f"/ui/process/{started.id}/states/").status_code == 200


def test_api_credentials_do_not_open_the_pages(started, agent):
    """Pages know sessions only: a task's token or an agent's token reads nothing and
    presses no button."""
    task = Task.objects.get(process=started)
    Task.objects.filter(pk=task.pk).update(agent=agent, state=State.RUNNING)
    before = snapshot(started)
    for client in [task_client(task), agent_client(agent)]:
        for path in [f"/ui/process/{started.id}/", f"/ui/task/{task.id}/", "/ui/agents/"]:
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith("/ui/login/")
        assert client.get(f"/ui/process/{started.id}/states/").status_code == 403
        for path in [f"/ui/process/{started.id}/stop/", f"/ui/task/{task.id}/stop/"]:
            assert client.post(path).status_code == 403
    assert snapshot(started) == before


def test_a_forged_retry_form_cannot_choose_the_farm(contributor, started, farm):
    """The Retry button retries on the process's farm: a farm slipped into the form, even
    one the creator may use, is not read."""
    finish_run(started, State.FAILED)
    other = FarmFactory(name="Elsewhere")
    FarmMembershipFactory(farm=other, user=contributor, level=Level.GUEST)
    client = page_client(contributor, csrf=True)
    response = client.post(
        f"/ui/process/{started.id}/retry/",
        {"csrfmiddlewaretoken": csrf_token(client, "/ui/"), "farm": str(other.id)},
    )
    assert response.status_code == 302
    started.refresh_from_db()
    assert (started.last_run, started.farm_id) == (1, farm.id)


def test_a_forged_stop_form_cannot_choose_the_state(contributor, started):
    client = page_client(contributor, csrf=True)
    token = csrf_token(client, "/ui/")
    task = Task.objects.get(process=started)
    response = client.post(
        f"/ui/task/{task.id}/stop/", {"csrfmiddlewaretoken": token, "state": "completed"}
    )
    assert response.status_code == 302
    assert Task.objects.get(pk=task.pk).state in (State.STOPPED, State.STOPPING)


@pytest.mark.parametrize("page", ["9" * 30, "1e3", "2.5", "0", "-0", "+1x", "0x1", "2", "9" * 5000])
def test_a_page_number_out_of_the_list_is_a_404_page_saying_which_pages_exist(
    page, superuser, started
):
    response = page_client(superuser).get("/ui/", {"page": page, "name": "Main"})
    body = assert_error_page(response, 404, "There is no page", "pages go from 1 to 1")
    # The number is echoed cut short.
    assert len(body) < 1000


@pytest.mark.parametrize("run", ["1.0", " 0", "0 ", "+0", "-0", "٠", "0x0", "1", "9" * 40, "0;1"])
def test_a_run_that_is_not_one_of_the_process_is_a_404_page_listing_its_runs(
    run, superuser, started
):
    response = page_client(superuser).get(f"/ui/process/{started.id}/", {"run": run})
    assert_error_page(response, 404, "This process has no run", "its runs: 0.")


def test_unknown_query_parameters_are_ignored(superuser, started):
    client = page_client(superuser)
    assert client.get("/ui/", {"evil": "<x>", "format": "json"}).status_code == 200
    response = client.get(f"/ui/process/{started.id}/", {"evil": "1", "run": "0"})
    assert response.status_code == 200 and "Task graph" in text(response)
    assert client.get(f"/ui/task/{Task.objects.get(process=started).id}/?x=1").status_code == 200


def test_a_very_long_malformed_id_is_echoed_cut_short(superuser):
    response = page_client(superuser).get("/ui/process/" + "x" * 5000 + "/")
    body = assert_error_page(response, 404, "is not the id of a process")
    assert "x" * 60 + "…" in body and "x" * 61 not in body
    response = page_client(superuser).post("/ui/task/" + "y" * 5000 + "/restart/")
    assert_error_page(response, 404, "is not the id of a task")


def test_a_deactivated_user_loses_the_pages_at_once(contributor, started):
    client = page_client(contributor)
    assert client.get(f"/ui/process/{started.id}/").status_code == 200
    contributor.is_active = False
    contributor.save()
    before = snapshot(started)
    response = client.get(f"/ui/process/{started.id}/")
    assert response.status_code == 302 and response["Location"].startswith("/ui/login/")
    assert client.get(f"/ui/process/{started.id}/states/").status_code == 403
    assert client.post(f"/ui/process/{started.id}/stop/").status_code == 403
    assert snapshot(started) == before
