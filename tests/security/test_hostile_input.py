"""Hostile input: whatever a caller sends, the answer is a 4xx in the error format, never a
500, and a refused request changes nothing.

Checked elsewhere, and listed in the README: unknown state values
(tests/ponos/test_update_task_api.py, tests/process/test_process_detail_api.py,
tests/process/test_process_list_api.py, tests/process/test_workers_api.py), the artifact
paths of the contract (tests/ponos/test_artifacts_api.py), worker-run cycles and parents
(tests/process/test_worker_runs_api.py), CreateTask's parents and slugs
(tests/ponos/test_create_task_api.py), chunks out of range (tests/process/), wrong seeds and
their throttling (tests/ponos/test_create_agent_api.py), bad Authorization headers and CSRF
on one endpoint (tests/arkindex/test_authentication.py).
"""

import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from arkindex.api.parsers import MAX_DEPTH
from arkindex.users.models import UserToken
from arkindex.users.tokens import hash_key, issue_token
from ponos.models import Artifact, State, Task
from process.models import WorkerRun, WorkerVersion
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import ProcessFactory, TaskFactory, WorkerRunFactory, WorkerVersionFactory
from tests.security.helpers import element_of, schema_operations, snapshot, url

pytestmark = pytest.mark.django_db

OPERATIONS = schema_operations()
BY_ID = {operation.id: operation for operation in OPERATIONS}


@pytest.fixture
def ids(corpus, process, running_task, superuser):
    """An object of every kind that paths name, readable by the superuser."""
    version = WorkerVersionFactory()
    worker_run = WorkerRunFactory(process=process, version=version)
    second_key = issue_token(superuser, "A second token")
    # The running task is the task of that worker run, in a process with worker activities,
    # so that the activity operations read what it sends.
    Task.objects.filter(pk=running_task.pk).update(worker_run=worker_run)
    # Set on the object rather than read again, which would drop its agent and that agent's
    # token in clear, which the agent's callers use
    running_task.worker_run = worker_run
    process.activity_state = "ready"
    process.save(update_fields=["activity_state"])
    return {
        "user_token": UserToken.objects.get(key_hash=hash_key(second_key)).id,
        "corpus": corpus.id,
        "process": process.id,
        "task": running_task.id,
        "worker": version.worker_id,
        "version": version.id,
        "worker_run": worker_run.id,
        "element": element_of(corpus).id,
    }


def caller_for(operation, superuser, running_task):
    """A caller the operation lets past its permission checks, so that its input is read."""
    if operation.id in (
        "CreateTask",
        "CreateArtifact",
        "StartWorkerActivity",
        "UpdateWorkerActivity",
    ):
        return task_client(running_task)
    if operation.id in ("Login", "CreateAgent"):
        return APIClient()
    if operation.id == "CreateLogPiece":
        # Only the agent holding the task sends its log
        return agent_client(running_task.agent)
    return client_for(superuser)


def send(operation, body, *, superuser, running_task, ids):
    """Send `body` to an operation as a caller it lets through; the answer."""
    client = caller_for(operation, superuser, running_task)
    return getattr(client, operation.method)(url(operation, ids), body, format="json")


def assert_refused(response, status=400):
    """A 4xx in the error format, whatever its type and attr."""
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert body["type"] in ("client_error", "validation_error"), body
    assert body["errors"] and all(
        set(error) == {"code", "detail", "attr"} for error in body["errors"]
    ), body
    return body["errors"]


# Malformed UUIDs -----------------------------------------------------------------------

MALFORMED_IDS = ["not-a-uuid", "123", str(uuid.uuid4()) + "0", str(uuid.uuid4())[:-1] + "z"]
WITH_ID = [operation for operation in OPERATIONS if "{id}" in operation.path]


