"""CreateProcess and the mode rules of SPEC §6."""

import pytest

from arkindex.corpora.models import Level
from process.models import Process
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import CorpusFactory, CorpusMembershipFactory

pytestmark = pytest.mark.django_db


def create(user, body):
    return client_for(user).post("/api/v1/process/", body, format="json")


def test_a_contributor_creates_a_workers_process(corpus, contributor):
    response = create(
        contributor, {"mode": "workers", "corpus": str(corpus.id), "name": "OCR", "chunks": 3}
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    process = Process.objects.get(pk=body["id"])
    assert process.creator == contributor
    assert (process.mode, process.corpus, process.name, process.chunks) == (
        "workers",
        corpus,
        "OCR",
        3,
    )
    # The answer is the RetrieveProcess body.
    assert body["tasks"] == [] and body["expiry"] is None and body["state"] == "unscheduled"
    assert body["farm"] is None and body["started"] is None
    assert body["creator"] == {"id": str(contributor.id), "display_name": "Cecil"}


def test_a_repository_process_has_a_url_and_no_corpus(outsider):
    response = create(
        outsider, {"mode": "repository", "repository_url": "https://git.example.com/a.git"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["repository_url"] == "https://git.example.com/a.git"
    assert response.json()["corpus"] is None


@pytest.mark.parametrize("with_corpus", [True, False])
def test_a_template_may_have_a_corpus(corpus, contributor, with_corpus):
    body = {"mode": "template"}
    if with_corpus:
        body["corpus"] = str(corpus.id)
    assert create(contributor, body).status_code == 201


def test_a_local_process_has_no_corpus(outsider):
    assert create(outsider, {"mode": "local"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "attr", "detail"),
    [
        (
            {"mode": "workers"},
            "corpus",
            "A workers process needs a corpus: give the id of a corpus where you are at least "
            "a contributor.",
        ),
        (
            {"mode": "repository", "corpus": "CORPUS", "repository_url": "https://a.example/r"},
            "corpus",
            "A repository process has no corpus: remove this field.",
        ),
        (
            {"mode": "repository"},
            "repository_url",
            "A repository process needs a repository_url: the repository its import task reads.",
        ),
        (
            {"mode": "local", "corpus": "CORPUS"},
            "corpus",
            "A local process has no corpus: remove this field.",
        ),
        (
            {"mode": "workers", "corpus": "CORPUS", "repository_url": "https://a.example/r"},
            "repository_url",
            "Only repository processes have a repository_url, not workers ones.",
        ),
        ({"mode": "workflow"}, "mode", '"workflow" is not a valid choice.'),
        ({"mode": "workers", "corpus": "CORPUS", "chunks": 11}, "chunks", None),
        ({"mode": "workers", "corpus": "CORPUS", "chunks": 0}, "chunks", None),
        ({"mode": "repository", "repository_url": "not a url"}, "repository_url", None),
        ({"mode": "workers", "corpus": "not-an-id"}, "corpus", "Must be a valid UUID."),
        ({}, "mode", "This field is required."),
    ],
)
def test_mode_rules(corpus, contributor, body, attr, detail):
    body = {key: str(corpus.id) if value == "CORPUS" else value for key, value in body.items()}

    errors = assert_error(create(contributor, body), 400, attr=[attr])

    if detail is not None:
        assert errors[0]["detail"] == detail
    assert not Process.objects.exists()


def test_an_unreadable_corpus_is_unknown(corpus, outsider):
    errors = assert_error(
        create(outsider, {"mode": "workers", "corpus": str(corpus.id)}), 400, attr=["corpus"]
    )
    assert errors[0]["detail"] == f"No corpus you can read has the id {corpus.id}."


@pytest.mark.parametrize("mode", ["workers", "template"])
def test_a_guest_of_the_corpus_may_not_create_processes_on_it(corpus, guest, mode):
    errors = assert_error(create(guest, {"mode": mode, "corpus": str(corpus.id)}), 403)
    assert errors[0]["detail"] == (
        "Creating a process on a corpus needs at least contributor rights on it."
    )


def test_a_public_corpus_gives_guest_rights_only(outsider):
    public = CorpusFactory(public=True)
    assert_error(create(outsider, {"mode": "workers", "corpus": str(public.id)}), 403)
    CorpusMembershipFactory(corpus=public, user=outsider, level=Level.CONTRIBUTOR)
    assert create(outsider, {"mode": "workers", "corpus": str(public.id)}).status_code == 201


def test_superusers_create_anywhere(corpus, superuser):
    assert create(superuser, {"mode": "workers", "corpus": str(corpus.id)}).status_code == 201


def test_tasks_and_agents_may_not_create_processes(running_task, agent, corpus):
    body = {"mode": "workers", "corpus": str(corpus.id)}
    assert_error(task_client(running_task).post("/api/v1/process/", body, format="json"), 403)
    assert_error(agent_client(agent).post("/api/v1/process/", body, format="json"), 403)
