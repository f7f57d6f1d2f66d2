"""Upload URLs do not outlive their task: a finished task's log and artifacts stay as they are.

The local backend checks the owning task's state at upload time; the definition gives no log
URL for a finished task (an S3 URL signed earlier cannot be recalled: see the README).
"""

import pytest

from ponos.models import State, Task
from ponos.storage import artifact_key, log_key
from tests.conftest import agent_client
from tests.ponos.storage.fixtures import use_local_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(settings, tmp_path):
    return use_local_storage(settings, tmp_path / "storage", "http://testserver")


def finish(task, state=State.COMPLETED):
    Task.objects.filter(pk=task.pk).update(state=state)


def put(client, url, data, content_type):
    return client.generic("PUT", url, data, content_type=content_type)


@pytest.mark.parametrize("state", [State.COMPLETED, State.FAILED, State.ERROR, State.STOPPED])
def test_an_artifact_url_signed_while_the_task_ran_is_refused_once_it_ended(
    local, agent, running_task, state
):
    client = agent_client(agent)
    body = {"path": "out.txt", "size": 5, "content_type": "text/plain"}
    url = client.post(f"/api/v1/task/{running_task.id}/artifacts/", body).json()["s3_put_url"]
    assert put(client, url, b"first", "text/plain").status_code == 200
    finish(running_task, state)

    response = put(client, url, b"later", "text/plain")

    assert response.status_code == 403
    assert f"The task is {state.value}" in response.content.decode()
    file, _ = local.open_object(local.artifacts_bucket, artifact_key(running_task.id, "out.txt"))
    with file:
        assert file.read() == b"first"


def test_a_log_url_signed_while_the_task_ran_is_refused_once_it_ended(local, agent, running_task):
    client = agent_client(agent)
    definition = client.get(f"/api/v1/task/{running_task.id}/definition/").json()
    url = definition["s3_logs_put_url"]
    assert put(client, url, b"line 1\n", "text/plain").status_code == 200
    finish(running_task)

    assert put(client, url, b"rewritten\n", "text/plain").status_code == 403
    assert local.read_tail(local.logs_bucket, log_key(running_task.id), 100) == b"line 1\n"


def test_a_url_of_a_deleted_task_is_refused(local, agent, running_task):
    client = agent_client(agent)
    url = client.get(f"/api/v1/task/{running_task.id}/definition/").json()["s3_logs_put_url"]
    Task.objects.filter(pk=running_task.pk).delete()

    response = put(client, url, b"line\n", "text/plain")

    assert response.status_code == 403
    assert "No task owns this object" in response.content.decode()
    assert local.read_tail(local.logs_bucket, log_key(running_task.id), 100) is None


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_the_definition_of_a_finished_task_gives_no_log_url(request, backend, agent, running_task):
    request.getfixturevalue(backend)
    client = agent_client(agent)
    url = f"/api/v1/task/{running_task.id}/definition/"
    assert client.get(url).json()["s3_logs_put_url"]
    finish(running_task, State.FAILED)

    response = client.get(url)

    assert response.status_code == 200
    assert response.json()["s3_logs_put_url"] is None
    assert response.json()["env"]["PONOS_TASK"] == str(running_task.id)