@pytest.mark.parametrize("operation", WITH_ID, ids=[operation.id for operation in WITH_ID])
def test_a_malformed_id_in_any_path_is_a_json_404(superuser, operation):
    before = snapshot()
    for value in MALFORMED_IDS:
        for client in (client_for(superuser), APIClient()):
            path = operation.path.format(id=value, path="a.txt")
            response = getattr(client, operation.method)(path, {}, format="json")
            assert_error(response, 404, code="not_found")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("operation", "body", "attr"),
    [
        ("CreateProcess", {"mode": "workers", "corpus": "not-a-uuid"}, ["corpus"]),
        ("CreateProcess", {"mode": "workers", "corpus": 42}, ["corpus"]),
        ("StartProcess", {"farm": "not-a-uuid"}, ["farm"]),
        ("RetryProcess", {"farm": "123"}, ["farm"]),
        ("CreateWorkerRun", {"version": "not-a-uuid"}, ["version"]),
        ("CreateWorkerRun", {"version": "{version}", "parents": ["not-a-uuid"]}, ["parents"]),
        ("UpdateWorkerRun", {"version": str(uuid.uuid4()) + "0"}, ["version"]),
        ("PartialUpdateWorkerRun", {"parents": ["123"]}, ["parents"]),
        ("CreateTask", {"process_id": "123", "slug": "x", "image": "i"}, ["process_id"]),
        ("CreateAgent", {"farm": "not-a-uuid"}, ["farm"]),
    ],
)
def test_a_malformed_id_in_a_body_is_a_400_naming_the_field(
    superuser, running_task, ids, operation, body, attr
):
    operation = BY_ID[operation]
    body = {
        key: str(ids["version"]) if value == "{version}" else value for key, value in body.items()
    }
    if operation.id == "CreateAgent":
        body = {
            "seed": "x",
            "hostname": "h",
            "cpu_cores": 1,
            "cpu_frequency": 1,
            "ram_total": 1,
            **body,
        }
    before = snapshot()
    response = send(operation, body, superuser=superuser, running_task=running_task, ids=ids)
    errors = assert_refused(response)
    assert attr in [error["attr"] for error in errors], errors
    assert snapshot() == before


# Wrong JSON types ----------------------------------------------------------------------

WITH_BODY = [operation for operation in OPERATIONS if operation.has_body]


@pytest.mark.parametrize("operation", WITH_BODY, ids=[operation.id for operation in WITH_BODY])
def test_a_body_that_is_not_an_object_is_a_400(superuser, running_task, ids, operation):
    before = snapshot()
    for body in (b"[]", b'"text"', b"42", b"null", b"true", b"[{}]"):
        client = caller_for(operation, superuser, running_task)
        response = getattr(client, operation.method)(
            url(operation, ids), body, content_type="application/json"
        )
        assert_refused(response)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("operation", "body", "attr"),
    [
        ("CreateCorpus", {"name": ["a list"]}, ["name"]),
        ("CreateCorpus", {"name": {"an": "object"}}, ["name"]),
        ("CreateCorpusMembership", {"user": "gina@example.com", "level": "high"}, ["level"]),
        ("Login", {"email": ["a@b.c"], "password": "x"}, ["email"]),
        ("CreateProcess", {"mode": 5}, ["mode"]),
        ("CreateProcess", {"mode": "workers", "corpus": "{corpus}", "chunks": "ten"}, ["chunks"]),
        (
            "CreateProcess",
            {"mode": "workers", "corpus": "{corpus}", "use_gpu": "maybe"},
            ["use_gpu"],
        ),
        ("PartialUpdateProcess", {"name": ["x"]}, ["name"]),
        ("PartialUpdateProcess", {"state": 5}, ["state"]),
        ("CreateWorkerRun", {"version": "{version}", "parents": "not-a-list"}, ["parents"]),
        ("PartialUpdateWorkerRun", {"configuration": "not-an-object"}, ["configuration"]),
        ("PartialUpdateWorkerVersion", {"configuration": [1, 2]}, ["configuration"]),
        ("PartialUpdateTask", {"state": None}, ["state"]),
        ("PartialUpdateTask", {"state": ["running"]}, ["state"]),
        ("CreateTask", {"env": "A=1"}, ["env"]),
        ("CreateTask", {"priority": "high"}, ["priority"]),
        ("CreateTask", {"requires_gpu": "maybe"}, ["requires_gpu"]),
        ("CreateTask", {"parents": "not-a-list"}, ["parents"]),
        ("CreateArtifact", {"path": "a.txt", "size": "big"}, ["size"]),
        ("CreateArtifact", {"path": "a.txt", "size": 1.5}, ["size"]),
        ("CreateArtifact", {"path": ["a.txt"], "size": 1}, ["path"]),
        ("CreateAgent", {"cpu_cores": "many"}, ["cpu_cores"]),
        ("CreateAgent", {"gpus": {"id": "a"}}, ["gpus"]),
        ("CreateAgent", {"gpus": ["a"]}, ["gpus", 0]),
    ],
)
def test_a_field_of_the_wrong_json_type_is_a_400_naming_it(
    superuser, running_task, process, farm, ids, operation, body, attr
):
    refuse_field(superuser, running_task, process, farm, ids, BY_ID[operation], body, attr)


