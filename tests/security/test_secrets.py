"""Secrets (SPEC §3): farm seeds, task tokens and agent tokens leave the server only in the
one answer that issues them, and never in a log line.

One full flow runs through the API, with every log record captured at DEBUG: a farm is
created, a process started on it, an agent registers (once with a wrong seed), runs the
task, uploads its log and an artifact; the task adds a follow-up task, which fails and is
restarted; users read everything. The tests then look for the secrets in every answer,
every stored env and every log record.
"""

import hashlib
import io
import logging
from dataclasses import dataclass, field

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from ponos.models import Agent, Task
from tests.conftest import client_for
from tests.ponos.storage.fixtures import local_app_storage  # noqa: F401 (a fixture, by name)

pytestmark = pytest.mark.django_db


@dataclass
class Flow:
    """Every answer of the flow, and what the server issued along the way."""

    answers: list = field(default_factory=list)
    seed: str = ""
    agent_tokens: list = field(default_factory=list)
    definitions: list = field(default_factory=list)

    def call(self, client, method, path, body=None, status=None, **extra):
        response = getattr(client, method)(path, body, format="json", **extra)
        if status is not None:
            assert response.status_code == status, (path, response.status_code, response.content)
        self.answers.append((method, path, response))
        return response

    def task_tokens(self):
        return [task.token for task in Task.objects.all()]


def text_of(response):
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{headers}\n{response.content.decode(errors='replace')}"


