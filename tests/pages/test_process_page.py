"""The process page: its fields, the task graph of a run, the buttons of its managers, and
a number of queries that does not depend on the number of tasks."""

import gzip
import re
import time

import pytest
from django.db import connection
from django.utils import timezone

from ponos import additions, states
from ponos.models import State, Task
from process.builder import start_process
from tests.conftest import client_for
from tests.factories import TaskFactory
from tests.pages.conftest import assert_error_page, page_client, text
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db


def url(process, query=""):
    return f"/ui/process/{process.id}/{query}"


def nodes(response):
    """{slug: state} of the single-task nodes of the graph."""
    found = re.findall(
        r'<a href="/ui/task/[0-9a-f-]+/" class="node state-([a-z]+)" data-task="[0-9a-f-]+" '
        r'data-slug="([^"]+)"',
        response.content.decode(),
    )
    return {slug: state for state, slug in found}


def forms(response):
    """The actions of the page's forms."""
    return re.findall(r'<form [^>]*method="post" action="([^"]+)"', response.content.decode())


@pytest.fixture
def failed_run(process):
    """Run 0 of `process`: write completed, fail failed, read unscheduled after fail."""
    tasks = make_run(
        process, write=State.COMPLETED, fail=State.FAILED, read=State.UNSCHEDULED, refresh=False
    )
    tasks["fail"].parents.add(tasks["write"])
    tasks["read"].parents.add(tasks["fail"])
    Task.objects.filter(pk=tasks["fail"].pk).update(depth=1)
    Task.objects.filter(pk=tasks["read"].pk).update(depth=2)
    states.refresh_process(process.pk)
    process.refresh_from_db()
    return tasks


def test_a_reader_sees_the_fields_and_the_graph_of_the_last_run(guest, process, failed_run):
    response = page_client(guest).get(url(process))
    assert response.status_code == 200
    body = text(response)
    assert "Arkindex Processes Agents Gina Log out Main process failed" in body
    for field in ["Mode workers", "Corpus Private corpus", "Farm Main farm", "Creator Cecil",
                  "Chunks 1", "Started", "Finished", "Expiry"]:  # fmt: skip
        assert field in body, field
    assert nodes(response) == {"write": "completed", "fail": "failed", "read": "unscheduled"}
    page = response.content.decode()
    # One column per depth, and arrows parent → child.
    assert page.count('class="edge"') == 2
    xs = [int(x) for x in re.findall(r'<rect x="(\d+)"', page)]
    assert xs == sorted(xs) and len(set(xs)) == 3
    # A guest has no button.
    assert forms(response) == ["/ui/logout/"]
    # The count of each state links to the table filtered on it; states without tasks are
    # hidden until the script shows them.
    assert '<a href="?run=0&amp;state=failed#tasks" class="count" data-count="failed">' in page
    assert 'class="count" data-count="running" hidden>' in page
    assert "1 of 3 tasks done" in body
    # The failure summary names the failed task, linking to it, with its log lines.
    assert f'<h3><a href="/ui/task/{failed_run["fail"].id}/">fail</a>' in page


@pytest.mark.parametrize("who", ["superuser", "corpus_admin", "contributor"])
def test_managers_get_the_buttons_of_the_process_and_of_its_tasks(
    who, request, process, failed_run
):
    user = request.getfixturevalue(who)
    response = page_client(user).get(url(process))
    assert response.status_code == 200
    fail, read = failed_run["fail"], failed_run["read"]
    assert forms(response) == [
        "/ui/logout/",
        f"/ui/process/{process.id}/stop/",
        f"/ui/process/{process.id}/retry/",
        f"/ui/task/{fail.id}/restart/",
        f"/ui/task/{read.id}/stop/",
    ]
    page = response.content.decode()
    # Not active: Stop is hidden until the process becomes active again, Retry is shown.
    assert f'action="/ui/process/{process.id}/stop/" data-when="active" hidden>' in page
    assert f'action="/ui/process/{process.id}/retry/" data-when="inactive">' in page


@pytest.mark.parametrize("who", ["outsider", "farm_guest"])
def test_a_process_the_caller_cannot_read_is_a_404(who, request, process, failed_run):
    response = page_client(request.getfixturevalue(who)).get(url(process))
    body = assert_error_page(response, 404, "Not found")
    assert "Main process" not in body


