from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from ponos.models import GPU, State, Task
from ponos.storage import log_key
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

TASK_FIELDS = {
    "id",
    "process_id",
    "run",
    "depth",
    "slug",
    "state",
    "parents",
    "image",
    "command",
    "env",
    "requires_gpu",
    "priority",
    "ttl",
    "shm_size",
    "agent",
    "gpu_id",
    "worker_run_id",
    "original_task_id",
    "exit_code",
    "expiry",
    "created",
    "updated",
    "started",
    "finished",
    "full_log",
    "logs",
}


def url(task):
    return f"/api/v1/task/{task.id}/"


def iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def test_a_reader_gets_every_field_of_the_spec_and_never_the_token(
    guest, running_task, process, agent, s3
):
    parent = TaskFactory(process=process, slug="parent", state=State.COMPLETED)
    running_task.parents.add(parent)
    gpu = GPU.objects.create(agent=agent, gpu_id="GPU-7", name="T4", index=0, ram_total=1)
    Task.objects.filter(pk=running_task.pk).update(
        env={"COLOR": "blue"}, gpu=gpu, requires_gpu=True, ttl=3600, shm_size="2g", depth=1
    )
    running_task.refresh_from_db()
    s3.put_bytes(s3.logs_bucket, log_key(running_task.id), b"line 1\nline 2\n", "text/plain")

    response = client_for(guest).get(url(running_task))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TASK_FIELDS
    full_log = body.pop("full_log")
    assert body == {
        "id": str(running_task.id),
        "process_id": str(process.id),
        "run": 0,
        "depth": 1,
        "slug": "main-task",
        "state": "running",
        "parents": [str(parent.id)],
        "image": "registry.example.com/worker:latest",
        "command": "echo hello",
        "env": {"COLOR": "blue"},
        "requires_gpu": True,
        "priority": 10,
        "ttl": 3600,
        "shm_size": "2g",
        "agent": {"id": str(agent.id), "hostname": "agent-main"},
        "gpu_id": "GPU-7",
        "worker_run_id": None,
        "original_task_id": None,
        "exit_code": None,
        "expiry": iso(running_task.expiry),
        "created": iso(running_task.created),
        "updated": iso(running_task.updated),
        "started": iso(running_task.started),
        "finished": None,
        "logs": "line 1\nline 2\n",
    }
    assert running_task.token not in response.content.decode()
    # A signed GET of the log's key in the logs bucket.
    parts = urlsplit(full_log)
    assert parts.path == f"/ponos-logs/{running_task.id}.log"
    assert "X-Amz-Signature" in parse_qs(parts.query)


def test_logs_are_the_tail_of_the_log(guest, running_task, s3, settings):
    settings.PONOS_LOG_TAIL = 10
    log = "début\n" + "x" * 20 + "\nthe end ✓"
    s3.put_bytes(s3.logs_bucket, log_key(running_task.id), log.encode(), "text/plain")
    body = client_for(guest).get(url(running_task)).json()
    # The last 10 bytes: the check mark is 3 of them.
    assert body["logs"] == "he end ✓"


def test_a_tail_cut_in_a_character_is_decoded_with_replacements(guest, running_task, s3, settings):
    settings.PONOS_LOG_TAIL = 2
    s3.put_bytes(s3.logs_bucket, log_key(running_task.id), "✓".encode(), "text/plain")
    assert client_for(guest).get(url(running_task)).json()["logs"] == "\ufffd\ufffd"


def test_a_task_without_log_yet_has_empty_logs_and_no_full_log(guest, running_task, s3):
    body = client_for(guest).get(url(running_task)).json()
    assert body["logs"] == ""
    assert body["full_log"] is None


def test_a_task_that_never_reached_an_agent_has_no_log(guest, process, s3):
    task = TaskFactory(process=process, state=State.UNSCHEDULED)
    body = client_for(guest).get(url(task)).json()
    assert (body["logs"], body["full_log"], body["agent"]) == ("", None, None)


