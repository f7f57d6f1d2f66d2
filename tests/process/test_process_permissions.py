"""The permission matrix of every process and worker-run operation (SPEC §3).

read = guest on the corpus, or creator; manage = corpus admin, or creator with contributor
on the corpus; superusers do everything. 404 for callers who may not read, 403 for readers
who may not manage. Task tokens read as the process creator and never write here; agents
have no business with processes.
"""

import pytest

from arkindex.corpora.models import Level
from ponos.models import State
from tests.conftest import agent_client, client_for, task_client
from tests.factories import CorpusMembershipFactory, UserFactory
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db

CALLERS = ["superuser", "corpus_admin", "creator", "other_contributor", "guest", "outsider"]
MANAGERS = {"superuser", "corpus_admin", "creator"}
READERS = MANAGERS | {"other_contributor", "guest"}


@pytest.fixture
def cast(superuser, corpus_admin, contributor, guest, outsider, corpus, farm):
    other = UserFactory(email="connie@example.com")
    CorpusMembershipFactory(corpus=corpus, user=other, level=Level.CONTRIBUTOR)
    return {
        "superuser": superuser,
        "corpus_admin": corpus_admin,
        "creator": contributor,
        "other_contributor": other,
        "guest": guest,
        "outsider": outsider,
    }


@pytest.fixture
def ready(process):
    """The shared process (created by Cecil), not started, with one worker run."""
    process.farm = None
    process.save()
    return process, add_worker_run(process, slug="w")


def op_list(process, run, farm):
    return "get", "/api/v1/process/", None, 200


def op_retrieve(process, run, farm):
    return "get", f"/api/v1/process/{process.id}/", None, 200


def op_update(process, run, farm):
    return "put", f"/api/v1/process/{process.id}/", {"name": "x"}, 200


def op_partial_update(process, run, farm):
    return "patch", f"/api/v1/process/{process.id}/", {"name": "x"}, 200


def op_stop(process, run, farm):
    make_run(process, a=State.PENDING)
    return "patch", f"/api/v1/process/{process.id}/", {"state": "stopping"}, 200


def op_destroy(process, run, farm):
    return "delete", f"/api/v1/process/{process.id}/", None, 204


def op_start(process, run, farm):
    return "post", f"/api/v1/process/{process.id}/start/", {"farm": str(farm.id)}, 200


def op_retry(process, run, farm):
    make_run(process, a=State.FAILED)
    process.farm = farm
    process.save()
    return "post", f"/api/v1/process/{process.id}/retry/", {"farm": str(farm.id)}, 200


def op_list_worker_runs(process, run, farm):
    return "get", f"/api/v1/process/{process.id}/workers/", None, 200


def op_create_worker_run(process, run, farm):
    body = {"version": str(run.version_id), "configuration": {"another": True}}
    return "post", f"/api/v1/process/{process.id}/workers/", body, 201


def op_retrieve_worker_run(process, run, farm):
    return "get", f"/api/v1/process/workers/{run.id}/", None, 200


def op_update_worker_run(process, run, farm):
    body = {"version": str(run.version_id), "configuration": {"b": 1}}
    return "put", f"/api/v1/process/workers/{run.id}/", body, 200


def op_partial_update_worker_run(process, run, farm):
    return "patch", f"/api/v1/process/workers/{run.id}/", {"configuration": {"b": 1}}, 200


def op_destroy_worker_run(process, run, farm):
    return "delete", f"/api/v1/process/workers/{run.id}/", None, 204


READ_OPERATIONS = [op_retrieve, op_list_worker_runs, op_retrieve_worker_run]
MANAGE_OPERATIONS = [
    op_update,
    op_partial_update,
    op_stop,
    op_destroy,
    op_start,
    op_retry,
    op_create_worker_run,
    op_update_worker_run,
    op_partial_update_worker_run,
    op_destroy_worker_run,
]


def expected(operation, caller, success):
    if operation is op_list:
        return 200
    if caller not in READERS:
        return 404
    if operation in MANAGE_OPERATIONS and caller not in MANAGERS:
        return 403
    return success


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", [op_list, *READ_OPERATIONS, *MANAGE_OPERATIONS])
def test_permission_matrix(ready, cast, farm, caller, operation):
    process, run = ready
    method, url, body, success = operation(process, run, farm)

    response = getattr(client_for(cast[caller]), method)(url, body, format="json")

    assert response.status_code == expected(operation, caller, success), response.content


def test_the_list_shows_a_process_to_its_readers_only(ready, cast):
    process, _run = ready
    for caller, user in cast.items():
        ids = [item["id"] for item in client_for(user).get("/api/v1/process/").json()["results"]]
        assert (str(process.id) in ids) is (caller in READERS), caller


def test_a_creator_demoted_to_guest_only_reads(ready, contributor, corpus):
    process, _run = ready
    corpus.memberships.filter(user=contributor).update(level=Level.GUEST)
    client = client_for(contributor)
    assert client.get(f"/api/v1/process/{process.id}/").status_code == 200
    response = client.patch(f"/api/v1/process/{process.id}/", {"name": "x"}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("operation", [*READ_OPERATIONS, *MANAGE_OPERATIONS])
def test_task_tokens_read_as_the_creator_and_never_write(ready, running_task, farm, operation):
    process, run = ready
    method, url, body, success = operation(process, run, farm)

    response = getattr(task_client(running_task), method)(url, body, format="json")

    assert response.status_code == (success if operation in READ_OPERATIONS else 403)


@pytest.mark.parametrize("operation", [op_list, *READ_OPERATIONS, *MANAGE_OPERATIONS])
def test_agents_have_no_access(ready, agent, farm, operation):
    process, run = ready
    method, url, body, _success = operation(process, run, farm)
    response = getattr(agent_client(agent), method)(url, body, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("operation", [op_list, *READ_OPERATIONS, *MANAGE_OPERATIONS])
def test_anonymous_callers_get_a_401(ready, api, farm, operation):
    process, run = ready
    method, url, body, _success = operation(process, run, farm)
    assert getattr(api, method)(url, body, format="json").status_code == 401
