"""Workers and their versions: every user reads them, only superusers change them."""

import uuid

import pytest
from rest_framework.validators import UniqueValidator

from process.models import Worker, WorkerVersion
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client
from tests.factories import WorkerFactory, WorkerVersionFactory

pytestmark = pytest.mark.django_db

WORKERS = "/api/v1/workers/"


def versions_url(worker):
    return f"/api/v1/workers/{worker.id}/versions/"


def version_url(version):
    return f"/api/v1/workers/versions/{version.id}/"


@pytest.fixture
def worker(db):
    return WorkerFactory(name="Recognizer", slug="recognizer", type="recognizer")


VERSION_BODY = {
    "docker_image": "registry.example.com/recognizer:1.0",
    "command": "python -m recognizer",
    "gpu_usage": "supported",
    "configuration": {"model": "large"},
}


class TestListWorkers:
    @pytest.mark.parametrize("caller", ["superuser", "outsider", "guest"])
    def test_every_user_lists_the_workers_by_slug(self, request, caller, worker):
        WorkerFactory(name="Aligner", slug="aligner", type="aligner")
        response = client_for(request.getfixturevalue(caller)).get(WORKERS)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        assert body["results"][1] == {
            "id": str(worker.id),
            "name": "Recognizer",
            "slug": "recognizer",
            "type": "recognizer",
        }
        assert body["results"][0]["slug"] == "aligner"

    def test_a_task_lists_the_workers(self, running_task, worker):
        assert task_client(running_task).get(WORKERS).json()["count"] == 1

    @pytest.mark.parametrize("count", [1, 10])
    def test_the_query_count_does_not_grow_with_workers(
        self, outsider, count, django_assert_num_queries
    ):
        WorkerFactory.create_batch(count)
        client = client_for(outsider)
        # 1. the token with its user
        # 2. count of workers
        # 3. the page of workers
        with django_assert_num_queries(3):
            assert client.get(WORKERS).json()["count"] == count

    def test_agents_cannot_list_workers(self, agent):
        assert_error(agent_client(agent).get(WORKERS), 403, code="permission_denied")

    def test_anonymous_callers_get_a_401(self, api):
        assert_unauthorized(api.get(WORKERS))


class TestCreateWorker:
    def test_a_superuser_creates_a_worker(self, superuser):
        body = {"name": "Segmenter", "slug": "segmenter", "type": "segmenter"}
        response = client_for(superuser).post(WORKERS, body, format="json")
        assert response.status_code == 201, response.content
        worker = Worker.objects.get(slug="segmenter")
        assert response.json() == {"id": str(worker.id), **body}
        assert (worker.name, worker.type) == ("Segmenter", "segmenter")

    @pytest.mark.parametrize("caller", ["corpus_admin", "contributor", "outsider"])
    def test_other_users_get_a_403(self, request, caller):
        user = request.getfixturevalue(caller)
        body = {"name": "Evil", "slug": "evil", "type": "shell"}
        assert_error(client_for(user).post(WORKERS, body, format="json"), 403)
        assert not Worker.objects.exists()

    def test_tasks_and_agents_get_a_403(self, running_task, agent):
        body = {"name": "Evil", "slug": "evil", "type": "shell"}
        for client in (task_client(running_task), agent_client(agent)):
            assert_error(client.post(WORKERS, body, format="json"), 403)
        assert not Worker.objects.exists()

    def test_a_taken_slug_is_a_400(self, superuser, worker):
        body = {"name": "Another", "slug": "recognizer", "type": "recognizer"}
        response = client_for(superuser).post(WORKERS, body, format="json")
        assert_error(response, 400, code="unique", attr=["slug"])

    def test_a_slug_taken_concurrently_is_a_400_not_a_500(self, superuser, worker, monkeypatch):
        # The race: another request inserts the slug between validation and insert.
        monkeypatch.setattr(UniqueValidator, "__call__", lambda self, value, field: None)
        body = {"name": "Another", "slug": "recognizer", "type": "recognizer"}
        response = client_for(superuser).post(WORKERS, body, format="json")
        assert_error(response, 400, code="unique", attr=["slug"])
        assert Worker.objects.count() == 1

    @pytest.mark.parametrize(
        ("body", "attr", "code"),
        [
            ({"slug": "s", "type": "t"}, ["name"], "required"),
            ({"name": "n", "type": "t"}, ["slug"], "required"),
            ({"name": "n", "slug": "s"}, ["type"], "required"),
            ({"name": "n", "slug": "not a slug!", "type": "t"}, ["slug"], "invalid"),
        ],
    )
    def test_an_invalid_body_names_the_field(self, superuser, body, attr, code):
        response = client_for(superuser).post(WORKERS, body, format="json")
        assert_error(response, 400, code=code, attr=attr)

    def test_anonymous_callers_get_a_401(self, api):
        assert_unauthorized(api.post(WORKERS, {}, format="json"))


