"""The task page: state, times, agent, relatives, log tail and artifacts, for the readers
of its process only, in a number of queries that does not depend on its relatives."""

import re

import pytest
from django.conf import settings
from django.utils import timezone

from ponos.models import Artifact, State
from ponos.storage import get_storage, log_key
from tests.factories import TaskFactory
from tests.pages.conftest import assert_error_page, page_client, text

pytestmark = pytest.mark.django_db


def url(task):
    return f"/ui/task/{task.id}/"


def write_log(task, content):
    get_storage().put_bytes(settings.PONOS_LOGS_BUCKET, log_key(task.id), content, "text/plain")


def test_a_reader_sees_the_task_its_log_relatives_and_artifacts(guest, running_task, process):
    parent = TaskFactory(process=process, slug="parent", state=State.COMPLETED)
    child = TaskFactory(process=process, slug="child", state=State.UNSCHEDULED, depth=1)
    running_task.parents.add(parent)
    child.parents.add(running_task)
    Artifact.objects.create(task=running_task, path="out/result.json", size=2048)
    write_log(running_task, b"starting\n" + b"x" * 20000 + b"\nthe last line\n")
    response = page_client(guest).get(url(running_task))
    assert response.status_code == 200
    body = text(response)
    assert "Main process › run 0 main-task running" in body
    assert "Agent agent-main" in body
    assert "Parents parent Children child" in body
    page = response.content.decode()
    assert f'href="/ui/task/{parent.id}/"' in page and f'href="/ui/task/{child.id}/"' in page
    # The tail of the log, as RetrieveTask gives it, and a link to the whole log.
    log = re.search(r"<pre class=\"log\" data-log>(.*?)</pre>", page, re.S).group(1)
    assert log.endswith("the last line\n")
    assert "starting" not in log
    assert len(log) == settings.PONOS_LOG_TAIL
    assert "Full log</a>" in page and f"{log_key(running_task.id)}" in page
    # Artifacts with their sizes and their DownloadArtifact links.
    assert "out/result.json 2.0 KB application/octet-stream" in body
    assert f'href="/api/v1/task/{running_task.id}/artifact/out/result.json"' in page
    # The log refreshes from RetrieveTask while the task is active.
    assert f'data-refresh-task="/api/v1/task/{running_task.id}/" data-active="true"' in page
    # A guest has no button.
    assert "/stop/" not in page and "/restart/" not in page


def test_a_download_link_of_the_page_works_with_the_session(guest, running_task):
    Artifact.objects.create(task=running_task, path="a b/ü.txt", size=3)
    client = page_client(guest)
    page = client.get(url(running_task)).content.decode()
    link = re.search(r'<td><a href="(/api/v1/task/[^"]+)">a b/ü.txt</a>', page).group(1)
    response = client.get(link)
    assert response.status_code == 302
    assert "/storage/" in response["Location"]


def test_a_finished_task_links_its_full_log_once_it_is_assembled(guest, running_task):
    from ponos.logs import assemble_log
    from ponos.models import LogPiece, Task
    from ponos.storage import log_piece_key

    LogPiece.objects.create(task=running_task, offset=0, size=13)
    get_storage().put_bytes(
        settings.PONOS_LOGS_BUCKET,
        log_piece_key(running_task.id, 0),
        b"the last one\n",
        "text/plain",
    )
    Task.objects.filter(pk=running_task.pk).update(state=State.FAILED, finished=timezone.now())
    client = page_client(guest)
    # Ended a moment ago: the tail comes from the pieces, there is no whole log to link yet
    page = client.get(url(running_task)).content.decode()
    assert "the last one" in page and "Full log" not in page

    assert assemble_log(running_task.id) == 1
    page = client.get(url(running_task)).content.decode()
    assert "the last one" in page and "Full log</a>" in page


def test_a_task_without_log_says_so(guest, process):
    task = TaskFactory(process=process, slug="waiting", state=State.UNSCHEDULED)
    response = page_client(guest).get(url(task))
    assert "No log yet." in text(response)
    assert "Full log" not in text(response)
    assert "No artifact." in text(response)
    assert 'data-active="false"' in response.content.decode()


