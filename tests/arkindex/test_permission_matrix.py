"""One table of (operation, caller, expected status) over the foundation's endpoints.

Callers are the shared cast: `anonymous`, `superuser` (Alice), `corpus_admin` (Carol),
`contributor` (Cecil, creator of the process), `guest` (Gina), `outsider` (Oscar),
`farm_guest` (Frank, guest of the farm only), `task` (the token of Cecil's running task)
and `agent` (an agent of the farm). An endpoint is done when it has its rows here.
"""

import pytest

from tests.conftest import agent_client, client_for, task_client
from tests.factories import UserFactory, WorkerFactory, WorkerVersionFactory

pytestmark = pytest.mark.django_db

USERS = ["superuser", "corpus_admin", "contributor", "guest", "outsider", "farm_guest"]
CALLERS = ["anonymous", *USERS, "task", "agent"]


def expect(default, **overrides):
    """Expected statuses for every caller: `default` for users, with overrides by caller."""
    statuses = {"anonymous": 401, "task": default, "agent": 403}
    statuses.update(dict.fromkeys(USERS, default))
    statuses.update(overrides)
    return statuses


SUPERUSER_ONLY = {name: 403 for name in [*USERS, "task"] if name != "superuser"}

# operation: (method, path, body, expected statuses by caller)
OPERATIONS = {
    "Login": (
        "post",
        "/api/v1/user/login/",
        {"email": "carol@example.com", "password": "hunter22hunter"},
        expect(200, anonymous=200, agent=200),
    ),
    "RetrieveUser": ("get", "/api/v1/user/", None, expect(200)),
    "ListCorpus": ("get", "/api/v1/corpus/", None, expect(200)),
    "CreateCorpus": ("post", "/api/v1/corpus/", {"name": "New"}, expect(201, task=403)),
    "RetrieveCorpus": (
        "get",
        "/api/v1/corpus/{corpus}/",
        None,
        expect(200, outsider=404, farm_guest=404),
    ),
    "ListCorpusMemberships": (
        "get",
        "/api/v1/corpus/{corpus}/memberships/",
        None,
        expect(403, superuser=200, corpus_admin=200, outsider=404, farm_guest=404),
    ),
    "CreateCorpusMembership": (
        "post",
        "/api/v1/corpus/{corpus}/memberships/",
        {"user": "newcomer@example.com", "level": 10},
        expect(403, superuser=201, corpus_admin=201, outsider=404, farm_guest=404),
    ),
    "ListFarms": ("get", "/api/v1/farms/", None, expect(200)),
    "ListWorkers": ("get", "/api/v1/workers/", None, expect(200)),
    "CreateWorker": (
        "post",
        "/api/v1/workers/",
        {"name": "New", "slug": "new", "type": "new"},
        expect(201, **SUPERUSER_ONLY),
    ),
    "ListWorkerVersions": ("get", "/api/v1/workers/{worker}/versions/", None, expect(200)),
    "CreateWorkerVersion": (
        "post",
        "/api/v1/workers/{worker}/versions/",
        {"docker_image": "image"},
        expect(201, **SUPERUSER_ONLY),
    ),
    "RetrieveWorkerVersion": ("get", "/api/v1/workers/versions/{version}/", None, expect(200)),
    "PartialUpdateWorkerVersion": (
        "patch",
        "/api/v1/workers/versions/{version}/",
        {"state": "error"},
        expect(200, **SUPERUSER_ONLY),
    ),
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
def world(request, corpus, running_task, agent):
    """Every caller of the cast, and the objects the paths name."""
    UserFactory(email="newcomer@example.com")
    version = WorkerVersionFactory(worker=WorkerFactory())
    clients = {"anonymous": client_for(None), "task": task_client(running_task)}
    clients["agent"] = agent_client(agent)
    for name in USERS:
        clients[name] = client_for(request.getfixturevalue(name))
    ids = {"corpus": corpus.id, "worker": version.worker_id, "version": version.id}
    return clients, ids


@pytest.mark.parametrize(("operation", "caller", "status"), ROWS)
def test_permission_matrix(world, operation, caller, status):
    clients, ids = world
    method, path, body, _ = OPERATIONS[operation]
    response = getattr(clients[caller], method)(path.format(**ids), body, format="json")
    assert response.status_code == status, response.content
    if status >= 400:
        assert response.json()["type"] == "client_error"
