from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
import time_machine

from ponos.models import Artifact, State, Task
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory, UserFactory
from tests.ponos.conftest import keys

pytestmark = pytest.mark.django_db


def list_url(task):
    return f"/api/v1/task/{task.id}/artifacts/"


def download_url(task, path):
    return f"/api/v1/task/{task.id}/artifact/{quote(path)}"


def declare(client, task, path="out/result.json", size=42, content_type="application/json"):
    return client.post(list_url(task), {"path": path, "size": size, "content_type": content_type})


@pytest.fixture
def artifacts(running_task):
    return [
        Artifact.objects.create(task=running_task, path=path, size=size, content_type="text/plain")
        for path, size in (("b.txt", 2), ("a/deep/file.txt", 10))
    ]


class TestList:
    def test_a_reader_lists_the_artifacts_as_a_plain_list(self, guest, running_task, artifacts):
        response = client_for(guest).get(list_url(running_task))
        assert response.status_code == 200, response.content
        deep, flat = sorted(artifacts, key=lambda artifact: artifact.path)
        assert response.json() == [
            {
                "id": str(artifact.id),
                "path": artifact.path,
                "size": artifact.size,
                "content_type": "text/plain",
                "created": artifact.created.isoformat().replace("+00:00", "Z"),
                "updated": artifact.updated.isoformat().replace("+00:00", "Z"),
            }
            for artifact in (deep, flat)
        ]

    def test_agents_of_the_farm_list_the_artifacts_of_any_task_of_it(
        self, running_task, farm, artifacts
    ):
        # Not its task: a parent it fetches the artifacts of.
        response = agent_client(AgentFactory(farm=farm)).get(list_url(running_task))
        assert len(response.json()) == 2

    def test_tasks_list_what_their_creator_may_read(self, running_task, process, artifacts):
        sibling = TaskFactory(process=process, slug="sibling", state=State.RUNNING)
        assert len(task_client(sibling).get(list_url(running_task)).json()) == 2

    @pytest.mark.parametrize("caller", ["outsider", "farm_guest", "other_agent", "foreign_task"])
    def test_others_get_a_404(self, request, caller, running_task, other_agent):
        if caller == "other_agent":
            client = agent_client(other_agent)
        elif caller == "foreign_task":
            foreign = ProcessFactory(creator=UserFactory(), farm=running_task.process.farm)
            client = task_client(TaskFactory(process=foreign, state=State.RUNNING))
        else:
            client = client_for(request.getfixturevalue(caller))
        assert_error(client.get(list_url(running_task)), 404)

    def test_listing_takes_the_same_queries_for_any_number_of_artifacts(
        self, guest, running_task, django_assert_num_queries
    ):
        client = client_for(guest)

        def add(count):
            for n in range(count):
                Artifact.objects.create(task=running_task, path=f"{count}/{n}", size=n)

        add(1)
        # The token and its user; the task (rights in a subquery); the artifacts.
        with django_assert_num_queries(3):
            client.get(list_url(running_task))
        add(30)
        with django_assert_num_queries(3):
            assert len(client.get(list_url(running_task)).json()) == 31