def test_a_finished_task_of_the_last_run_can_be_restarted_by_a_manager(
    contributor, running_task, process
):
    process.last_run = 0
    process.save()
    failed = TaskFactory(
        process=process, slug="failed", state=State.FAILED, finished=timezone.now()
    )
    page = page_client(contributor).get(url(failed)).content.decode()
    assert f'action="/ui/task/{failed.id}/restart/"' in page
    assert f'action="/ui/task/{failed.id}/stop/"' not in page
    page = page_client(contributor).get(url(running_task)).content.decode()
    assert f'action="/ui/task/{running_task.id}/stop/"' in page
    assert f'action="/ui/task/{running_task.id}/restart/"' not in page


@pytest.mark.parametrize("who", ["outsider", "farm_guest"])
def test_a_task_the_caller_cannot_read_is_a_404(who, request, running_task):
    response = page_client(request.getfixturevalue(who)).get(url(running_task))
    body = assert_error_page(response, 404, "No task has this id, or you may not see it.")
    assert "main-task" not in body


def test_no_secret_appears_on_the_page(superuser, running_task, farm, agent):
    page = page_client(superuser).get(url(running_task)).content.decode()
    assert running_task.token not in page
    assert farm.seed not in page
    assert agent.clear_token not in page and agent.token_hash not in page


@pytest.mark.parametrize("relatives", [1, 30])
def test_the_page_takes_eight_queries_whatever_its_relatives(
    relatives, guest, running_task, process, django_assert_num_queries
):
    for index in range(relatives):
        running_task.parents.add(TaskFactory(process=process, slug=f"p{index}"))
        TaskFactory(process=process, slug=f"c{index}").parents.add(running_task)
        Artifact.objects.create(task=running_task, path=f"file{index}", size=index)
    client = page_client(guest)
    # The session, the user, the task with its agent, process, worker version and manage
    # right, its parents, children, restarts and artifacts; the last pieces of its log
    # (running).
    with django_assert_num_queries(8):
        response = client.get(url(running_task))
    assert response.content.decode().count('class="task-link"') == 2 * relatives


def test_the_full_log_link_shows_the_log_as_text_and_an_artifact_link_saves_it(guest, running_task):
    write_log(running_task, b"<script>alert(1)</script>\n")
    get_storage().put_bytes(
        settings.PONOS_ARTIFACTS_BUCKET, f"{running_task.id}/report.html", b"<script>", "text/html"
    )
    Artifact.objects.create(task=running_task, path="report.html", size=8, content_type="text/html")
    client = page_client(guest)
    page = client.get(url(running_task)).content.decode()

    full_log = re.search(r'<a href="([^"]+)">Full log</a>', page).group(1).replace("&amp;", "&")
    log = client.get(full_log)
    assert b"".join(log.streaming_content) == b"<script>alert(1)</script>\n"
    assert log["Content-Type"] == "text/plain; charset=utf-8"
    assert log["Content-Disposition"] == "inline"
    assert log["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in log["Content-Security-Policy"]

    link = re.search(r'<td><a href="(/api/v1/task/[^"]+)">report.html</a>', page).group(1)
    artifact = client.get(client.get(link)["Location"])
    assert artifact["Content-Type"] == "application/octet-stream"
    assert artifact["Content-Disposition"] == 'attachment; filename="report.html"'


def test_the_page_shows_the_exit_code_the_command_and_the_version(guest, process, farm):
    from tests.process.helpers import add_worker_run

    run = add_worker_run(process, slug="layout")
    task = TaskFactory(
        process=process,
        slug="layout_9",
        state=State.FAILED,
        worker_run=run,
        command="run layout --strict",
        exit_code=137,
        chunk=9,
        started=timezone.now() - timezone.timedelta(minutes=3, seconds=12),
        finished=timezone.now(),
    )
    response = page_client(guest).get(url(task))
    body = text(response)
    assert "Exit code 137" in body
    assert f"Worker version {run.version.worker.name} v{run.version.version}" in body
    assert "Command run layout --strict" in body
    assert "Duration 3 min 12 s" in body
    # Times carry their zone.
    assert re.search(r"Started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", body), body
    no_code = TaskFactory(process=process, slug="other", state=State.RUNNING)
    assert "Exit code —" in text(page_client(guest).get(url(no_code)))