def test_an_unreachable_storage_gives_empty_logs_not_an_error(guest, running_task, settings):
    settings.ARKINDEX_STORAGE = "s3"
    # Nothing listens there: the connection is refused at once.
    settings.ARKINDEX_S3_ENDPOINT = "http://127.0.0.1:9"
    settings.ARKINDEX_S3_ACCESS_KEY = settings.ARKINDEX_S3_SECRET_KEY = "testing"
    response = client_for(guest).get(url(running_task))
    assert response.status_code == 200, response.content
    assert response.json()["logs"] == ""
    assert response.json()["full_log"].startswith("http://127.0.0.1:9/ponos-logs/")


@pytest.mark.parametrize("caller", ["superuser", "corpus_admin", "contributor", "guest"])
def test_readers_of_the_process_read_its_tasks(request, caller, running_task):
    response = client_for(request.getfixturevalue(caller)).get(url(running_task))
    assert response.status_code == 200


@pytest.mark.parametrize("caller", ["outsider", "farm_guest"])
def test_others_get_a_404(request, caller, running_task):
    assert_error(client_for(request.getfixturevalue(caller)).get(url(running_task)), 404)


def test_a_public_corpus_makes_its_tasks_readable(outsider, running_task, corpus):
    corpus.public = True
    corpus.save()
    assert client_for(outsider).get(url(running_task)).status_code == 200


def test_a_task_reads_itself_and_the_tasks_its_creator_may_read(running_task, contributor):
    other = TaskFactory(process=ProcessFactory(creator=contributor, farm=running_task.process.farm))
    client = task_client(running_task)
    assert client.get(url(running_task)).status_code == 200
    assert client.get(url(other)).status_code == 200


def test_a_task_token_gets_a_404_on_tasks_its_creator_may_not_read(running_task):
    hidden = TaskFactory(process=ProcessFactory(creator=UserFactory()))
    assert_error(task_client(running_task).get(url(hidden)), 404)


def test_a_task_token_stops_working_the_moment_its_task_is_final(running_task, agent):
    client = task_client(running_task)
    assert client.get(url(running_task)).status_code == 200
    response = agent_client(agent).patch(url(running_task), {"state": "completed"})
    assert response.status_code == 200
    assert_unauthorized(client.get(url(running_task)), code="authentication_failed")


@pytest.mark.parametrize("state", [State.UNSCHEDULED, State.FAILED, State.STOPPED])
def test_a_task_token_works_only_while_its_task_is_active(process, state):
    task = TaskFactory(process=process, state=state)
    assert_unauthorized(task_client(task).get(url(task)), code="authentication_failed")


def test_the_holding_agent_reads_its_task_and_others_get_a_404(
    running_task, agent, other_agent, farm
):
    assert agent_client(agent).get(url(running_task)).status_code == 200
    # Another agent of the same farm does not hold it.
    assert_error(agent_client(AgentFactory(farm=farm)).get(url(running_task)), 404)
    assert_error(agent_client(other_agent).get(url(running_task)), 404)


def test_a_malformed_or_unknown_id_is_a_404(guest):
    client = client_for(guest)
    assert_error(client.get("/api/v1/task/not-a-uuid/"), 404)
    assert_error(client.get("/api/v1/task/00000000-0000-4000-8000-000000000000/"), 404)


def test_retrieving_a_task_takes_the_same_queries_for_any_number_of_parents(
    guest, running_task, process, s3, django_assert_num_queries
):
    def add_parents(count):
        for _ in range(count):
            running_task.parents.add(TaskFactory(process=process, state=State.COMPLETED))

    add_parents(1)
    # The token and its user; the task with its agent and GPU (rights in a subquery); its
    # parents' ids; the last pieces of its log (a running task's tail is read from them).
    with django_assert_num_queries(4):
        client_for(guest).get(url(running_task))
    add_parents(20)
    with django_assert_num_queries(4):
        body = client_for(guest).get(url(running_task)).json()
    assert len(body["parents"]) == 21


def test_expiry_and_finished_are_iso_dates(guest, process):
    finished = timezone.now() - timedelta(hours=1)
    task = TaskFactory(process=process, state=State.FAILED, finished=finished)
    body = client_for(guest).get(url(task)).json()
    assert body["finished"] == iso(finished)
