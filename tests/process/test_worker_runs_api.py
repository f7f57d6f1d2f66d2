"""Worker runs: List/Create on process/{id}/workers/, the rest on process/workers/{id}/."""

import pytest

from ponos.models import State, Task
from process.models import ProcessMode, WorkerRun
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import ProcessFactory, WorkerVersionFactory
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db

RUN_FIELDS = {
    "id",
    "process_id",
    "version",
    "worker_version",
    "parents",
    "configuration",
    "process",
    "summary",
    "model_version",
    "created",
    "updated",
}


def list_url(process):
    return f"/api/v1/process/{process.id}/workers/"


def detail_url(worker_run):
    return f"/api/v1/process/workers/{worker_run.id}/"


@pytest.fixture
def version(db):
    return WorkerVersionFactory(worker__slug="ocr", worker__name="OCR")


class TestList:
    def test_readers_list_worker_runs_in_creation_order(self, process, guest):
        first = add_worker_run(process, slug="one")
        second = add_worker_run(process, slug="two", parents=[first])

        response = client_for(guest).get(list_url(process))

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        assert [item["id"] for item in body["results"]] == [str(first.id), str(second.id)]
        item = body["results"][1]
        assert set(item) == RUN_FIELDS
        assert item["parents"] == [str(first.id)]
        assert item["process_id"] == str(process.id)
        assert item["version"] == str(second.version_id)
        assert item["worker_version"]["worker"]["slug"] == "two"

    def test_query_count_does_not_grow(self, process, guest, django_assert_num_queries):
        runs = []
        for _ in range(30):
            runs.append(add_worker_run(process, parents=runs[-1:]))
        client = client_for(guest)
        # 1 token and user, 2 the readable process, 3 COUNT, 4 the page with versions and
        # workers, 5 their parents (prefetch).
        with django_assert_num_queries(5):
            response = client.get(list_url(process))
        assert response.json()["count"] == 30

    def test_outsiders_get_a_404(self, process, outsider):
        assert_error(client_for(outsider).get(list_url(process)), 404)


class TestCreate:
    def post(self, user, process, body):
        return client_for(user).post(list_url(process), body, format="json")

    def test_a_manager_adds_a_worker_run(self, process, contributor, version):
        parent = add_worker_run(process, slug="init")

        response = self.post(
            contributor,
            process,
            {"version": str(version.id), "parents": [str(parent.id)], "configuration": {"a": 1}},
        )

        assert response.status_code == 201, response.json()
        body = response.json()
        run = WorkerRun.objects.get(pk=body["id"])
        assert run.process == process
        assert run.configuration == {"a": 1}
        assert list(run.parents.all()) == [parent]
        assert body["worker_version"] == {
            "id": str(version.id),
            "version": version.version,
            "worker": {
                "id": str(version.worker.id),
                "name": "OCR",
                "slug": "ocr",
                "type": "recognizer",
            },
            "docker_image": version.docker_image,
            "gpu_usage": "disabled",
            "state": "available",
        }

    def test_parents_must_belong_to_the_same_process(self, process, contributor, version):
        other = add_worker_run(ProcessFactory(creator=contributor), slug="elsewhere")
        response = self.post(
            contributor, process, {"version": str(version.id), "parents": [str(other.id)]}
        )
        errors = assert_error(response, 400, attr=["parents"])
        assert errors[0]["detail"] == (
            f"No worker run of this process has the id {other.id}: parents must be worker runs "
            "of the same process."
        )

    def test_an_unknown_version_is_a_400(self, process, contributor):
        version_id = "00000000-0000-4000-8000-000000000000"
        errors = assert_error(
            self.post(contributor, process, {"version": version_id}), 400, attr=["version"]
        )
        assert errors[0]["detail"] == (
            f"No worker version has the id {version_id}: see ListWorkerVersions."
        )

    def test_the_configuration_is_an_object(self, process, contributor, version):
        response = self.post(
            contributor, process, {"version": str(version.id), "configuration": [1, 2]}
        )
        errors = assert_error(response, 400, attr=["configuration"])
        assert errors[0]["detail"] == "The configuration must be a JSON object."

    def test_a_version_appears_twice_only_with_different_configurations(
        self, process, contributor, version
    ):
        first = add_worker_run(process, version=version, configuration={"a": 1, "b": 2})
        same = {"version": str(version.id), "configuration": {"b": 2, "a": 1}}

        errors = assert_error(self.post(contributor, process, same), 400, attr=["configuration"])

        assert errors[0]["detail"] == (
            f"Worker version {version.id} already runs in this process with this configuration "
            f"(worker run {first.id}): change the configuration, or use that worker run."
        )
        other = {"version": str(version.id), "configuration": {"a": 2}}
        assert self.post(contributor, process, other).status_code == 201

    def test_refused_while_the_process_is_active(self, process, contributor, version):
        make_run(process, a=State.RUNNING)
        errors = assert_error(
            self.post(contributor, process, {"version": str(version.id)}),
            400,
            error_type="validation_error",
        )
        assert errors[0]["detail"] == (
            "This process is active (running): its worker runs can change once its run is "
            "over; stop it first to change them now."
        )

    def test_allowed_between_runs(self, process, contributor, version):
        make_run(process, a=State.FAILED)
        assert self.post(contributor, process, {"version": str(version.id)}).status_code == 201

    def test_a_repository_process_has_no_worker_runs(self, contributor, version):
        process = ProcessFactory(
            creator=contributor, mode=ProcessMode.REPOSITORY, repository_url="https://r.example"
        )
        errors = assert_error(
            self.post(contributor, process, {"version": str(version.id)}),
            400,
            error_type="validation_error",
        )
        assert errors[0]["detail"] == (
            "A repository process has no worker runs: its import task creates its tasks."
        )

    def test_readers_may_not_create(self, process, guest, version):
        assert_error(self.post(guest, process, {"version": str(version.id)}), 403)