def token_client(scheme, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client


def run_flow(superuser, guest_user):
    flow = Flow()
    out = io.StringIO()
    call_command("create_farm", "Secret farm", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    farm_id, flow.seed = lines["id"], lines["seed"]

    admin = client_for(superuser)
    corpus = flow.call(admin, "post", "/api/v1/corpus/", {"name": "C"}, 201).json()
    flow.call(
        admin,
        "post",
        f"/api/v1/corpus/{corpus['id']}/memberships/",
        {"user": guest_user.email, "level": 10},
        201,
    )
    worker = flow.call(
        admin, "post", "/api/v1/workers/", {"name": "W", "slug": "w", "type": "t"}, 201
    ).json()
    version = flow.call(
        admin,
        "post",
        f"/api/v1/workers/{worker['id']}/versions/",
        {"docker_image": "alpine", "command": "run"},
        201,
    ).json()
    process = flow.call(
        admin,
        "post",
        "/api/v1/process/",
        {"mode": "workers", "corpus": corpus["id"], "name": "P"},
        201,
    ).json()
    process_url = f"/api/v1/process/{process['id']}/"
    flow.call(admin, "post", f"{process_url}workers/", {"version": version["id"]}, 201)
    # Without worker activities, the tasks are scheduled at once.
    flow.call(
        admin, "post", f"{process_url}start/", {"farm": farm_id, "worker_activity": False}, 200
    )

    registration = {
        "farm": farm_id,
        "seed": flow.seed,
        "hostname": "host",
        "cpu_cores": 2,
        "cpu_frequency": 1,
        "ram_total": 1,
    }
    anonymous = APIClient()
    flow.call(anonymous, "post", "/api/v1/agent/", {**registration, "seed": "wrong"}, 403)
    flow.call(anonymous, "post", "/api/v1/agent/", {**registration, "seed": flow.seed[:-1]}, 403)
    flow.agent_tokens.append(
        flow.call(anonymous, "post", "/api/v1/agent/", registration, 201).json()["token"]
    )
    # The host registers again: a new token, the old one revoked.
    flow.agent_tokens.append(
        flow.call(anonymous, "post", "/api/v1/agent/", registration, 200).json()["token"]
    )
    agent = token_client("Bearer", flow.agent_tokens[-1])

    def run_next():
        """The agent takes the next task, runs it and uploads; readers read it."""
        actions = flow.call(agent, "get", "/api/v1/agent/actions/?cpu_load=0.5", None, 200)
        task_id = actions.json()["actions"][0]["task_id"]
        task_url = f"/api/v1/task/{task_id}/"
        definition = flow.call(agent, "get", f"{task_url}definition/", None, 200).json()
        flow.definitions.append(definition)
        flow.call(agent, "patch", task_url, {"state": "running"}, 200)
        log_url = definition["s3_logs_put_url"]
        assert agent.put(log_url, b"working\n", content_type="text/plain").status_code == 200
        task = token_client("Ponos", definition["env"]["ARKINDEX_TASK_TOKEN"])
        artifact = flow.call(
            task, "post", f"{task_url}artifacts/", {"path": "out.txt", "size": 2}, 201
        ).json()
        upload = task.put(artifact["s3_put_url"], b"ok", content_type="application/octet-stream")
        assert upload.status_code == 200
        for client in (task, agent, admin, client_for(guest_user)):
            flow.call(client, "get", task_url, None, 200)
            flow.call(client, "get", f"{task_url}artifacts/", None, 200)
            flow.call(client, "get", f"{task_url}artifact/out.txt", None, 302)
        flow.call(task, "get", process_url, None, 200)
        flow.call(task, "get", "/api/v1/user/", None, 200)
        return task, task_url

    first_task, first_url = run_next()
    flow.call(
        first_task,
        "post",
        "/api/v1/task/",
        {"process_id": process["id"], "slug": "follow-up", "image": "i", "env": {"A": "1"}},
        201,
    )
    flow.call(agent, "patch", first_url, {"state": "completed"}, 200)
    # Its token stopped working with its task.
    flow.call(first_task, "get", first_url, None, 401)

    _second_task, second_url = run_next()
    flow.call(agent, "patch", second_url, {"state": "failed"}, 200)
    flow.call(admin, "post", f"{second_url}restart/", None, 201)

    for client in (admin, client_for(guest_user)):
        for path in (
            process_url,
            "/api/v1/process/",
            "/api/v1/farms/",
            "/api/v1/agents/",
            f"{process_url}workers/",
        ):
            flow.call(client, "get", path, None, 200)
    # The old agent token no longer works.
    flow.call(
        token_client("Bearer", flow.agent_tokens[0]), "get", "/api/v1/agent/actions/", None, 401
    )
    return flow


@pytest.fixture
def flow(superuser, guest, local_app_storage, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    return run_flow(superuser, guest), caplog


def log_lines(caplog):
    """Every captured record as the server would write it, with any traceback."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The flow ran while the fixture was set up.
    return [formatter.format(record) for record in caplog.get_records("setup")]


def test_farm_seeds_appear_in_no_api_answer_nor_log_line(flow):
    flow, caplog = flow
    assert len(flow.answers) > 60
    # The search means something only if the flow's log lines were captured.
    assert any("Forbidden: /api/v1/agent/" in line for line in log_lines(caplog))
    for method, path, response in flow.answers:
        assert flow.seed not in text_of(response), (method, path)
    assert not [line for line in log_lines(caplog) if flow.seed in line]


def tables_holding(text):
    """The tables with a row holding `text` in any column, on either database: every table
    the database has (Django's and the project's), every row read back as text."""
    holding = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            name = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {name}")  # noqa: S608 (names from the catalog)
            for row in cursor.fetchall():
                values = [
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row
                ]
                if any(text in value for value in values):
                    holding.append(table)
                    break
    return holding


def test_no_table_holds_a_task_token_or_a_user_token_in_clear(flow, superuser):
    flow, _caplog = flow
    tokens = flow.task_tokens()
    assert len(tokens) == 3 and all(tokens)
    user_key = (
        APIClient()
        .post(
            "/api/v1/user/login/",
            {"email": superuser.email, "password": "hunter22hunter"},
            format="json",
        )
        .json()["auth_token"]
    )
    for secret in [*tokens, user_key, superuser.auth_token_key]:
        assert tables_holding(secret) == [], secret


def test_task_tokens_appear_only_in_the_definitions(flow):
    flow, caplog = flow
    tokens = flow.task_tokens()
    assert len(tokens) == 3
    # The definitions handed them to the agent: the search below would find them.
    given = {definition["env"]["ARKINDEX_TASK_TOKEN"] for definition in flow.definitions}
    assert given <= set(tokens) and len(given) == 2
    for method, path, response in flow.answers:
        if path.endswith("/definition/"):
            continue
        text = text_of(response)
        assert not [token for token in tokens if token in text], (method, path)
    for env in Task.objects.values_list("env", flat=True):
        assert not [token for token in tokens if token in str(env)], env
    for line in log_lines(caplog):
        assert not [token for token in tokens if token in line], line


def test_agent_tokens_are_stored_hashed_and_never_logged(flow):
    flow, caplog = flow
    agent = Agent.objects.get(hostname="host")
    old, new = flow.agent_tokens
    assert agent.token_hash == hashlib.sha256(new.encode()).hexdigest()
    # No column of any table holds a clear agent token, the revoked one included.
    for token in (old, new):
        assert tables_holding(token) == []
    for method, path, response in flow.answers:
        if path == "/api/v1/agent/" and response.status_code in (200, 201):
            continue
        assert not [token for token in (old, new) if token in text_of(response)], (method, path)
    for line in log_lines(caplog):
        assert old not in line and new not in line, line
