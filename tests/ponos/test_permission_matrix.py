"""One table of (operation, caller, expected status) over the Ponos task and agent endpoints.

Callers are the shared cast (see tests/conftest.py): `anonymous`, `superuser`,
`corpus_admin`, `contributor` (creator of the process), `guest`, `outsider`, `farm_guest`;
`task` (the token of the running task), `agent` (the agent holding it), `farm_agent` (another
agent of the same farm) and `foreign_agent` (an agent of another farm).
"""

import pytest

from ponos.models import Artifact, State
from process.models import Process
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db

READERS = ["superuser", "corpus_admin", "contributor", "guest"]
MANAGERS = ["superuser", "corpus_admin", "contributor"]
USERS = [*READERS, "outsider", "farm_guest"]
AGENTS = ["agent", "farm_agent", "foreign_agent"]
CALLERS = ["anonymous", *USERS, "task", *AGENTS]


def expect(**statuses):
    """Statuses by caller; `users=`, `readers=`, `agents=` set a whole group at once."""
    table = {"anonymous": 401}
    for group, names in (("users", USERS), ("readers", READERS), ("agents", AGENTS)):
        if group in statuses:
            table.update(dict.fromkeys(names, statuses.pop(group)))
    table.update(statuses)
    return table


# Readers see the task; others 404; agents see only what they hold.
TASK_READ = expect(
    readers=200,
    outsider=404,
    farm_guest=404,
    task=200,
    agent=200,
    farm_agent=404,
    foreign_agent=404,
)

OPERATIONS = {
    "RetrieveTask": ("get", "task/{task}/", None, TASK_READ),
    "PartialUpdateTask": (
        "patch",
        "task/{task}/",
        {"state": "stopping"},
        expect(
            **dict.fromkeys(MANAGERS, 200),
            guest=403,
            outsider=404,
            farm_guest=404,
            task=403,
            # Agents report what they did; they never ask for a stop.
            agent=400,
            farm_agent=404,
            foreign_agent=404,
        ),
    ),
    "CreateTask": (
        "post",
        "task/",
        {"process_id": "{process}", "slug": "new", "image": "alpine"},
        expect(users=403, task=201, agent=201, farm_agent=403, foreign_agent=403),
    ),
    "RestartTask": (
        "post",
        "task/{failed}/restart/",
        None,
        expect(
            **dict.fromkeys(MANAGERS, 201),
            guest=403,
            outsider=404,
            farm_guest=404,
            task=403,
            agents=403,
        ),
    ),
    "RetrieveTaskDefinition": (
        "get",
        "task/{task}/definition/",
        None,
        expect(
            readers=403,
            outsider=404,
            farm_guest=404,
            task=403,
            agent=200,
            farm_agent=404,
            foreign_agent=404,
        ),
    ),
    "ListArtifacts": (
        "get",
        "task/{task}/artifacts/",
        None,
        {**TASK_READ, "farm_agent": 200},
    ),
    "CreateArtifact": (
        "post",
        "task/{task}/artifacts/",
        {"path": "new.txt", "size": 3},
        expect(
            readers=403,
            outsider=404,
            farm_guest=404,
            task=201,
            agent=201,
            farm_agent=403,
            foreign_agent=404,
        ),
    ),
    "DownloadArtifact": (
        "get",
        "task/{task}/artifact/out/a.txt",
        None,
        expect(
            readers=302,
            outsider=404,
            farm_guest=404,
            task=302,
            agent=302,
            farm_agent=302,
            foreign_agent=404,
        ),
    ),
    "ListAgents": ("get", "agents/", None, expect(users=200, task=200, agents=403)),
    "RetrieveAgentActions": (
        "get",
        "agent/actions/",
        None,
        expect(users=403, task=403, agents=200),
    ),
    "CreateAgent": ("post", "agent/", "{registration}", dict.fromkeys(CALLERS, 201)),
}

ROWS = [
    pytest.param(operation, caller, statuses[caller], id=f"{operation}-{caller}")
    for operation, (_, _, _, statuses) in OPERATIONS.items()
    for caller in CALLERS
]


def test_every_caller_has_a_row_for_every_operation():
    for operation, (_, _, _, statuses) in OPERATIONS.items():
        assert set(statuses) == set(CALLERS), operation


@pytest.fixture
def world(request, process, running_task, agent, other_agent, farm):
    """Every caller, and the objects the paths and bodies name."""
    Artifact.objects.create(task=running_task, path="out/a.txt", size=3)
    failed = TaskFactory(process=process, slug="failed", state=State.FAILED)
    clients = {
        "anonymous": client_for(None),
        "task": task_client(running_task),
        "agent": agent_client(agent),
        "farm_agent": agent_client(AgentFactory(farm=farm, hostname="idle")),
        "foreign_agent": agent_client(other_agent),
    }
    for name in USERS:
        clients[name] = client_for(request.getfixturevalue(name))
    registration = {
        "farm": str(farm.id),
        "seed": farm.seed,
        "hostname": "newcomer",
        "cpu_cores": 1,
        "cpu_frequency": 1,
        "ram_total": 1,
    }
    values = {"task": running_task.id, "failed": failed.id, "process": str(process.id)}
    return clients, values, registration


@pytest.mark.parametrize(("operation", "caller", "status"), ROWS)
def test_permission_matrix(world, operation, caller, status):
    clients, values, registration = world
    method, path, body, _ = OPERATIONS[operation]
    if body == "{registration}":
        body = registration
    elif body is not None:
        body = {key: str(value).format(**values) for key, value in body.items()}
    url = "/api/v1/" + path.format(**values)
    response = getattr(clients[caller], method)(url, body, format="json")
    if status >= 400:
        assert_error(response, status, attr=["state"] if status == 400 else None)
    else:
        assert response.status_code == status, response.content


def test_a_task_token_cannot_delete_a_process(running_task, process):
    response = task_client(running_task).delete(f"/api/v1/process/{process.id}/")
    assert_error(response, 403)
    assert Process.objects.filter(pk=process.pk).exists()