def test_a_restarted_task_is_drawn_beside_its_original(contributor, process, failed_run):
    new = additions.restart_task(failed_run["fail"].pk)
    response = page_client(contributor).get(url(process))
    assert nodes(response)["fail_2"] == "pending"
    slugs = re.findall(r'data-slug="([^"]+)"', response.content.decode())
    assert slugs.index("fail_2") == slugs.index("fail") + 1
    assert "restart" in text(response)
    # The original was restarted once: only its restart can be restarted now.
    assert f"/ui/task/{failed_run['fail'].id}/restart/" not in forms(response)
    assert new.original_task_id == failed_run["fail"].id


def test_the_run_selector_shows_an_older_run(guest, process, failed_run):
    make_run(process, run=1, write=State.RUNNING)
    client = page_client(guest)
    assert nodes(client.get(url(process))) == {"write": "running"}
    older = client.get(url(process, "?run=0"))
    assert nodes(older) == {"write": "completed", "fail": "failed", "read": "unscheduled"}
    page = older.content.decode()
    assert '<option value="0" selected>run 0 (3 tasks)</option>' in page
    assert '<option value="1">run 1 (1 task)</option>' in page


@pytest.mark.parametrize("run", ["7", "-1", "x", "1.0", "²", "9" * 30])
def test_an_unknown_run_is_a_404_naming_the_runs(run, guest, process, failed_run):
    response = page_client(guest).get(url(process, f"?run={run}"))
    assert_error_page(response, 404, "This process has no run", "its runs: 0.")


def test_a_process_without_tasks_says_why(guest, process):
    response = page_client(guest).get(url(process))
    assert response.status_code == 200
    assert "This process has no tasks: it has not been started." in text(response)


def test_no_secret_appears_on_the_page(superuser, process, failed_run, farm):
    response = page_client(superuser).get(url(process))
    page = response.content.decode()
    assert farm.seed not in page
    for task in failed_run.values():
        assert task.token not in page