class TestDetail:
    @pytest.fixture
    def chain(self, process):
        a = add_worker_run(process, slug="a")
        b = add_worker_run(process, slug="b", parents=[a])
        c = add_worker_run(process, slug="c", parents=[b])
        return a, b, c

    def patch(self, user, worker_run, body):
        return client_for(user).patch(detail_url(worker_run), body, format="json")

    def test_readers_retrieve(self, chain, guest):
        response = client_for(guest).get(detail_url(chain[1]))
        assert response.status_code == 200
        assert response.json()["parents"] == [str(chain[0].id)]

    def test_partial_update_of_the_configuration_and_parents(self, chain, contributor):
        a, b, c = chain
        response = self.patch(contributor, c, {"configuration": {"x": 1}, "parents": [str(a.id)]})
        assert response.status_code == 200, response.json()
        assert response.json()["parents"] == [str(a.id)]
        c.refresh_from_db()
        assert c.configuration == {"x": 1}

    def test_put_replaces_the_worker_run(self, chain, contributor, version):
        a, b, c = chain
        response = client_for(contributor).put(
            detail_url(b), {"version": str(version.id), "parents": []}, format="json"
        )
        assert response.status_code == 200, response.json()
        b.refresh_from_db()
        assert b.version == version
        assert list(b.parents.all()) == []

    @pytest.mark.parametrize("looping", ["self", "descendant", "grandchild"])
    def test_cycles_are_refused(self, chain, contributor, looping):
        a, b, c = chain
        parent = {"self": a, "descendant": b, "grandchild": c}[looping]
        errors = assert_error(
            self.patch(contributor, a, {"parents": [str(parent.id)]}), 400, attr=["parents"]
        )
        assert errors[0]["detail"] == (
            f"These parents would make a cycle: {parent.id} is this worker run or depends on it."
        )

    def test_changing_into_a_duplicate_is_refused(self, process, contributor, version):
        add_worker_run(process, version=version, configuration={"a": 1})
        second = add_worker_run(process, version=version, configuration={"a": 2})
        response = self.patch(contributor, second, {"configuration": {"a": 1}})
        assert_error(response, 400, attr=["configuration"])

    def test_changes_are_refused_while_active_and_allowed_after(self, chain, contributor):
        a, b, c = chain
        process = a.process
        make_run(process, a=State.PENDING)
        assert_error(
            self.patch(contributor, a, {"configuration": {"x": 1}}),
            400,
            error_type="validation_error",
        )
        assert_error(
            client_for(contributor).delete(detail_url(c)), 400, error_type="validation_error"
        )
        Task.objects.filter(process=process).update(state=State.COMPLETED)
        assert self.patch(contributor, a, {"configuration": {"x": 1}}).status_code == 200

    def test_delete_keeps_the_history_of_old_tasks(self, chain, contributor):
        a, b, c = chain
        task = make_run(a.process, c=State.COMPLETED)["c"]
        task.worker_run = c
        task.save()

        assert client_for(contributor).delete(detail_url(c)).status_code == 204

        assert not WorkerRun.objects.filter(pk=c.pk).exists()
        task.refresh_from_db()
        assert task.worker_run is None and task.state == State.COMPLETED

    @pytest.mark.parametrize("user,status", [("guest", 403), ("outsider", 404)])
    def test_rights(self, chain, request, user, status):
        client = client_for(request.getfixturevalue(user))
        assert_error(client.patch(detail_url(chain[0]), {}, format="json"), status)
        assert_error(client.delete(detail_url(chain[0])), status)