def refuse_field(superuser, running_task, process, farm, ids, operation, body, attr):
    """Send a body with one bad field (completed to be valid otherwise): a 400 naming it."""
    ref = {"{corpus}": str(ids["corpus"]), "{version}": str(ids["version"])}
    body = {
        key: ref.get(value, value) if isinstance(value, str) else value
        for key, value in body.items()
    }
    if operation.id == "CreateTask":
        body = {"process_id": str(process.id), "slug": "new", "image": "alpine", **body}
    if operation.id == "CreateAgent":
        registration = {"farm": str(farm.id), "seed": farm.seed, "hostname": "h", "cpu_cores": 1}
        body = {**registration, "cpu_frequency": 1, "ram_total": 1, **body}
    before = snapshot()
    response = send(operation, body, superuser=superuser, running_task=running_task, ids=ids)
    errors = assert_refused(response)
    assert attr in [error["attr"] for error in errors], errors
    assert snapshot() == before


# JSON the database could never store ---------------------------------------------------


def nested(depth, leaf="1"):
    return '{"a": ' * depth + leaf + "}" * depth


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 100_000])
def test_a_document_nested_too_deeply_is_a_400(superuser, ids, depth):
    version = WorkerVersion.objects.get(pk=ids["version"])
    body = '{"configuration": ' + nested(depth - 1) + "}"
    response = client_for(superuser).patch(
        f"/api/v1/workers/versions/{version.id}/", body, content_type="application/json"
    )
    errors = assert_error(response, 400, code="parse_error")
    assert f"more than {MAX_DEPTH} levels" in errors[0]["detail"]
    version.refresh_from_db()
    assert version.configuration == {}


