"""Logs sent in pieces (CreateLogPiece), their tail while the task runs, the watched marks
seen by the agent's polls, and the assembly into `<task id>.log` when the task ends, on both
storage backends."""

from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ponos.logs import GAP_LINE, SLACK, WATCH_KEY, assemble_log
from ponos.models import LogPiece, State, Task
from ponos.states import release_dead_agents
from ponos.storage import log_key, log_piece_key
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, TaskFactory
from tests.ponos.conftest import keys

pytestmark = pytest.mark.django_db


def pieces_url(task):
    return f"/api/v1/task/{task.id}/log/"


def send_piece(agent, task, offset, data):
    """What the agent does: ask for a URL for the piece, then PUT exactly its bytes."""
    response = agent_client(agent).post(
        pieces_url(task), {"offset": offset, "size": len(data)}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"offset", "size", "s3_put_url", "log_max_size"}
    return body["s3_put_url"]


def put(storage_kind, client, url, data):
    if storage_kind == "local":
        # The local backend's URLs are served by the application itself
        return client.generic("PUT", url, data, content_type="text/plain")
    return requests.put(url, data=data, headers={"Content-Type": "text/plain"}, timeout=10)


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path):
    """(kind, storage): the application's storage on each backend in turn, its URLs usable."""
    if request.param == "local":
        return "local", request.getfixturevalue("local_app_storage")
    return "s3", request.getfixturevalue("s3_http")


def upload(backend, agent, task, offset, data):
    kind, _storage = backend
    response = put(kind, client_for(), send_piece(agent, task, offset, data), data)
    assert response.status_code == 200
    return offset + len(data)


def test_the_agent_sends_pieces_and_readers_see_their_tail_while_the_task_runs(
    backend, guest, agent, running_task, settings
):
    settings.PONOS_LOG_TAIL = 12
    kind, storage = backend
    end = upload(backend, agent, running_task, 0, b"line one\n")
    end = upload(backend, agent, running_task, end, b"line two\n")

    body = client_for(guest).get(f"/api/v1/task/{running_task.id}/").json()
    # The last 12 bytes, across the two pieces; no single object to download yet
    assert body["logs"] == "ne\nline two\n"
    assert body["full_log"] is None
    assert keys(storage, storage.logs_bucket) == [
        log_piece_key(running_task.id, 0),
        log_piece_key(running_task.id, 9),
    ]
    assert list(LogPiece.objects.values_list("offset", "size").order_by("offset")) == [
        (0, 9),
        (9, 9),
    ]


def test_the_final_report_assembles_the_pieces_into_the_log_and_deletes_them(
    backend, guest, agent, running_task, django_capture_on_commit_callbacks
):
    kind, storage = backend
    end = upload(backend, agent, running_task, 0, b"first\n")
    end = upload(backend, agent, running_task, end, b"second\n")

    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client(agent).patch(
            f"/api/v1/task/{running_task.id}/", {"state": "completed"}, format="json"
        )
    assert response.status_code == 200

    assert keys(storage, storage.logs_bucket) == [log_key(running_task.id)]
    assert storage.read_tail(storage.logs_bucket, log_key(running_task.id), 100) == (
        b"first\nsecond\n"
    )
    assert not LogPiece.objects.exists()
    body = client_for(guest).get(f"/api/v1/task/{running_task.id}/").json()
    assert body["logs"] == "first\nsecond\n"
    assert body["full_log"] is not None


def test_an_agent_killed_mid_task_keeps_its_log_through_the_dead_agent_rule(
    backend, agent, running_task, django_capture_on_commit_callbacks, settings
):
    kind, storage = backend
    upload(backend, agent, running_task, 0, b"working...\n")
    # The agent dies: no more polls
    silent = timezone.now() - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT + 1)
    type(agent).objects.filter(pk=agent.pk).update(last_ping=silent)

    with django_capture_on_commit_callbacks(execute=True):
        assert release_dead_agents() == 1

    assert Task.objects.get(pk=running_task.pk).state == State.ERROR
    assert keys(storage, storage.logs_bucket) == [log_key(running_task.id)]
    assert storage.read_tail(storage.logs_bucket, log_key(running_task.id), 100) == (
        b"working...\n"
    )
    assert not LogPiece.objects.exists()


def test_a_piece_that_never_arrived_leaves_a_line_saying_so(
    backend, agent, running_task, django_capture_on_commit_callbacks
):
    kind, storage = backend
    upload(backend, agent, running_task, 0, b"head\n")
    # The piece at 5 was asked for, never uploaded; the next one was
    send_piece(agent, running_task, 5, b"lost\n")
    upload(backend, agent, running_task, 10, b"tail\n")
    Task.objects.filter(pk=running_task.pk).update(state=State.FAILED)

    assert assemble_log(running_task.id) == 2

    log = storage.read_tail(storage.logs_bucket, log_key(running_task.id), 1000)
    assert log == b"head\n" + GAP_LINE.format(5).encode() + b"tail\n"


def test_a_piece_beyond_the_bound_is_refused(agent, running_task, settings, local_app_storage):
    settings.PONOS_LOG_MAX_SIZE = 64 * 1024
    client = agent_client(agent)
    # The bound plus the slack for the line saying what was cut is fine...
    within = {"offset": 64 * 1024, "size": SLACK}
    assert client.post(pieces_url(running_task), within, format="json").status_code == 201
    # ...one more byte is not
    beyond = {"offset": 64 * 1024, "size": SLACK + 1}
    response = client.post(pieces_url(running_task), beyond, format="json")
    assert_error(response, 400, attr=["size"])
    assert "PONOS_LOG_MAX_SIZE" in response.json()["errors"][0]["detail"]
    assert list(LogPiece.objects.values_list("offset", "size")) == [(64 * 1024, SLACK)]