class TestCreate:
    def test_the_task_declares_an_artifact_and_gets_a_signed_put(self, running_task, s3, settings):
        response = declare(task_client(running_task), running_task)
        assert response.status_code == 201, response.content
        body = response.json()
        artifact = Artifact.objects.get(task=running_task)
        assert (artifact.path, artifact.size, artifact.content_type) == (
            "out/result.json",
            42,
            "application/json",
        )
        put_url = body.pop("s3_put_url")
        assert body["id"] == str(artifact.id)
        assert set(body) == {"id", "path", "size", "content_type", "created", "updated"}
        parts = urlsplit(put_url)
        assert parts.path == f"/ponos-artifacts/{running_task.id}/out/result.json"
        query = parse_qs(parts.query)
        # Bound to the declared type and size.
        assert {"content-length", "content-type"} <= set(query["X-Amz-SignedHeaders"][0].split(";"))
        assert int(query["X-Amz-Expires"][0]) == settings.PONOS_URL_EXPIRY

    def test_the_holding_agent_declares_artifacts(self, running_task, agent, s3):
        assert declare(agent_client(agent), running_task).status_code == 201

    def test_the_same_path_again_is_the_same_artifact_with_a_fresh_url(self, running_task, s3):
        client = task_client(running_task)
        with time_machine.travel("2026-03-01T00:00:00Z", tick=False) as traveller:
            first = declare(client, running_task).json()
            traveller.shift(10)
            response = declare(client, running_task, size=99, content_type="text/plain")
        assert response.status_code == 200
        second = response.json()
        assert second["id"] == first["id"]
        assert (second["size"], second["content_type"]) == (99, "text/plain")
        assert second["s3_put_url"] != first["s3_put_url"]
        assert Artifact.objects.get().size == 99

    @pytest.mark.parametrize(
        "path",
        [
            "",
            "/etc/passwd",
            "../escape",
            "a/../../b",
            "a\\b",
            "nul\x00byte",
            "tab\tin",
            "a//b",
            "./a",
            "dir/",
            "x" * 513,
        ],
    )
    def test_bad_paths_are_refused(self, running_task, path, s3):
        response = declare(task_client(running_task), running_task, path=path)
        assert_error(response, 400, attr=["path"])
        assert not Artifact.objects.exists()

    def test_a_long_path_within_the_limit_is_fine(self, running_task, s3):
        path = ("d" * 100 + "/") * 5 + "x" * 7
        assert len(path) == 512
        assert declare(task_client(running_task), running_task, path=path).status_code == 201

    def test_the_size_is_limited(self, running_task, settings, s3):
        settings.PONOS_ARTIFACT_MAX_SIZE = 100
        client = task_client(running_task)
        assert declare(client, running_task, size=100).status_code == 201
        errors = assert_error(declare(client, running_task, size=101), 400, attr=["size"])
        assert "100" in errors[0]["detail"]
        assert_error(declare(client, running_task, size=-1), 400, attr=["size"])

    def test_others_cannot_declare_artifacts(self, running_task, process, farm, contributor):
        sibling = TaskFactory(process=process, slug="sibling", state=State.RUNNING)
        for client in (
            task_client(sibling),
            agent_client(AgentFactory(farm=farm)),
            client_for(contributor),
        ):
            assert_error(declare(client, running_task), 403)
        assert not Artifact.objects.exists()

    def test_no_artifact_once_the_task_is_final(self, running_task, agent):
        Task.objects.filter(pk=running_task.pk).update(state=State.FAILED)
        errors = assert_error(
            declare(agent_client(agent), running_task), 400, error_type="validation_error"
        )
        assert "failed" in errors[0]["detail"]


class TestDownload:
    def test_a_reader_is_redirected_to_a_signed_get(self, guest, running_task, artifacts, s3):
        response = client_for(guest).get(download_url(running_task, "a/deep/file.txt"))
        assert response.status_code == 302
        parts = urlsplit(response["Location"])
        assert parts.path == f"/ponos-artifacts/{running_task.id}/a/deep/file.txt"
        assert "X-Amz-Signature" in parse_qs(parts.query)

    def test_an_agent_of_the_farm_downloads_artifacts(self, running_task, farm, artifacts, s3):
        client = agent_client(AgentFactory(farm=farm))
        assert client.get(download_url(running_task, "b.txt")).status_code == 302

    def test_an_unknown_path_is_a_404(self, guest, running_task, artifacts, s3):
        assert_error(client_for(guest).get(download_url(running_task, "c.txt")), 404)
        assert_error(client_for(guest).get(download_url(running_task, "a/deep")), 404)

    def test_others_get_a_404(self, outsider, other_agent, running_task, artifacts, s3):
        assert_error(client_for(outsider).get(download_url(running_task, "b.txt")), 404)
        assert_error(agent_client(other_agent).get(download_url(running_task, "b.txt")), 404)


def test_artifacts_and_logs_go_through_signed_urls_to_their_keys(running_task, agent, s3_http):
    """The whole path over HTTP, against moto's server: keys exactly as SPEC §8 says."""
    client = agent_client(agent)
    content = b'{"pages": 12}'
    put_url = declare(client, running_task, size=len(content)).json()["s3_put_url"]
    upload = requests.put(
        put_url, data=content, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert upload.status_code == 200, upload.text

    log_url = client.get(f"/api/v1/task/{running_task.id}/definition/").json()["s3_logs_put_url"]
    log = "starting\n" + "working\n" * 5000 + "done\n"
    upload = requests.put(
        log_url, data=log.encode(), headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert upload.status_code == 200, upload.text

    assert keys(s3_http, "ponos-artifacts") == [f"{running_task.id}/out/result.json"]
    assert keys(s3_http, "ponos-logs") == [f"{running_task.id}.log"]

    redirect = client.get(download_url(running_task, "out/result.json"))
    assert requests.get(redirect["Location"], timeout=10).content == content

    body = client.get(f"/api/v1/task/{running_task.id}/").json()
    assert body["logs"] == log[-10240:]
    assert requests.get(body["full_log"], timeout=10).text == log
