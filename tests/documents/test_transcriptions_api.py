"""CreateTranscription, CreateTranscriptions and ListTranscriptions through HTTP."""

import uuid

import pytest

from arkindex.documents.elements import create_element
from arkindex.documents.models import Element, ElementType, Transcription
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for, task_client
from tests.documents.factories import TranscriptionFactory
from tests.factories import CorpusFactory, WorkerRunFactory

pytestmark = pytest.mark.django_db

BULK = "/api/v1/transcription/bulk/"


def create_url(element):
    return f"/api/v1/element/{element.id}/transcription/"


def list_url(element):
    return f"/api/v1/element/{element.id}/transcriptions/"


class TestCreateTranscription:
    def test_a_task_writes_a_transcription_as_its_worker_run(self, run_task, worker_run, page):
        # The body of base-worker 0.6.0's `create_transcription`.
        body = {
            "text": "Lorem ipsum",
            "worker_run_id": str(worker_run.id),
            "confidence": 0.42,
            "orientation": "vertical-rl",
        }
        response = task_client(run_task).post(create_url(page), body, format="json")
        assert response.status_code == 201, response.content
        transcription = Transcription.objects.get()
        assert response.json() == {
            "id": str(transcription.id),
            "element_id": str(page.id),
            "text": "Lorem ipsum",
            "confidence": 0.42,
            "orientation": "vertical-rl",
            "worker_run_id": str(worker_run.id),
            "created": transcription.created.isoformat().replace("+00:00", "Z"),
        }
        assert transcription.worker_run == worker_run
        assert transcription.element == page

    def test_a_user_writes_as_themselves_by_default(self, contributor, page):
        body = {"text": "Typed by hand"}
        response = client_for(contributor).post(create_url(page), body, format="json")
        assert response.status_code == 201, response.content
        transcription = Transcription.objects.get()
        assert (transcription.worker_run_id, transcription.confidence) == (None, None)
        assert transcription.orientation == "horizontal-lr"

    def test_a_task_may_not_write_as_another_run(self, run_task, process, page):
        other = WorkerRunFactory(process=process)
        body = {"text": "x", "worker_run_id": str(other.id), "confidence": 0.5}
        assert_error(task_client(run_task).post(create_url(page), body, format="json"), 403)
        assert not Transcription.objects.exists()

    def test_a_task_may_not_write_on_another_corpus(self, run_task, contributor):
        other = CorpusFactory(public=True)
        other.memberships.create(user=contributor, level=50)
        kind = ElementType.objects.create(corpus=other, slug="page", display_name="Page")
        element = create_element(corpus=other, type=kind, name="Elsewhere")
        body = {"text": "x", "confidence": 0.5}
        assert_error(task_client(run_task).post(create_url(element), body, format="json"), 403)
        assert not Transcription.objects.exists()

    def test_rights(self, guest, outsider, page):
        body = {"text": "x"}
        assert_error(client_for(guest).post(create_url(page), body, format="json"), 403)
        assert_error(client_for(outsider).post(create_url(page), body, format="json"), 404)
        unknown = Element(id=uuid.uuid4())
        assert_error(client_for(guest).post(create_url(unknown), body, format="json"), 404)
        assert not Transcription.objects.exists()

    @pytest.mark.parametrize(
        ("changes", "attr"),
        [
            ({"text": ""}, ["text"]),
            ({"confidence": -0.1}, ["confidence"]),
            ({"confidence": "high"}, ["confidence"]),
            ({"orientation": "diagonal"}, ["orientation"]),
            ({"worker_run_id": str(uuid.uuid4())}, ["worker_run_id"]),
        ],
    )
    def test_bad_input_is_a_400(self, contributor, page, changes, attr):
        body = {"text": "x", "confidence": 0.5, **changes}
        response = client_for(contributor).post(create_url(page), body, format="json")
        assert_error(response, 400, attr=attr)
        assert not Transcription.objects.exists()


