"""The permission matrix: every operation of the schema × every kind of caller (SPEC §3).

One row per (operation, caller) states the expected status, and each row checks more than
the status: a change an operation makes is found in the database after a 2xx and absent
after a refusal, errors come in the error format, and lists show exactly what the caller
may see. `test_every_operation_of_the_schema_has_its_rows` fails when the schema gains an
operation without rows here, so no endpoint can skip the matrix.

The callers:
- `anonymous`; `outsider` (Oscar, no access); `farm_guest` (Frank, guest of the farm only);
  `guest` (Gina), `contributor` (Connie), `corpus_admin` (Carol) of the private corpus;
  `creator` (Cecil, contributor, who created every process here); `superuser` (Alice);
- `task`: the token of the running task of the main process; `other_process_task`: the
  token of a running task of another process of Cecil's, so it reads what Cecil reads and
  must still write nothing of the main process; `finished_task`: the token of a completed
  task of the main process, which no longer authenticates;
- `agent`: the agent holding the running task; `farm_agent`: an agent of the same farm,
  running a task of the other process; `foreign_agent`: an agent of another farm.

The objects are built once for the module, in a transaction rolled back at its end; every
row runs in a savepoint of its own, rolled back after it, so each row starts from the same
world whatever the rows before it changed.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.documents.elements import create_element
from arkindex.documents.models import Element, ElementType, Transcription
from arkindex.users.models import UserToken
from arkindex.users.tokens import issue_token
from ponos.models import Agent, Artifact, LogPiece, State, Task
from ponos.states import refresh_process
from process.models import (
    ActivityState,
    Process,
    Worker,
    WorkerActivity,
    WorkerRun,
    WorkerVersion,
)
from tests.arkindex.assertions import assert_error
from tests.factories import (
    AgentFactory,
    CorpusFactory,
    CorpusMembershipFactory,
    FarmFactory,
    FarmMembershipFactory,
    ProcessFactory,
    TaskFactory,
    UserFactory,
    WorkerFactory,
    WorkerRunFactory,
    WorkerVersionFactory,
)

pytestmark = pytest.mark.django_db

MANAGERS = ["superuser", "corpus_admin", "creator"]
READERS = [*MANAGERS, "contributor", "guest"]
STRANGERS = ["outsider", "farm_guest"]
USERS = [*READERS, *STRANGERS]
# Task tokens that authenticate: both read with the rights of Cecil, their process creator.
TASKS = ["task", "other_process_task"]
AGENTS = ["agent", "farm_agent", "foreign_agent"]
CALLERS = ["anonymous", *USERS, *TASKS, "finished_task", *AGENTS]

# Group names accepted by `table`, applied from the widest to the narrowest.
GROUPS = {
    "users": USERS,
    "readers": READERS,
    "managers": MANAGERS,
    "strangers": STRANGERS,
    "tasks": TASKS,
    "agents": AGENTS,
}


def table(**statuses):
    """Expected statuses by caller, from groups (`users=`, `readers=`, `managers=`,
    `strangers=`, `tasks=`, `agents=`) then single callers. Callers without credentials
    that work get a 401 unless told otherwise."""
    expected = {"anonymous": 401, "finished_task": 401}
    for group, names in GROUPS.items():
        if group in statuses:
            expected.update(dict.fromkeys(names, statuses.pop(group)))
    expected.update(statuses)
    return expected


@dataclass
class Op:
    """One operation of the schema: its method and path template exactly as the schema
    names them, the values of its path parameters, its body (for a given caller), the
    expected status of each caller, and a check of what a 2xx did or a refusal did not."""

    method: str
    path: str
    table: dict
    params: Any = None  # world -> {placeholder: value}
    body: Any = None  # (world, caller) -> dict
    check: Any = None  # (world, caller, response) -> None
    attr_of_400: list | None = None  # the field a 400 of this operation names


# ---------------------------------------------------------------------------------------
# Checks: what a success changed, and that a refusal changed nothing.
# ---------------------------------------------------------------------------------------


def changed(predicate):
    """A check that the change `predicate(world)` happened exactly when the row succeeded."""

    def check(world, caller, response):
        assert predicate(world) is (response.status_code < 400), (caller, response.status_code)

    return check


def lists(predicate, key="id", value=None, paginated=True):
    """A check that a list shows the object `value(world)` exactly to the callers for whom
    `predicate(caller)` is true."""

    def check(world, caller, response):
        if response.status_code != 200:
            return
        items = response.json()["results"] if paginated else response.json()
        shown = {str(item[key]) for item in items}
        assert (str(value(world)) in shown) is predicate(caller), (caller, shown)

    return check


def returns(expected):
    """A check that a 2xx answer is about the object `expected(world, caller)`."""

    def check(world, caller, response):
        if response.status_code < 300:
            assert response.json()["id"] == str(expected(world, caller)), caller

    return check


CAROLS_TOKEN = "A second token of Carol's"


def carols_token(world):
    return UserToken.objects.get(description=CAROLS_TOKEN)


def reads_as_cecil(caller):
    return caller in READERS or caller in TASKS


def user_of(world, caller):
    return world.users["creator" if caller in TASKS else caller]


def check_login(world, caller, response):
    assert response.json()["email"] == "carol@example.com"


def check_farms(world, caller, response):
    if response.status_code != 200:
        return
    items = response.json()["results"]
    assert all(set(item) == {"id", "name"} for item in items), items
    users_of_the_farm = {"superuser", "corpus_admin", "creator", "farm_guest", *TASKS}
    assert (str(world.farm.id) in {item["id"] for item in items}) is (caller in users_of_the_farm)


def check_agents(world, caller, response):
    if response.status_code != 200:
        return
    listed = {item["hostname"] for item in response.json()["results"]}
    # Nobody of the cast administers a farm: superusers only see agents.
    expected = {"agent-main", "agent-idle", "agent-other"} if caller == "superuser" else set()
    assert listed == expected, caller


def check_actions(world, caller, response):
    if response.status_code == 200:
        # Nothing is pending on the farms: a poll records the ping and hands out nothing.
        assert response.json() == {"actions": [], "watched": []}
        pinged = world.agents[caller]
        assert Agent.objects.get(pk=pinged.pk).cpu_load == 0.5


def check_registration(world, caller, response):
    agent = Agent.objects.get(hostname="matrix-newcomer")
    assert response.json() == {"id": str(agent.id), "token": response.json()["token"]}


def check_redirect(world, caller, response):
    if response.status_code == 302:
        key = f"/ponos-artifacts/{world.running.id}/out/a.txt"
        assert key in response["Location"], response["Location"]


def task_state_changed(world):
    return Task.objects.get(pk=world.running.pk).state != State.RUNNING


# ---------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------

SUPERUSER_WRITES = table(users=403, tasks=403, agents=403)


def superuser_writes(status):
    return {**SUPERUSER_WRITES, "superuser": status}


READ_BY_READERS = table(readers=200, strangers=404, tasks=200, agents=403)
MANAGE = table(readers=403, strangers=404, tasks=403, agents=403)


def manage(status):
    return {**MANAGE, **dict.fromkeys(MANAGERS, status)}


def main(world):
    return {"id": world.process.id}


def running(world):
    return {"id": world.running.id}


def fresh(world):
    return {"id": world.fresh.id}


def worker_run(world):
    return {"id": world.worker_run.id}


OPERATIONS = {
    # Users and corpora
    "Login": Op(
        "post",
        "/api/v1/user/login/",
        # Login ignores every credential: whoever calls logs in with the password.
        dict.fromkeys(CALLERS, 200),
        body=lambda w, c: {"email": "carol@example.com", "password": "hunter22hunter"},
        check=check_login,
    ),
    "RetrieveUser": Op(
        "get",
        "/api/v1/user/",
        table(users=200, tasks=200, agents=403),
        check=returns(lambda w, c: user_of(w, c).id),
    ),
    # Each user sees and revokes their own tokens only; the code of tasks and agents neither.
    "ListUserTokens": Op(
        "get",
        "/api/v1/user/tokens/",
        table(users=200, tasks=403, agents=403),
        check=lists(lambda caller: caller == "corpus_admin", value=lambda w: carols_token(w).id),
    ),
    "DestroyUserToken": Op(
        "delete",
        "/api/v1/user/tokens/{id}/",
        table(users=404, corpus_admin=204, tasks=403, agents=403),
        params=lambda w: {"id": carols_token(w).id},
        check=changed(lambda w: not UserToken.objects.filter(description=CAROLS_TOKEN).exists()),
    ),
    "ListCorpus": Op(
        "get",
        "/api/v1/corpus/",
        table(users=200, tasks=200, agents=403),
        check=lists(reads_as_cecil, value=lambda w: w.corpus.id),
    ),
    "CreateCorpus": Op(
        "post",
        "/api/v1/corpus/",
        table(users=201, tasks=403, agents=403),
        body=lambda w, c: {"name": "Matrix corpus"},
        check=changed(lambda w: Corpus.objects.filter(name="Matrix corpus").exists()),
    ),
    "RetrieveCorpus": Op(
        "get",
        "/api/v1/corpus/{id}/",
        READ_BY_READERS,
        params=lambda w: {"id": w.corpus.id},
        check=returns(lambda w, c: w.corpus.id),
    ),
    "ListCorpusMemberships": Op(
        "get",
        "/api/v1/corpus/{id}/memberships/",
        table(readers=403, superuser=200, corpus_admin=200, strangers=404, tasks=403, agents=403),
        params=lambda w: {"id": w.corpus.id},
        check=lists(lambda c: True, key="user", value=lambda w: "carol@example.com"),
    ),
    "CreateCorpusMembership": Op(
        "post",
        "/api/v1/corpus/{id}/memberships/",
        table(readers=403, superuser=201, corpus_admin=201, strangers=404, tasks=403, agents=403),
        params=lambda w: {"id": w.corpus.id},
        body=lambda w, c: {"user": "newcomer@example.com", "level": Level.GUEST},
        check=changed(
            lambda w: CorpusMembership.objects.filter(user__email="newcomer@example.com").exists()
        ),
    ),
    # Farms, workers and versions
    "ListFarms": Op(
        "get", "/api/v1/farms/", table(users=200, tasks=200, agents=403), check=check_farms
    ),
    "ListWorkers": Op(
        "get",
        "/api/v1/workers/",
        table(users=200, tasks=200, agents=403),
        check=lists(lambda c: True, key="slug", value=lambda w: w.worker.slug),
    ),
    "CreateWorker": Op(
        "post",
        "/api/v1/workers/",
        superuser_writes(201),
        body=lambda w, c: {"name": "Matrix", "slug": "matrix", "type": "recognizer"},
        check=changed(lambda w: Worker.objects.filter(slug="matrix").exists()),
    ),
    "ListWorkerVersions": Op(
        "get",
        "/api/v1/workers/{id}/versions/",
        table(users=200, tasks=200, agents=403),
        params=lambda w: {"id": w.worker.id},
        check=lists(lambda c: True, value=lambda w: w.version.id),
    ),
    "CreateWorkerVersion": Op(
        "post",
        "/api/v1/workers/{id}/versions/",
        superuser_writes(201),
        params=lambda w: {"id": w.worker.id},
        body=lambda w, c: {"docker_image": "registry.example.com/matrix:2"},
        check=changed(
            lambda w: WorkerVersion.objects.filter(
                docker_image="registry.example.com/matrix:2"
            ).exists()
        ),
    ),
    "RetrieveWorkerVersion": Op(
        "get",
        "/api/v1/workers/versions/{id}/",
        table(users=200, tasks=200, agents=403),
        params=lambda w: {"id": w.version.id},
        check=returns(lambda w, c: w.version.id),
    ),
    "PartialUpdateWorkerVersion": Op(
        "patch",
        "/api/v1/workers/versions/{id}/",
        superuser_writes(200),
        params=lambda w: {"id": w.version.id},
        body=lambda w, c: {"state": "error"},
        check=changed(lambda w: WorkerVersion.objects.get(pk=w.version.pk).state == "error"),
    ),
    # Processes
    "ListProcesses": Op(
        "get",
        "/api/v1/process/",
        table(users=200, tasks=200, agents=403),
        check=lists(reads_as_cecil, value=lambda w: w.process.id),
    ),
    "CreateProcess": Op(
        "post",
        "/api/v1/process/",
        # Guests of the corpus read it but may not run anything on it; for the others,
        # the corpus is unknown, a field error like any id nobody can read.
        table(readers=201, guest=403, strangers=400, tasks=403, agents=403),
        body=lambda w, c: {"mode": "workers", "corpus": str(w.corpus.id), "name": "Matrix"},
        check=changed(lambda w: Process.objects.filter(name="Matrix").exists()),
        attr_of_400=["corpus"],
    ),
    "RetrieveProcess": Op(
        "get",
        "/api/v1/process/{id}/",
        READ_BY_READERS,
        params=main,
        check=returns(lambda w, c: w.process.id),
    ),
    "UpdateProcess": Op(
        "put",
        "/api/v1/process/{id}/",
        manage(200),
        params=main,
        body=lambda w, c: {"name": "Renamed"},
        check=changed(lambda w: Process.objects.get(pk=w.process.pk).name == "Renamed"),
    ),
    "PartialUpdateProcess": Op(
        "patch",
        "/api/v1/process/{id}/",
        manage(200),
        params=main,
        body=lambda w, c: {"state": "stopping"},
        # The summary reads `failed` (a failed task outranks stopping): look at the task.
        check=changed(task_state_changed),
    ),
    "DestroyProcess": Op(
        "delete",
        "/api/v1/process/{id}/",
        manage(204),
        params=lambda w: {"id": w.finished.id},
        check=changed(lambda w: not Process.objects.filter(pk=w.finished.pk).exists()),
    ),
    "StartProcess": Op(
        "post",
        "/api/v1/process/{id}/start/",
        manage(200),
        params=fresh,
        body=lambda w, c: {"farm": str(w.farm.id)},
        check=changed(lambda w: Task.objects.filter(process=w.fresh).exists()),
    ),
    "RetryProcess": Op(
        "post",
        "/api/v1/process/{id}/retry/",
        manage(200),
        params=lambda w: {"id": w.finished.id},
        body=lambda w, c: {"farm": str(w.farm.id)},
        check=changed(lambda w: Task.objects.filter(process=w.finished, run=1).exists()),
    ),
    "ListProcessElements": Op(
        "get",
        "/api/v1/process/{id}/elements/",
        READ_BY_READERS,
        params=fresh,
        check=lambda w, c, r: r.status_code != 200 or r.json()["count"] == 0,
    ),
    # Worker activities: claimed and reported by the task of the worker run only.
    "StartWorkerActivity": Op(
        "post",
        "/api/v1/process/start-activity/",
        # The other process's task runs no worker run: it has no activities.
        table(users=403, task=200, other_process_task=400, agents=403),
        check=changed(
            lambda w: WorkerActivity.objects.filter(worker_run=w.main_run, state="started").exists()
        ),
    ),
    "UpdateWorkerActivity": Op(
        "put",
        "/api/v1/process/workers/{id}/activity/",
        table(users=403, task=200, other_process_task=403, agents=403),
        params=lambda w: {"id": w.main_run.id},
        body=lambda w, c: {
            "element_id": str(w.element.id),
            "process_id": str(w.process.id),
            "state": "started",
        },
        check=changed(
            lambda w: WorkerActivity.objects.filter(worker_run=w.main_run, state="started").exists()
        ),
    ),
    "ListProcessActivityCounts": Op(
        "get",
        "/api/v1/process/{id}/activity-counts/",
        READ_BY_READERS,
        params=main,
        check=lambda w, c, r: (
            r.status_code != 200
            or r.json()["worker_runs"]
            == [
                {
                    "worker_run_id": str(w.main_run.id),
                    "queued": 1,
                    "started": 0,
                    "processed": 0,
                    "error": 0,
                }
            ]
        ),
    ),
    "ListWorkerRuns": Op(
        "get",
        "/api/v1/process/{id}/workers/",
        READ_BY_READERS,
        params=fresh,
        check=lists(lambda c: True, value=lambda w: w.worker_run.id),
    ),
    "CreateWorkerRun": Op(
        "post",
        "/api/v1/process/{id}/workers/",
        manage(201),
        params=fresh,
        body=lambda w, c: {"version": str(w.version.id), "configuration": {"another": True}},
        check=changed(lambda w: WorkerRun.objects.filter(process=w.fresh).count() == 2),
    ),
    "RetrieveWorkerRun": Op(
        "get",
        "/api/v1/process/workers/{id}/",
        READ_BY_READERS,
        params=worker_run,
        check=returns(lambda w, c: w.worker_run.id),
    ),
    "RetrieveWorkerRunConfiguration": Op(
        "get",
        "/api/v1/process/workers/{id}/configuration/",
        READ_BY_READERS,
        params=worker_run,
        check=lambda w, c, r: r.status_code != 200 or r.json() == {"configuration": []},
    ),
    "UpdateWorkerRun": Op(
        "put",
        "/api/v1/process/workers/{id}/",
        manage(200),
        params=worker_run,
        body=lambda w, c: {"version": str(w.version.id), "configuration": {"b": 1}},
        check=changed(
            lambda w: WorkerRun.objects.get(pk=w.worker_run.pk).configuration == {"b": 1}
        ),
    ),
    "PartialUpdateWorkerRun": Op(
        "patch",
        "/api/v1/process/workers/{id}/",
        manage(200),
        params=worker_run,
        body=lambda w, c: {"configuration": {"b": 2}},
        check=changed(
            lambda w: WorkerRun.objects.get(pk=w.worker_run.pk).configuration == {"b": 2}
        ),
    ),
    "DestroyWorkerRun": Op(
        "delete",
        "/api/v1/process/workers/{id}/",
        manage(204),
        params=worker_run,
        check=changed(lambda w: not WorkerRun.objects.filter(pk=w.worker_run.pk).exists()),
    ),
    # Tasks
    "CreateTask": Op(
        "post",
        "/api/v1/task/",
        # Only the main process's own task, or the agent running a task of it, adds tasks.
        table(users=403, tasks=403, task=201, agents=403, agent=201),
        body=lambda w, c: {"process_id": str(w.process.id), "slug": "matrix", "image": "alpine"},
        check=changed(lambda w: Task.objects.filter(process=w.process, slug="matrix").exists()),
    ),
    "RetrieveTask": Op(
        "get",
        "/api/v1/task/{id}/",
        # Agents read the tasks they hold, nothing else.
        table(readers=200, strangers=404, tasks=200, agents=404, agent=200),
        params=running,
        check=returns(lambda w, c: w.running.id),
    ),
    "PartialUpdateTask": Op(
        "patch",
        "/api/v1/task/{id}/",
        # Users with manage rights stop it; its agent reports what it did.
        table(
            readers=403,
            managers=200,
            strangers=404,
            tasks=403,
            agents=404,
            agent=200,
        ),
        params=running,
        body=lambda w, c: {"state": "completed" if c in AGENTS else "stopping"},
        check=changed(task_state_changed),
    ),
    "RestartTask": Op(
        "post",
        "/api/v1/task/{id}/restart/",
        manage(201),
        params=lambda w: {"id": w.failed.id},
        check=changed(lambda w: Task.objects.filter(original_task=w.failed).exists()),
    ),
    "RetrieveTaskDefinition": Op(
        "get",
        "/api/v1/task/{id}/definition/",
        # Only the holding agent: the definition holds the task's token.
        table(readers=403, strangers=404, tasks=403, agents=404, agent=200),
        params=running,
        check=returns(lambda w, c: w.running.id),
    ),
    "ListArtifacts": Op(
        "get",
        "/api/v1/task/{id}/artifacts/",
        # Agents of the farm fetch the artifacts of their task's parents.
        table(readers=200, strangers=404, tasks=200, agents=200, foreign_agent=404),
        params=running,
        check=lists(lambda c: True, key="path", value=lambda w: "out/a.txt", paginated=False),
    ),
    "CreateArtifact": Op(
        "post",
        "/api/v1/task/{id}/artifacts/",
        # The task itself or its agent; whoever else reads the task gets a 403.
        table(
            readers=403,
            strangers=404,
            tasks=403,
            task=201,
            agent=201,
            farm_agent=403,
            foreign_agent=404,
        ),
        params=running,
        body=lambda w, c: {"path": "matrix.txt", "size": 3},
        check=changed(lambda w: Artifact.objects.filter(path="matrix.txt").exists()),
    ),
    "CreateLogPiece": Op(
        "post",
        "/api/v1/task/{id}/log/",
        # Only the holding agent sends the log; readers of the task get a 403.
        table(readers=403, strangers=404, tasks=403, agents=404, agent=201),
        params=running,
        body=lambda w, c: {"offset": 0, "size": 3},
        check=changed(lambda w: LogPiece.objects.filter(task=w.running).exists()),
    ),
    "DownloadArtifact": Op(
        "get",
        "/api/v1/task/{id}/artifact/{path}",
        table(readers=302, strangers=404, tasks=302, agents=302, foreign_agent=404),
        params=lambda w: {"id": w.running.id, "path": "out/a.txt"},
        check=check_redirect,
    ),
    # Documents: guests read, contributors write; tasks write on their process's corpus.
    "CreateElementType": Op(
        "post",
        "/api/v1/elements/type/",
        table(readers=201, guest=403, strangers=400, tasks=201, agents=403),
        body=lambda w, c: {"slug": "matrix", "display_name": "M", "corpus": str(w.corpus.id)},
        check=changed(lambda w: ElementType.objects.filter(slug="matrix").exists()),
        attr_of_400=["corpus"],
    ),
    "CreateElement": Op(
        "post",
        "/api/v1/elements/create/",
        table(readers=201, guest=403, strangers=400, tasks=201, agents=403),
        body=lambda w, c: {
            "type": "page",
            "name": "Matrix element",
            "corpus": str(w.corpus.id),
            "parent": str(w.documents["folder"].id),
            "image": None,
            "polygon": None,
        },
        check=changed(lambda w: Element.objects.filter(name="Matrix element").exists()),
        attr_of_400=["corpus"],
    ),
    "RetrieveElement": Op(
        "get",
        "/api/v1/element/{id}/",
        READ_BY_READERS,
        params=lambda w: {"id": w.documents["page"].id},
        check=returns(lambda w, c: w.documents["page"].id),
    ),
    "ListElements": Op(
        "get",
        "/api/v1/corpus/{corpus}/elements/",
        READ_BY_READERS,
        params=lambda w: {"corpus": w.corpus.id},
        check=lists(lambda c: True, value=lambda w: w.documents["page"].id),
    ),
    "ListElementChildren": Op(
        "get",
        "/api/v1/elements/{id}/children/",
        READ_BY_READERS,
        params=lambda w: {"id": w.documents["folder"].id},
        check=lists(lambda c: True, value=lambda w: w.documents["page"].id),
    ),
    "ListElementParents": Op(
        "get",
        "/api/v1/elements/{id}/parents/",
        READ_BY_READERS,
        params=lambda w: {"id": w.documents["page"].id},
        check=lists(lambda c: True, value=lambda w: w.documents["folder"].id),
    ),
    "CreateTranscription": Op(
        "post",
        "/api/v1/element/{id}/transcription/",
        table(readers=201, guest=403, strangers=404, tasks=201, agents=403),
        params=lambda w: {"id": w.documents["page"].id},
        body=lambda w, c: {"text": "matrix", "confidence": 0.5},
        check=changed(lambda w: Transcription.objects.filter(text="matrix").exists()),
    ),
    "CreateTranscriptions": Op(
        "post",
        "/api/v1/transcription/bulk/",
        # An element nobody lets the caller read is a field error, like any unknown id.
        table(readers=201, guest=403, strangers=400, tasks=201, agents=403),
        body=lambda w, c: {
            "transcriptions": [{"element_id": str(w.documents["page"].id), "text": "bulk"}]
        },
        check=changed(lambda w: Transcription.objects.filter(text="bulk").exists()),
        attr_of_400=["transcriptions", 0, "element_id"],
    ),
    "ListTranscriptions": Op(
        "get",
        "/api/v1/element/{id}/transcriptions/",
        READ_BY_READERS,
        params=lambda w: {"id": w.documents["page"].id},
        check=lists(lambda c: True, value=lambda w: w.documents["transcription"].id),
    ),
    # Agents
    "ListAgents": Op(
        "get", "/api/v1/agents/", table(users=200, tasks=200, agents=403), check=check_agents
    ),
    "RetrieveAgentActions": Op(
        "get",
        "/api/v1/agent/actions/?cpu_load=0.5",
        table(users=403, tasks=403, agents=200),
        check=check_actions,
    ),
    "CreateAgent": Op(
        "post",
        "/api/v1/agent/",
        # Registration ignores every credential: the seed is what counts.
        dict.fromkeys(CALLERS, 201),
        body=lambda w, c: {
            "farm": str(w.farm.id),
            "seed": w.farm.seed,
            "hostname": "matrix-newcomer",
            "cpu_cores": 1,
            "cpu_frequency": 1,
            "ram_total": 1,
        },
        check=check_registration,
    ),
}


def schema_operations():
    """{operationId: (method, path)} of the generated schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        operation["operationId"]: (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_every_operation_of_the_schema_has_its_rows():
    operations = schema_operations()
    missing = sorted(set(operations) - set(OPERATIONS))
    assert not missing, f"Add rows to the permission matrix for: {', '.join(missing)}"
    assert not sorted(set(OPERATIONS) - set(operations)), "Rows of operations no longer there"
    for name, op in OPERATIONS.items():
        assert (op.method, op.path.split("?")[0]) == operations[name], name
        assert set(op.table) == set(CALLERS), name
        assert all(isinstance(status, int) for status in op.table.values()), name


# ---------------------------------------------------------------------------------------
# The world, built once per module.
# ---------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    credentials: dict
    agents: dict
    corpus: Any
    farm: Any
    worker: Any
    version: Any
    process: Any
    running: Any
    done: Any
    failed: Any
    fresh: Any
    worker_run: Any
    finished: Any
    documents: Any = None
    # The worker run of the running task, and an element it has an activity for.
    main_run: Any = None
    element: Any = None


def build_world():
    now = timezone.now()
    users = {
        "superuser": UserFactory(email="alice@example.com", is_admin=True),
        "corpus_admin": UserFactory(email="carol@example.com"),
        "creator": UserFactory(email="cecil@example.com"),
        "contributor": UserFactory(email="connie@example.com"),
        "guest": UserFactory(email="gina@example.com"),
        "outsider": UserFactory(email="oscar@example.com"),
        "farm_guest": UserFactory(email="frank@example.com"),
    }
    newcomer = UserFactory(email="newcomer@example.com")
    issue_token(users["corpus_admin"], CAROLS_TOKEN)
    corpus = CorpusFactory(name="Private corpus")
    for name, level in [
        ("corpus_admin", Level.ADMIN),
        ("creator", Level.CONTRIBUTOR),
        ("contributor", Level.CONTRIBUTOR),
        ("guest", Level.GUEST),
    ]:
        CorpusMembershipFactory(corpus=corpus, user=users[name], level=level)
    farm, other_farm = FarmFactory(name="Main farm"), FarmFactory(name="Other farm")
    for name in ["farm_guest", "creator", "corpus_admin"]:
        FarmMembershipFactory(farm=farm, user=users[name], level=Level.GUEST)
    # Shares a farm with the corpus admin, who may then find them by email
    FarmMembershipFactory(farm=farm, user=newcomer, level=Level.GUEST)
    agents = {
        "agent": AgentFactory(farm=farm, hostname="agent-main", last_ping=now),
        "farm_agent": AgentFactory(farm=farm, hostname="agent-idle", last_ping=now),
        "foreign_agent": AgentFactory(farm=other_farm, hostname="agent-other", last_ping=now),
    }
    cecil = users["creator"]
    version = WorkerVersionFactory(worker=WorkerFactory(slug="reco"))

    def started(name, **tasks):
        process = ProcessFactory(corpus=corpus, creator=cecil, farm=farm, name=name)
        made = {
            slug: TaskFactory(process=process, slug=slug, **fields)
            for slug, fields in tasks.items()
        }
        Process.objects.filter(pk=process.pk).update(last_run=0, started=now)
        refresh_process(process.pk)
        return process, made

    process, tasks = started(
        "Main process",
        running={"state": State.RUNNING, "agent": agents["agent"], "started": now},
        done={"state": State.COMPLETED, "started": now, "finished": now},
        failed={"state": State.FAILED, "started": now, "finished": now},
    )
    Artifact.objects.create(task=tasks["running"], path="out/a.txt", size=3)
    _other, other_tasks = started(
        "Other process",
        other={"state": State.RUNNING, "agent": agents["farm_agent"], "started": now},
    )
    finished, _ = started("Finished process", broken={"state": State.FAILED, "finished": now})
    WorkerRunFactory(process=finished, version=version)
    fresh = ProcessFactory(corpus=corpus, creator=cecil, name="Fresh process")
    worker_run = WorkerRunFactory(process=fresh, version=version)

    folder_type = ElementType.objects.create(corpus=corpus, slug="folder", display_name="F")
    page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
    folder = create_element(corpus=corpus, type=folder_type, name="Matrix folder")
    page = create_element(corpus=corpus, type=page_type, name="Matrix page", parent=folder)
    documents = {
        "folder": folder,
        "page": page,
        "transcription": Transcription.objects.create(element=page, text="Read"),
    }
    # The running task is the task of a worker run with a queued activity for the page.
    main_run = WorkerRunFactory(process=process, version=version)
    Task.objects.filter(pk=tasks["running"].pk).update(worker_run=main_run)
    Process.objects.filter(pk=process.pk).update(activity_state=ActivityState.READY)
    element = page
    WorkerActivity.objects.create(
        process=process, worker_run=main_run, element=element, created=now, updated=now
    )

    credentials = {"anonymous": None}
    credentials.update({name: f"Token {user.auth_token_key}" for name, user in users.items()})
    credentials["task"] = f"Ponos {tasks['running'].token}"
    credentials["other_process_task"] = f"Ponos {other_tasks['other'].token}"
    credentials["finished_task"] = f"Ponos {tasks['done'].token}"
    credentials.update({name: f"Bearer {agent.clear_token}" for name, agent in agents.items()})
    return World(
        users=users,
        credentials=credentials,
        agents=agents,
        corpus=corpus,
        farm=farm,
        worker=version.worker,
        version=version,
        process=process,
        running=tasks["running"],
        done=tasks["done"],
        failed=tasks["failed"],
        fresh=fresh,
        worker_run=worker_run,
        finished=finished,
        documents=documents,
        main_run=main_run,
        element=element,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    # One transaction for the module: each test runs in a savepoint inside it (its `db`
    # fixture), rolled back after the test, and this one is rolled back at the end.
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def fresh_world(world, db):
    # Rows may take a while: the agents are kept alive, so no poll finds them dead.
    Agent.objects.update(last_ping=timezone.now() + timedelta(seconds=1))
    return world


ROWS = [
    pytest.param(name, caller, op.table[caller], id=f"{name}-{caller}")
    for name, op in OPERATIONS.items()
    for caller in CALLERS
]


@pytest.mark.parametrize(("operation", "caller", "status"), ROWS)
def test_permission_matrix(fresh_world, operation, caller, status):
    world = fresh_world
    op = OPERATIONS[operation]
    path = op.path.format(**(op.params(world) if op.params else {}))
    # The row reaches the view that owns the operation, whatever the path looks like.
    view = resolve(path.split("?")[0]).func.view_class
    assert view.operation_ids[op.method] == operation

    client = APIClient()
    if world.credentials[caller]:
        client.credentials(HTTP_AUTHORIZATION=world.credentials[caller])
    body = op.body(world, caller) if op.body else None
    response = getattr(client, op.method)(path, body, format="json")

    if status >= 400:
        assert_error(response, status, attr=op.attr_of_400 if status == 400 else None)
    else:
        assert response.status_code == status, (response.status_code, response.content)
    if op.check:
        op.check(world, caller, response)


def test_a_creator_demoted_to_guest_only_reads(fresh_world):
    world = fresh_world
    CorpusMembership.objects.filter(user=world.users["creator"]).update(level=Level.GUEST)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=world.credentials["creator"])
    url = f"/api/v1/process/{world.process.id}/"
    assert client.get(url).status_code == 200
    assert_error(client.patch(url, {"name": "x"}, format="json"), 403)
    assert Process.objects.get(pk=world.process.pk).name == "Main process"