@pytest.mark.parametrize("count", [3, 60])
def test_the_page_takes_eight_queries_whatever_the_number_of_tasks(
    count, guest, process, django_assert_num_queries
):
    runs = [add_worker_run(process, slug=f"w{index}") for index in range(count // 3)]
    tasks = make_run(process, **{f"t{i:02}": State.COMPLETED for i in range(count)})
    for index in range(1, count):
        tasks[f"t{index:02}"].parents.add(tasks[f"t{index - 1:02}"])
    Task.objects.filter(slug="t01").update(worker_run=runs[0], state=State.FAILED)
    client = page_client(guest)
    # The session, the user, the process with its farm, creator, corpus and manage right,
    # the runs, the tasks of the run with their worker slugs, the parents of these tasks,
    # the worker runs with their versions, the parents of the worker runs. The table, the
    # counts and the failure summary are made from the tasks already read.
    with django_assert_num_queries(8):
        response = client.get(url(process))
    assert len(nodes(response)) == count
    assert response.content.decode().count("<tr data-worker-run=") == count // 3
    # The same with filters and another page of the table.
    with django_assert_num_queries(8):
        response = client.get(url(process, "?state=completed&page=1&slug=t"))
    assert response.status_code == 200


def test_a_run_of_5000_tasks_answers_fast_and_collapses_its_chunks(
    guest, process, farm, django_assert_num_queries
):
    """500 worker runs in a chain, 10 chunks each: the chunks of a worker run make a node."""
    previous = None
    runs = []
    for index in range(500):
        previous = add_worker_run(process, slug=f"w{index:03}", parents=[previous] if runs else [])
        runs.append(previous)
    now = timezone.now()
    tasks = Task.objects.bulk_create(
        Task(process=process, run=0, depth=depth, slug=f"{run.version.worker.slug}_{chunk}",
             state=State.COMPLETED if depth < 150 else State.UNSCHEDULED, image="i",
             worker_run=run, chunk=chunk, token=f"token-{depth}-{chunk}", started=now)
        for depth, run in enumerate(runs)
        for chunk in range(1, 11)
    )  # fmt: skip
    by_key = {(task.depth, task.chunk): task for task in tasks}
    Task.parents.through.objects.bulk_create(
        Task.parents.through(
            from_task_id=by_key[depth, chunk].pk, to_task_id=by_key[depth - 1, chunk].pk
        )
        for depth in range(1, 500)
        for chunk in range(1, 11)
    )  # fmt: skip
    process.last_run, process.started = 0, now
    process.save()
    states.refresh_process(process.pk)
    client = page_client(guest)
    client.get(url(process))
    # The CPU time of the page (this process: the view, the template, the database
    # driver), which the other jobs of a busy machine do not stretch as they do the wall
    # clock; both are printed.
    started, cpu = time.monotonic(), time.process_time()
    response = client.get(url(process))
    cpu = time.process_time() - cpu
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    # PostgreSQL pins the speed; the SQLite pass (two test processes on the same cores) only
    # catches a page that would grow out of bounds.
    print(
        f"The page of 5,000 tasks: {elapsed * 1000:.0f} ms ({cpu * 1000:.0f} ms of CPU), "
        f"{len(response.content):,} bytes"
    )
    assert cpu < (1 if connection.vendor == "postgresql" else 3), cpu
    # The same eight queries as for three tasks; compressed, the page is a fraction.
    with django_assert_num_queries(8):
        zipped = client.get(url(process), HTTP_ACCEPT_ENCODING="gzip")
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content).count(b'<tr data-task="') == 50
    zipped_states = client.get(url(process, "states/"), HTTP_ACCEPT_ENCODING="gzip")
    api = client_for(guest).get(f"/api/v1/process/{process.id}/")
    api_zipped = client_for(guest).get(
        f"/api/v1/process/{process.id}/", HTTP_ACCEPT_ENCODING="gzip"
    )
    print(
        "Compressed (gzip) at 5,000 tasks: "
        f"process page {len(response.content):,} → {len(zipped.content):,} bytes; "
        f"its states {len(gzip.decompress(zipped_states.content)):,} → "
        f"{len(zipped_states.content):,}; "
        f"RetrieveProcess {len(api.content):,} → {len(api_zipped.content):,}"
    )
    assert len(zipped.content) * 8 < len(response.content)
    assert len(api_zipped.content) * 8 < len(api.content)
    page = response.content.decode()
    collapsed = "This run has 5,000 tasks: the chunks of each worker run are drawn as one node"
    assert collapsed in text(response)
    assert "1,500 of 5,000 tasks done ( 30 %)" in text(response)
    groups = re.findall(r'class="node state-([a-z]+) group"', page)
    assert len(groups) == 500
    assert groups[0] == "completed" and groups[-1] == "unscheduled"
    assert groups.count("completed") == 150
    assert "w000 ×10" in page and "w499 ×10" in page
    assert "left out of the picture" not in text(response)
    # The first 50 worker runs are listed, the others a click away.
    assert page.count("<tr data-worker-run=") == 50
    assert "The first 50 of 500 worker runs. Show them all" in text(response)
    every_run = client.get(url(process, "?worker_runs=all")).content.decode()
    assert every_run.count("<tr data-worker-run=") == 500
    # The table shows its first page, and says how to reach the others.
    assert page.count('<tr data-task="') == 50
    assert "Tasks 1 to 50 of 5,000. Page 1 of 100. Next" in text(response)
    # A grouped node links to the table filtered on its worker run: its ten chunks, in
    # their natural order, each one click away.
    link = re.search(
        rf'<a href="(/ui/process/{process.id}/\?run=0&amp;worker_run=([0-9a-f-]+)#tasks)" '
        r'class="node state-unscheduled group"',
        page,
    )
    assert link, page[:2000]
    filtered = client.get(link.group(1).replace("&amp;", "&").split("#")[0])
    rows = re.findall(
        r'<tr data-task="([0-9a-f-]+)">\s*<td><a href="[^"]+">([^<]+)</a>',
        filtered.content.decode(),
    )
    run = next(run for run in runs if str(run.id) == link.group(2))
    slug = run.version.worker.slug
    assert [slug for _pk, slug in rows] == [f"{slug}_{chunk}" for chunk in range(1, 11)]
    ninth = by_key[runs.index(run), 9]
    assert (str(ninth.pk), f"{slug}_9") in rows


def test_the_states_endpoint_gives_the_process_and_its_tasks(guest, process, failed_run):
    client = page_client(guest)
    body = client.get(url(process, "states/")).json()
    assert body.pop("finished").startswith(process.finished.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body.pop("started").startswith(process.started.strftime("%Y-%m-%dT%H:%M:%S"))
    rows = body.pop("rows")
    assert set(rows) == {str(task.id) for task in failed_run.values()}
    assert body == {
        "state": "failed",
        "active": False,
        "tasks": {str(task.id): task.state for task in failed_run.values()},
        "groups": {},
        "counts": {"completed": 1, "failed": 1, "unscheduled": 1},
        "progress": {
            "total": 3, "done": 1, "failed": 1, "finished": 2, "active": 0, "percent": 33
        },
    }  # fmt: skip
    assert client.get(url(process, "states/?run=5")).json()["tasks"] == {}
    # Neither the page nor its states stay in a cache.
    for path in ["", "states/"]:
        assert "no-cache" in client.get(url(process, path))["Cache-Control"]


def test_the_states_endpoint_has_the_rights_of_the_page(outsider, process, failed_run):
    response = page_client(outsider).get(url(process, "states/"))
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    response = page_client().get(url(process, "states/"))
    assert response.status_code == 403
    assert page_client(outsider).get("/ui/process/nope/states/").status_code == 404


def test_a_task_added_to_the_run_shows_up(guest, process, failed_run):
    TaskFactory(process=process, run=0, slug="added", depth=0, state=State.PENDING)
    assert nodes(page_client(guest).get(url(process)))["added"] == "pending"


def test_the_process_must_be_started_for_its_start_time(guest, process):
    start_page = page_client(guest).get(url(process))
    assert "Started —" in text(start_page)


def test_a_started_process_shows_its_run_after_start(guest, contributor, process, farm):
    add_worker_run(process, slug="ocr")
    start_process(process.pk, farm=farm)
    response = page_client(guest).get(url(process))
    assert nodes(response) == {"ocr": "pending"}


@pytest.mark.parametrize("count", [2, 50])
def test_the_states_endpoint_takes_six_queries_whatever_the_number_of_tasks(
    count, guest, process, django_assert_num_queries
):
    make_run(process, **{f"t{i:02}": State.RUNNING for i in range(count)})
    client = page_client(guest)
    # The session, the user, the version of the process (its ETag), the process, the
    # states of the run, whether it is active.
    with django_assert_num_queries(6):
        response = client.get(url(process, "states/"))
    body = response.json()
    assert len(body["tasks"]) == count
    assert body["active"] is True
    # Nothing changed: the same ETag is a 304 after the session, the user and the version.
    with django_assert_num_queries(3):
        again = client.get(url(process, "states/"), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_the_failure_summary_shows_the_last_log_lines_of_the_first_three(guest, process, agent):
    from django.conf import settings

    from ponos.storage import get_storage, log_key

    tasks = make_run(
        process,
        ok=State.COMPLETED,
        **{f"bad_{index}": State.FAILED for index in range(1, 5)},
        broken=State.ERROR,
    )
    for slug, task in tasks.items():
        Task.objects.filter(pk=task.pk).update(agent=agent)
        lines = "".join(f"{slug} line {number}\n" for number in range(1, 21))
        get_storage().put_bytes(
            settings.PONOS_LOGS_BUCKET, log_key(task.id), lines.encode(), "text/plain"
        )
    response = page_client(guest).get(url(process))
    body = text(response)
    assert "5 tasks failed or ended in error; the last lines of the logs of the first 3." in body
    # Failed and errored tasks, in natural order; the logs of three only are read.
    page = response.content.decode()
    shown = re.findall(r'<h3><a href="/ui/task/[0-9a-f-]+/">([^<]+)</a>', page)
    assert shown == ["bad_1", "bad_2", "bad_3"]
    for slug in shown:
        assert f"{slug} line 13\n{slug} line 14" in page
        assert f"{slug} line 12\n" not in page
    assert "bad_4 line" not in page and "broken line" not in page
    assert 'href="?run=0&amp;state=failed#tasks">All failed</a>' in page
    assert 'href="?run=0&amp;state=error#tasks">All in error</a>' in page


def test_the_worker_runs_read_their_activity_counts_with_the_session(guest, started):
    """The page's script fills each worker run's elements by activity state from
    ListProcessActivityCounts, which the page's session may call."""
    client = page_client(guest)
    page = client.get(url(started)).content.decode()
    counts_url = f"/api/v1/process/{started.id}/activity-counts/"
    assert f'<table class="worker-runs" data-activity-counts="{counts_url}">' in page
    run = started.worker_runs.get()
    assert f'<tr data-worker-run="{run.id}">' in page
    response = client.get(counts_url)
    assert response.status_code == 200
    assert [item["worker_run_id"] for item in response.json()["worker_runs"]] == [str(run.id)]
    again = client.get(counts_url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
