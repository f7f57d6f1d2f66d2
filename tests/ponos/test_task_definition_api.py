import json
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from ponos.models import GPU, State, Task, hash_token
from process.models import ProcessMode
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory, WorkerRunFactory

pytestmark = pytest.mark.django_db


def url(task):
    return f"/api/v1/task/{task.id}/definition/"


def definition(agent, task):
    response = agent_client(agent).get(url(task))
    assert response.status_code == 200, response.content
    return response.json()


def test_the_holding_agent_gets_what_it_runs(agent, running_task, process, corpus, s3, settings):
    settings.PONOS_DEFAULT_ENV = {"FROM_SETTINGS": "yes", "COLOR": "red", "THREADS": 4}
    parent = TaskFactory(process=process, slug="parent", state=State.COMPLETED)
    running_task.parents.add(parent)
    gpu = GPU.objects.create(agent=agent, gpu_id="GPU-3", name="T4", index=0, ram_total=1)
    Task.objects.filter(pk=running_task.pk).update(
        env={"COLOR": "blue"}, gpu=gpu, requires_gpu=True, ttl=60, shm_size="1g"
    )
    body = definition(agent, running_task)
    put_url = body.pop("s3_logs_put_url")
    assert body == {
        "id": str(running_task.id),
        "slug": "main-task",
        "process_id": str(process.id),
        "run": 0,
        # A restarted agent adopts its containers only while the task is still its own
        "state": "running",
        "image": "registry.example.com/worker:latest",
        "command": "echo hello",
        "env": {
            "FROM_SETTINGS": "yes",
            "THREADS": "4",
            # The task's own env wins over the settings.
            "COLOR": "blue",
            "PONOS_TASK": str(running_task.id),
            "ARKINDEX_PROCESS_ID": str(process.id),
            "ARKINDEX_TASK_TOKEN": running_task.token,
            "ARKINDEX_API_URL": settings.ARKINDEX_PUBLIC_URL,
            "ARKINDEX_CORPUS_ID": str(corpus.id),
            # Parent ids to slugs, for arkindex-base-worker's bootstrap mode.
            "TASK_PARENTS": json.dumps({str(parent.id): "parent"}),
        },
        "shm_size": "1g",
        "requires_gpu": True,
        "gpu_id": "GPU-3",
        "ttl": 60,
        "parents": [{"id": str(parent.id), "slug": "parent"}],
    }
    parts = urlsplit(put_url)
    assert parts.path == f"/ponos-logs/{running_task.id}.log"
    signed = parse_qs(parts.query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-type" in signed
    # The token lives in the definition only, never in the stored env.
    assert running_task.token not in str(Task.objects.get(pk=running_task.pk).env)


def test_every_read_gives_the_same_working_token_stored_only_sealed(agent, running_task):
    tokens = {definition(agent, running_task)["env"]["ARKINDEX_TASK_TOKEN"] for _ in range(3)}
    [token] = tokens
    # The code in the task authenticates with it, as its process creator.
    answer = client_for(token=token, scheme="Ponos").get("/api/v1/user/").json()
    assert answer["email"] == running_task.process.creator.email
    # The row holds the token sealed with the secret key and its digest, never the token.
    stored = Task.objects.filter(pk=running_task.pk).values().get()
    assert token not in str(stored)
    assert stored["token_hash"] == hash_token(token)


def test_a_task_created_since_gets_a_token_of_its_own(agent, running_task, process):
    other = TaskFactory(process=process, slug="other", state=State.PENDING, agent=agent)
    first = definition(agent, running_task)["env"]["ARKINDEX_TASK_TOKEN"]
    second = definition(agent, other)["env"]["ARKINDEX_TASK_TOKEN"]
    assert len({first, second}) == 2
    assert Task.objects.get(token_hash=hash_token(second)) == other


def test_each_read_gives_a_fresh_log_url(agent, running_task, s3):
    with time_machine.travel("2026-01-01T00:00:00Z", tick=False) as traveller:
        first = definition(agent, running_task)["s3_logs_put_url"]
        traveller.shift(5)
        second = definition(agent, running_task)["s3_logs_put_url"]
    assert first != second
    assert parse_qs(urlsplit(second).query)["X-Amz-Date"] == ["20260101T000005Z"]


def test_the_env_of_a_worker_run_in_chunks(agent, farm, contributor, corpus, settings):
    process = ProcessFactory(corpus=corpus, creator=contributor, farm=farm, chunks=3)
    worker_run = WorkerRunFactory(process=process)
    task = TaskFactory(
        process=process,
        state=State.PENDING,
        agent=agent,
        worker_run=worker_run,
        chunk=2,
        slug="worker_2",
    )
    env = definition(agent, task)["env"]
    assert env["ARKINDEX_WORKER_RUN_ID"] == str(worker_run.id)
    assert env["ARKINDEX_TASK_CHUNK"] == "2"
    assert "ARKINDEX_REPOSITORY_URL" not in env


def test_a_task_without_parents_gets_an_empty_task_parents(agent, running_task):
    assert json.loads(definition(agent, running_task)["env"]["TASK_PARENTS"]) == {}


def test_task_parents_cannot_be_stored_in_an_env(running_task):
    response = task_client(running_task).post(
        "/api/v1/task/",
        {
            "process_id": str(running_task.process_id),
            "slug": "child",
            "image": "alpine",
            "env": {"TASK_PARENTS": "{}"},
        },
        format="json",
    )
    assert_error(response, 400, attr=["env"])
    assert not Task.objects.filter(slug="child").exists()


def test_a_single_chunk_sets_no_chunk(agent, running_task):
    Task.objects.filter(pk=running_task.pk).update(chunk=1)
    assert "ARKINDEX_TASK_CHUNK" not in definition(agent, running_task)["env"]


def test_the_env_of_a_repository_import(agent, farm, contributor):
    process = ProcessFactory(
        mode=ProcessMode.REPOSITORY,
        creator=contributor,
        farm=farm,
        repository_url="https://git.example.com/group/project",
    )
    task = TaskFactory(process=process, slug="import", state=State.PENDING, agent=agent)
    env = definition(agent, task)["env"]
    assert env["ARKINDEX_REPOSITORY_URL"] == "https://git.example.com/group/project"
    assert "ARKINDEX_CORPUS_ID" not in env
    assert "ARKINDEX_WORKER_RUN_ID" not in env


def test_ponos_workflow_is_never_set_and_a_stored_token_is_overridden(agent, running_task):
    Task.objects.filter(pk=running_task.pk).update(env={"ARKINDEX_TASK_TOKEN": "forged"})
    env = definition(agent, running_task)["env"]
    assert "PONOS_WORKFLOW" not in env
    assert env["ARKINDEX_TASK_TOKEN"] == running_task.token


def test_only_the_holding_agent_reads_a_definition(running_task, farm, other_agent, superuser):
    assert_error(agent_client(AgentFactory(farm=farm)).get(url(running_task)), 404)
    assert_error(agent_client(other_agent).get(url(running_task)), 404)
    # Readers of the task may not read its token.
    assert_error(client_for(superuser).get(url(running_task)), 403)
    assert_error(task_client(running_task).get(url(running_task)), 403)


def test_reading_a_definition_takes_the_same_queries_for_any_number_of_parents(
    agent, running_task, process, django_assert_num_queries
):
    def add_parents(count):
        for _ in range(count):
            running_task.parents.add(TaskFactory(process=process, state=State.COMPLETED))

    add_parents(1)
    # The agent token; the task with its process and GPU; its parents.
    with django_assert_num_queries(3):
        definition(agent, running_task)
    add_parents(20)
    with django_assert_num_queries(3):
        assert len(definition(agent, running_task)["parents"]) == 21