def test_the_piece_url_takes_exactly_the_declared_bytes(agent, running_task, local_app_storage):
    url = send_piece(agent, running_task, 0, b"12345")
    response = put("local", client_for(), url, b"123456")
    assert response.status_code == 413
    assert keys(local_app_storage, local_app_storage.logs_bucket) == []


def test_a_finished_task_gets_no_piece_url_and_its_old_urls_are_refused(
    agent, running_task, local_app_storage
):
    url = send_piece(agent, running_task, 0, b"late\n")
    Task.objects.filter(pk=running_task.pk).update(state=State.COMPLETED)

    response = agent_client(agent).post(
        pieces_url(running_task), {"offset": 5, "size": 1}, format="json"
    )
    assert_error(response, 400, attr=["state"])
    # A URL signed while the task ran no longer takes anything on the local backend
    response = put("local", client_for(), url, b"late\n")
    assert response.status_code == 403
    assert b"completed" in response.content
    assert keys(local_app_storage, local_app_storage.logs_bucket) == []


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"offset": -1, "size": 1}, ["offset"]),
        ({"offset": 0, "size": 0}, ["size"]),
        ({"offset": "x", "size": 1}, ["offset"]),
        ({"size": 1}, ["offset"]),
    ],
)
def test_malformed_pieces_are_refused(agent, running_task, local_app_storage, body, attr):
    response = agent_client(agent).post(pieces_url(running_task), body, format="json")
    assert_error(response, 400, attr=attr)
    assert not LogPiece.objects.exists()


def test_only_the_holding_agent_sends_pieces(
    agent, running_task, guest, process, local_app_storage
):
    other = AgentFactory(farm=agent.farm)
    body = {"offset": 0, "size": 1}
    assert_error(agent_client(other).post(pieces_url(running_task), body, format="json"), 404)
    assert_error(task_client(running_task).post(pieces_url(running_task), body, format="json"), 403)
    assert_error(client_for(guest).post(pieces_url(running_task), body, format="json"), 403)
    assert not LogPiece.objects.exists()


# Watched


def poll(agent):
    response = agent_client(agent).get("/api/v1/agent/actions/")
    assert response.status_code == 200
    return response.json()


def test_a_user_reading_a_running_task_makes_its_agent_hear_it_is_watched(
    agent, running_task, guest, local_app_storage, settings
):
    updated = Task.objects.get(pk=running_task.pk).updated
    assert poll(agent) == {"actions": [], "watched": []}

    client_for(guest).get(f"/api/v1/task/{running_task.id}/")

    assert poll(agent) == {"actions": [], "watched": [str(running_task.id)]}
    # Nothing of it on the task row
    assert Task.objects.get(pk=running_task.pk).updated == updated
    # Watched for PONOS_LOG_WATCH_SECONDS: gone with the cache entry
    cache.delete(WATCH_KEY.format(running_task.id))
    assert poll(agent) == {"actions": [], "watched": []}


def test_the_task_itself_and_its_agent_do_not_count_as_watchers(
    agent, running_task, local_app_storage
):
    task_client(running_task).get(f"/api/v1/task/{running_task.id}/")
    agent_client(agent).get(f"/api/v1/task/{running_task.id}/")
    assert poll(agent)["watched"] == []


def test_another_agent_never_hears_of_tasks_it_does_not_hold(
    agent, running_task, guest, local_app_storage
):
    other = AgentFactory(farm=agent.farm)
    # Alive, so that the other agent's poll does not apply the dead-agent rule to it
    assert poll(agent)["watched"] == []
    client_for(guest).get(f"/api/v1/task/{running_task.id}/")
    assert poll(other)["watched"] == []
    assert poll(agent)["watched"] == [str(running_task.id)]


def test_reading_a_finished_task_marks_nothing(agent, process, guest, local_app_storage):
    done = TaskFactory(process=process, state=State.COMPLETED, agent=agent)
    client_for(guest).get(f"/api/v1/task/{done.id}/")
    assert cache.get(WATCH_KEY.format(done.id)) is None


def test_the_task_page_marks_the_task_watched(agent, running_task, guest, local_app_storage):
    from django.test import Client

    browser = Client()
    browser.force_login(guest)
    assert browser.get(f"/ui/task/{running_task.id}/").status_code == 200
    assert poll(agent)["watched"] == [str(running_task.id)]


def test_watched_tasks_cost_a_poll_no_query(agent, running_task, guest, local_app_storage):
    other = TaskFactory(process=running_task.process, state=State.RUNNING, agent=agent)
    poll(agent)
    with CaptureQueriesContext(connection) as unwatched:
        assert poll(agent)["watched"] == []
    client_for(guest).get(f"/api/v1/task/{running_task.id}/")
    client_for(guest).get(f"/api/v1/task/{other.id}/")
    with CaptureQueriesContext(connection) as watched:
        body = poll(agent)
    assert sorted(body["watched"]) == sorted([str(running_task.id), str(other.id)])
    # The watched marks come from one cache call, not from the database
    assert len(watched.captured_queries) == len(unwatched.captured_queries)