class TestCreateTranscriptions:
    def test_a_task_writes_a_batch_as_its_worker_run(
        self, run_task, worker_run, folder, page, django_assert_num_queries
    ):
        # The body of base-worker 0.6.0's `create_transcriptions`.
        body = {
            "worker_run_id": str(worker_run.id),
            "transcriptions": [
                {"element_id": str(page.id), "text": "one", "confidence": 0.1},
                {
                    "element_id": str(folder.id),
                    "text": "two",
                    "confidence": 1.0,
                    "orientation": "horizontal-rl",
                },
            ],
        }
        client = task_client(run_task)
        # 1. the task with its process and creator; 2. the elements with their corpus;
        # 3. the creator's level on the corpus; 4-6. the insert, in a savepoint
        with django_assert_num_queries(6):
            response = client.post(BULK, body, format="json")
        assert response.status_code == 201, response.content
        created = {t.text: t for t in Transcription.objects.all()}
        assert response.json() == {
            "worker_run_id": str(worker_run.id),
            "transcriptions": [
                {
                    "id": str(created[text].id),
                    "element_id": str(element.id),
                    "text": text,
                    "confidence": confidence,
                    "orientation": orientation,
                    "worker_run_id": str(worker_run.id),
                    "created": created[text].created.isoformat().replace("+00:00", "Z"),
                }
                for text, element, confidence, orientation in [
                    ("one", page, 0.1, "horizontal-lr"),
                    ("two", folder, 1.0, "horizontal-rl"),
                ]
            ],
        }

    def test_an_unknown_element_refuses_the_whole_batch(self, contributor, page):
        body = {
            "transcriptions": [
                {"element_id": str(page.id), "text": "one", "confidence": 0.1},
                {"element_id": str(uuid.uuid4()), "text": "two", "confidence": 0.1},
            ]
        }
        response = client_for(contributor).post(BULK, body, format="json")
        assert_error(response, 400, attr=["transcriptions", 1, "element_id"])
        assert not Transcription.objects.exists()

    def test_elements_of_two_corpora_are_refused(self, contributor, page):
        other = CorpusFactory(public=True)
        kind = ElementType.objects.create(corpus=other, slug="page", display_name="Page")
        foreign = create_element(corpus=other, type=kind, name="Elsewhere")
        body = {
            "transcriptions": [
                {"element_id": str(page.id), "text": "one"},
                {"element_id": str(foreign.id), "text": "two"},
            ]
        }
        response = client_for(contributor).post(BULK, body, format="json")
        assert_error(response, 400, attr=["transcriptions", 1, "element_id"])
        assert not Transcription.objects.exists()

    @pytest.mark.parametrize(
        ("body", "attr"),
        [
            ({"transcriptions": []}, ["transcriptions"]),
            ({}, ["transcriptions"]),
            ({"transcriptions": [{"text": "x"}]}, ["transcriptions", 0, "element_id"]),
            ({"transcriptions": [{"element_id": "x", "text": "x"}]}, None),
        ],
    )
    def test_bad_bodies_are_a_400(self, contributor, page, body, attr):
        if attr is None:
            attr = ["transcriptions", 0, "element_id"]
        response = client_for(contributor).post(BULK, body, format="json")
        assert_error(response, 400, attr=attr)

    def test_a_guest_may_not_write(self, guest, page):
        body = {"transcriptions": [{"element_id": str(page.id), "text": "x"}]}
        assert_error(client_for(guest).post(BULK, body, format="json"), 403)
        assert not Transcription.objects.exists()

    def test_an_unreadable_element_is_a_field_error(self, outsider, page):
        body = {"transcriptions": [{"element_id": str(page.id), "text": "x"}]}
        response = client_for(outsider).post(BULK, body, format="json")
        assert_error(response, 400, attr=["transcriptions", 0, "element_id"])


class TestListTranscriptions:
    @pytest.fixture
    def written(self, corpus, folder, page, page_type, worker_run):
        line = create_element(corpus=corpus, type=page_type, name="Line", parent=page)
        return {
            "folder": TranscriptionFactory(element=folder, text="folder"),
            "page": TranscriptionFactory(element=page, text="page", worker_run=worker_run),
            "line": TranscriptionFactory(element=line, text="line"),
        }

    def texts(self, response):
        assert response.status_code == 200, response.content
        return [item["text"] for item in response.json()["results"]]

    def test_an_element_s_own_then_its_descendants(self, guest, folder, written):
        client = client_for(guest)
        assert self.texts(client.get(list_url(folder))) == ["folder"]
        assert self.texts(client.get(list_url(folder), {"recursive": "true"})) == [
            "folder",
            "page",
            "line",
        ]

    def test_filters(self, guest, folder, written, worker_run):
        client = client_for(guest)
        url = list_url(folder)
        params = {"recursive": "true"}
        assert self.texts(client.get(url, {**params, "worker_run": str(worker_run.id)})) == ["page"]
        assert self.texts(client.get(url, {**params, "worker_run": "False"})) == [
            "folder",
            "line",
        ]
        version = str(worker_run.version_id)
        assert self.texts(client.get(url, {**params, "worker_version": version})) == ["page"]
        assert self.texts(client.get(url, {**params, "element_type": "page"})) == [
            "page",
            "line",
        ]
        assert_error(client.get(url, {"worker_run": "maybe"}), 400, attr=["worker_run"])

    @pytest.mark.parametrize("count", [2, 25])
    def test_the_query_count_does_not_grow_with_rows(
        self, guest, folder, count, django_assert_num_queries
    ):
        for n in range(count):
            TranscriptionFactory(element=folder, text=f"t{n}")
        client = client_for(guest)
        # 1. the token with its user; 2. the element, if readable; 3. the count; 4. the page
        with django_assert_num_queries(4):
            response = client.get(list_url(folder), {"recursive": "true", "page_size": 100})
        assert len(self.texts(response)) == count

    def test_an_unreadable_element_is_a_404(self, outsider, folder, written):
        assert_error(client_for(outsider).get(list_url(folder)), 404)