class TestListWorkerVersions:
    def test_every_user_lists_the_versions_newest_first(self, outsider, worker):
        WorkerVersionFactory(worker=worker, version=1)
        newest = WorkerVersionFactory(worker=worker, version=2, configuration={"a": "b"})
        WorkerVersionFactory()  # another worker's
        response = client_for(outsider).get(versions_url(worker))
        assert response.status_code == 200
        body = response.json()
        assert [v["version"] for v in body["results"]] == [2, 1]
        assert body["results"][0] == {
            "id": str(newest.id),
            "worker_id": str(worker.id),
            "version": 2,
            "docker_image": "registry.example.com/worker:latest",
            "command": "echo hello",
            "gpu_usage": "disabled",
            "configuration": {"a": "b"},
            "state": "available",
            "created": newest.created.isoformat().replace("+00:00", "Z"),
        }

    def test_an_unknown_worker_is_a_404(self, outsider):
        response = client_for(outsider).get(f"/api/v1/workers/{uuid.uuid4()}/versions/")
        assert_error(response, 404, code="not_found")

    def test_a_malformed_worker_id_is_a_404(self, outsider):
        response = client_for(outsider).get("/api/v1/workers/recognizer/versions/")
        assert_error(response, 404, code="not_found")

    @pytest.mark.parametrize("count", [1, 10])
    def test_the_query_count_does_not_grow_with_versions(
        self, outsider, worker, count, django_assert_num_queries
    ):
        for n in range(count):
            WorkerVersionFactory(worker=worker, version=n + 1)
        client = client_for(outsider)
        # 1. the token with its user
        # 2. the worker
        # 3. count of versions
        # 4. the page of versions
        with django_assert_num_queries(4):
            assert client.get(versions_url(worker)).json()["count"] == count

    def test_anonymous_callers_get_a_401(self, api, worker):
        assert_unauthorized(api.get(versions_url(worker)))


class TestCreateWorkerVersion:
    def test_a_superuser_creates_versions_numbered_by_the_server(self, superuser, worker):
        client = client_for(superuser)
        first = client.post(versions_url(worker), VERSION_BODY, format="json")
        assert first.status_code == 201, first.content
        # A version sent by the caller is ignored: the server numbers versions.
        second = client.post(versions_url(worker), {**VERSION_BODY, "version": 42}, format="json")
        assert second.status_code == 201
        assert [first.json()["version"], second.json()["version"]] == [1, 2]
        version = WorkerVersion.objects.get(id=first.json()["id"])
        assert first.json() == {
            "id": str(version.id),
            "worker_id": str(worker.id),
            "version": 1,
            "docker_image": "registry.example.com/recognizer:1.0",
            "command": "python -m recognizer",
            "gpu_usage": "supported",
            "configuration": {"model": "large"},
            "state": "available",
            "created": version.created.isoformat().replace("+00:00", "Z"),
        }

    def test_numbers_are_per_worker_and_follow_the_highest(self, superuser, worker):
        WorkerVersionFactory(worker=worker, version=7)
        WorkerVersionFactory(version=50)  # another worker's
        response = client_for(superuser).post(versions_url(worker), VERSION_BODY, format="json")
        assert response.json()["version"] == 8

    def test_defaults(self, superuser, worker):
        response = client_for(superuser).post(
            versions_url(worker), {"docker_image": "img"}, format="json"
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["command"], body["gpu_usage"], body["configuration"], body["state"]) == (
            "",
            "disabled",
            {},
            "available",
        )

    def test_a_version_may_be_created_in_another_state(self, superuser, worker):
        response = client_for(superuser).post(
            versions_url(worker), {**VERSION_BODY, "state": "created"}, format="json"
        )
        assert response.json()["state"] == "created"

    @pytest.mark.parametrize("caller", ["corpus_admin", "contributor", "outsider"])
    def test_other_users_get_a_403(self, request, caller, worker):
        user = request.getfixturevalue(caller)
        response = client_for(user).post(versions_url(worker), VERSION_BODY, format="json")
        assert_error(response, 403, code="permission_denied")
        assert not WorkerVersion.objects.exists()

    def test_a_task_gets_a_403(self, running_task, worker):
        response = task_client(running_task).post(versions_url(worker), VERSION_BODY)
        assert_error(response, 403, code="permission_denied")

    def test_an_unknown_worker_is_a_404(self, superuser):
        url = f"/api/v1/workers/{uuid.uuid4()}/versions/"
        response = client_for(superuser).post(url, VERSION_BODY, format="json")
        assert_error(response, 404, code="not_found")

    def test_an_unknown_worker_is_a_404_even_with_an_invalid_body(self, superuser):
        url = f"/api/v1/workers/{uuid.uuid4()}/versions/"
        response = client_for(superuser).post(url, {"gpu_usage": "always"}, format="json")
        assert_error(response, 404, code="not_found")

    def test_the_query_count(self, superuser, worker, django_assert_num_queries):
        WorkerVersionFactory(worker=worker, version=1)
        client = client_for(superuser)
        # 1. the token with its user
        # 2. the worker
        # 3. savepoint (the test's transaction holds the request's atomic block)
        # 4. lock of the worker row
        # 5. the highest version
        # 6. insert of the version
        # 7. release of the savepoint
        with django_assert_num_queries(7):
            response = client.post(versions_url(worker), VERSION_BODY, format="json")
        assert response.json()["version"] == 2

    @pytest.mark.parametrize(
        ("changes", "attr", "code"),
        [
            ({"docker_image": None}, ["docker_image"], "null"),
            ({"docker_image": ""}, ["docker_image"], "blank"),
            ({"gpu_usage": "always"}, ["gpu_usage"], "invalid_choice"),
            ({"state": "broken"}, ["state"], "invalid_choice"),
            ({"configuration": ["a", "list"]}, ["configuration"], "invalid"),
            ({"configuration": "text"}, ["configuration"], "invalid"),
            ({"configuration": None}, ["configuration"], "null"),
        ],
    )
    def test_an_invalid_body_names_the_field(self, superuser, worker, changes, attr, code):
        body = {**VERSION_BODY, **changes}
        response = client_for(superuser).post(versions_url(worker), body, format="json")
        assert_error(response, 400, code=code, attr=attr)
        assert not WorkerVersion.objects.exists()

    def test_anonymous_callers_get_a_401(self, api, worker):
        assert_unauthorized(api.post(versions_url(worker), VERSION_BODY, format="json"))