def test_a_document_of_the_largest_depth_is_stored(superuser, ids):
    body = '{"configuration": ' + nested(MAX_DEPTH - 1) + "}"
    response = client_for(superuser).patch(
        f"/api/v1/workers/versions/{ids['version']}/", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["configuration"]["a"]["a"]["a"] is not None


@pytest.mark.parametrize(
    ("configuration", "code", "attr"),
    [
        ('{"a": "x\\u0000y"}', "null_characters_not_allowed", ["configuration", "a"]),
        ('{"a\\u0000": 1}', "null_characters_not_allowed", ["configuration"]),
        (
            '{"a": [1, {"b": ["\\u0000"]}]}',
            "null_characters_not_allowed",
            ["configuration", "a", 1, "b", 0],
        ),
        ('{"a": "\\ud800"}', "surrogate_characters_not_allowed", ["configuration", "a"]),
        ('{"\\udfff": 1}', "surrogate_characters_not_allowed", ["configuration"]),
    ],
)
def test_a_character_no_text_can_store_inside_json_is_a_400_naming_where(
    superuser, process, ids, configuration, code, attr
):
    # PostgreSQL stores neither a NUL nor a lone surrogate in text or jsonb: without this
    # check, a 500.
    before = snapshot()
    client = client_for(superuser)
    version = ids["version"]
    for send_body, path, body in (
        (
            client.patch,
            f"/api/v1/workers/versions/{version}/",
            f'{{"configuration": {configuration}}}',
        ),
        (
            client.post,
            f"/api/v1/process/{process.id}/workers/",
            f'{{"version": "{version}", "configuration": {configuration}}}',
        ),
    ):
        response = send_body(path, body, content_type="application/json")
        assert_error(response, 400, code=code, attr=attr)
    assert snapshot() == before


def test_a_valid_astral_character_is_stored(superuser, ids):
    body = '{"configuration": {"\\ud83d\\ude00": "\\ud83d\\ude00"}}'
    response = client_for(superuser).patch(
        f"/api/v1/workers/versions/{ids['version']}/", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert WorkerVersion.objects.get(pk=ids["version"]).configuration == {
        "\U0001f600": "\U0001f600"
    }


def test_a_nul_character_in_an_env_name_is_a_400(running_task, process):
    body = {"process_id": str(process.id), "slug": "new", "image": "i", "env": {"A\u0000": "1"}}
    response = task_client(running_task).post("/api/v1/task/", body, format="json")
    assert_error(response, 400, code="null_characters_not_allowed", attr=["env"])
    assert Task.objects.count() == 1


# Artifact paths and sizes --------------------------------------------------------------


@pytest.mark.parametrize("path", ["x" * 4000, "a/" * 2000, "../" * 1000 + "etc/passwd"])
def test_an_artifact_path_of_4000_characters_is_refused(running_task, path):
    response = task_client(running_task).post(
        f"/api/v1/task/{running_task.id}/artifacts/", {"path": path, "size": 1}, format="json"
    )
    assert_error(response, 400, attr=["path"])
    assert not Artifact.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "a%00b",
        "%00",
        "../out/a.txt",
        "%2e%2e/out/a.txt",
        "out/../out/a.txt",
        "out%5ca.txt",
        "/out/a.txt",
        "x" * 4000,
    ],
)
def test_a_hostile_download_path_is_a_404(guest, running_task, path):
    Artifact.objects.create(task=running_task, path="out/a.txt", size=3)
    response = client_for(guest).get(f"/api/v1/task/{running_task.id}/artifact/{path}")
    assert_error(response, 404, code="not_found")


@pytest.mark.parametrize(
    ("operation", "body", "attr"),
    [
        ("CreateArtifact", {"path": "a.txt", "size": 2**64}, ["size"]),
        ("CreateArtifact", {"path": "a.txt", "size": -(2**64)}, ["size"]),
        ("CreateAgent", {"ram_total": 2**64}, ["ram_total"]),
        ("CreateAgent", {"cpu_frequency": 2**63}, ["cpu_frequency"]),
        ("CreateAgent", {"cpu_cores": 2**31}, ["cpu_cores"]),
        (
            "CreateAgent",
            {"gpus": [{"id": "g", "name": "n", "index": 2**31, "ram_total": 1}]},
            ["gpus", 0, "index"],
        ),
        (
            "CreateAgent",
            {"gpus": [{"id": "g", "name": "n", "index": 0, "ram_total": -1}]},
            ["gpus", 0, "ram_total"],
        ),
        ("CreateTask", {"priority": 2**31}, ["priority"]),
        ("CreateTask", {"ttl": 2**31}, ["ttl"]),
        ("CreateTask", {"ttl": -1}, ["ttl"]),
        ("CreateTask", {"shm_size": "1" * 81}, ["shm_size"]),
    ],
)
def test_sizes_out_of_their_column_are_a_400(
    superuser, running_task, process, farm, ids, operation, body, attr
):
    refuse_field(superuser, running_task, process, farm, ids, BY_ID[operation], body, attr)


@pytest.mark.parametrize("query", ["page=" + "9" * 50, "page=-1", "page_size=" + "9" * 5000])
def test_huge_page_numbers_are_refused(superuser, query):
    response = client_for(superuser).get(f"/api/v1/process/?{query}")
    assert response.status_code in (400, 404)
    assert_refused(response, response.status_code)


# The body limit ------------------------------------------------------------------------


class GuardedBody:
    """A request body of `data` followed by endless bytes: reading past `data` fails."""

    def __init__(self, data=b""):
        self.data = data
        self.position = 0

    def read(self, size=-1):
        end = self.position + (size if size is not None and size >= 0 else len(self.data) + 1)
        if end > len(self.data):
            raise AssertionError(f"The application read past byte {len(self.data)} of the body.")
        chunk, self.position = self.data[self.position : end], end
        return chunk

    readline = read


TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("caller", "path"),
    [
        ("user", "/api/v1/corpus/"),
        ("anonymous", "/api/v1/user/login/"),
        ("anonymous", "/api/v1/agent/"),
        ("task", "/api/v1/task/"),
        ("anonymous", "/api/v1/nowhere/"),
    ],
)
def test_a_20_mb_body_is_a_413_without_being_read(contributor, running_task, caller, path):
    assert settings.ARKINDEX_MAX_BODY_SIZE < TWENTY_MB
    client = {
        "user": client_for(contributor),
        "anonymous": APIClient(),
        "task": task_client(running_task),
    }[caller]
    body = GuardedBody()
    response = client.generic(
        "POST",
        path,
        content_type="application/json",
        **{"wsgi.input": body, "CONTENT_LENGTH": str(TWENTY_MB)},
    )
    errors = assert_error(response, 413, code="request_too_large")
    assert f"The request body is {TWENTY_MB} bytes" in errors[0]["detail"]
    assert body.position == 0
    assert not Task.objects.exclude(pk=running_task.pk).exists()


def test_a_body_longer_than_its_declared_length_is_read_up_to_that_length(contributor):
    # A client announces 2 bytes and sends more: only the 2 announced bytes are ever read.
    body = GuardedBody(b"{}")
    response = client_for(contributor).generic(
        "POST",
        "/api/v1/corpus/",
        content_type="application/json",
        **{"wsgi.input": body, "CONTENT_LENGTH": "2"},
    )
    assert_error(response, 400, attr=["name"])
    assert body.position == 2


# CSRF ----------------------------------------------------------------------------------

WRITES = [
    operation
    for operation in OPERATIONS
    if operation.method in ("post", "put", "patch", "delete")
    # Neither authenticates its caller: a session gives them nothing.
    and operation.id not in ("Login", "CreateAgent")
]


@pytest.mark.parametrize("operation", WRITES, ids=[operation.id for operation in WRITES])
def test_every_session_write_needs_the_csrf_token(superuser, running_task, ids, operation):
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/user/login/",
        {"email": "alice@example.com", "password": "hunter22hunter"},
        format="json",
    )
    assert response.status_code == 200
    before = snapshot()
    response = getattr(client, operation.method)(url(operation, ids), {}, format="json")
    errors = assert_error(response, 403, code="permission_denied")
    assert errors[0]["detail"].startswith("CSRF Failed")
    assert snapshot() == before


# Agents reporting on what is not theirs ------------------------------------------------


def test_an_agent_cannot_report_on_a_task_of_another_farm(other_agent, running_task):
    response = agent_client(other_agent).patch(
        f"/api/v1/task/{running_task.id}/", {"state": "completed"}, format="json"
    )
    assert_error(response, 404)
    running_task.refresh_from_db()
    assert running_task.state == State.RUNNING


def test_a_task_token_cannot_add_artifacts_to_a_sibling(running_task, process):
    sibling = TaskFactory(process=process, slug="sibling", state=State.RUNNING)
    response = task_client(running_task).post(
        f"/api/v1/task/{sibling.id}/artifacts/", {"path": "a.txt", "size": 1}, format="json"
    )
    assert_error(response, 403)
    assert not Artifact.objects.exists()


def test_worker_run_parents_of_another_process_are_refused(superuser, process, ids):
    other = WorkerRunFactory(process=ProcessFactory(creator=superuser))
    response = client_for(superuser).patch(
        f"/api/v1/process/workers/{ids['worker_run']}/", {"parents": [str(other.id)]}, format="json"
    )
    assert_error(response, 400, attr=["parents"])
    assert not WorkerRun.objects.get(pk=ids["worker_run"]).parents.exists()


# Format characters -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["%s", "%(value)s", "{0}", "%n%n%n", "%"])
@pytest.mark.parametrize(
    "parameter", ["corpus", "mode", "state", "name", "created", "with_tasks", "page_size"]
)
def test_format_characters_in_a_query_parameter_are_never_a_500(superuser, parameter, value):
    response = client_for(superuser).get("/api/v1/process/", {parameter: value})
    if parameter == "name":
        assert response.status_code == 200
    else:
        assert_error(response, 400, attr=[parameter])