@pytest.fixture
def version(worker):
    return WorkerVersionFactory(
        worker=worker, version=1, gpu_usage="supported", configuration={"model": "small"}
    )


class TestRetrieveWorkerVersion:
    def test_every_user_retrieves_a_version(self, outsider, version, django_assert_num_queries):
        client = client_for(outsider)
        # 1. the token with its user
        # 2. the version
        with django_assert_num_queries(2):
            response = client.get(version_url(version))
        assert response.status_code == 200
        assert response.json()["id"] == str(version.id)
        assert response.json()["worker_id"] == str(version.worker_id)
        assert response.json()["configuration"] == {"model": "small"}

    def test_an_unknown_version_is_a_404(self, outsider):
        response = client_for(outsider).get(f"/api/v1/workers/versions/{uuid.uuid4()}/")
        assert_error(response, 404, code="not_found")

    def test_anonymous_callers_get_a_401(self, api, version):
        assert_unauthorized(api.get(version_url(version)))


class TestPartialUpdateWorkerVersion:
    def test_a_superuser_changes_the_state_and_configuration(self, superuser, version):
        response = client_for(superuser).patch(
            version_url(version),
            {"state": "error", "configuration": {"model": "large"}},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json()["state"] == "error"
        assert response.json()["configuration"] == {"model": "large"}
        version.refresh_from_db()
        assert (version.state, version.configuration) == ("error", {"model": "large"})

    def test_one_field_at_a_time(self, superuser, version):
        client = client_for(superuser)
        assert client.patch(version_url(version), {"state": "created"}).status_code == 200
        version.refresh_from_db()
        assert (version.state, version.configuration) == ("created", {"model": "small"})

    def test_the_code_of_a_version_never_changes(self, superuser, version):
        response = client_for(superuser).patch(
            version_url(version),
            {
                "docker_image": "evil/image",
                "command": "rm -rf /",
                "gpu_usage": "required",
                "version": 9,
                "worker_id": str(uuid.uuid4()),
            },
            format="json",
        )
        assert response.status_code == 200
        version.refresh_from_db()
        assert version.docker_image == "registry.example.com/worker:latest"
        assert version.command == "echo hello"
        assert version.gpu_usage == "supported"
        assert version.version == 1

    def test_an_invalid_state_is_a_400(self, superuser, version):
        response = client_for(superuser).patch(version_url(version), {"state": "gone"})
        assert_error(response, 400, code="invalid_choice", attr=["state"])

    def test_a_configuration_that_is_not_an_object_is_a_400(self, superuser, version):
        response = client_for(superuser).patch(
            version_url(version), {"configuration": [1]}, format="json"
        )
        errors = assert_error(response, 400, code="invalid", attr=["configuration"])
        assert errors[0]["detail"] == "The configuration must be a JSON object."

    @pytest.mark.parametrize("caller", ["corpus_admin", "contributor", "outsider"])
    def test_other_users_get_a_403(self, request, caller, version):
        user = request.getfixturevalue(caller)
        response = client_for(user).patch(version_url(version), {"state": "error"})
        assert_error(response, 403, code="permission_denied")
        version.refresh_from_db()
        assert version.state == "available"

    def test_a_task_gets_a_403(self, running_task, version):
        response = task_client(running_task).patch(version_url(version), {"state": "error"})
        assert_error(response, 403, code="permission_denied")

    def test_put_is_not_allowed(self, superuser, version):
        response = client_for(superuser).put(version_url(version), {"state": "error"})
        assert_error(response, 405, code="method_not_allowed")

    def test_an_unknown_version_is_a_404(self, superuser):
        url = f"/api/v1/workers/versions/{uuid.uuid4()}/"
        assert_error(client_for(superuser).patch(url, {"state": "error"}), 404)

    def test_anonymous_callers_get_a_401(self, api, version):
        assert_unauthorized(api.patch(version_url(version), {"state": "error"}))
