"""CreateElement, RetrieveElement and CreateElementType through HTTP."""

import uuid

import pytest

from arkindex.documents.models import Element, ElementPath, ElementType
from arkindex.documents.queries import descendants
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for, task_client
from tests.factories import CorpusFactory, ProcessFactory, WorkerRunFactory

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/elements/create/"
TYPES = "/api/v1/elements/type/"


def element_url(element):
    return f"/api/v1/element/{element.id if hasattr(element, 'id') else element}/"


def base_worker_body(target, parent_element, worker_run_id=None, **changes):
    """The body of base-worker 0.6.0's `create_sub_element`."""
    return {
        "type": "page",
        "name": "Page 2",
        "image": None,
        "corpus": str(target.id),
        "polygon": None,
        "parent": str(parent_element.id),
        "worker_run_id": worker_run_id,
        "confidence": None,
        **changes,
    }


class TestCreateElement:
    def test_a_contributor_creates_an_element_under_a_parent(
        self, contributor, corpus, folder, page_type
    ):
        response = client_for(contributor).post(
            CREATE, base_worker_body(corpus, folder, confidence=0.75), format="json"
        )
        assert response.status_code == 201, response.content
        element = Element.objects.get(name="Page 2")
        assert response.json() == {
            "id": str(element.id),
            "name": "Page 2",
            "type": "page",
            "corpus": {"id": str(corpus.id), "name": "Private corpus", "public": False},
            "zone": None,
            "worker_run_id": None,
            "confidence": 0.75,
            "created": element.created.isoformat().replace("+00:00", "Z"),
            "updated": element.updated.isoformat().replace("+00:00", "Z"),
        }
        assert element.type == page_type
        assert list(descendants([folder])) == [element]

    def test_an_element_without_parent_is_top_level(self, contributor, corpus, folder_type):
        body = {"type": "folder", "name": "Volume 2", "corpus": str(corpus.id)}
        response = client_for(contributor).post(CREATE, body, format="json")
        assert response.status_code == 201, response.content
        element = Element.objects.get(pk=response.json()["id"])
        assert list(ElementPath.objects.filter(descendant=element).values_list("depth")) == [(0,)]

    def test_a_task_creates_elements_as_its_own_worker_run(
        self, run_task, worker_run, corpus, folder, page_type
    ):
        client = task_client(run_task)
        sent = client.post(
            CREATE, base_worker_body(corpus, folder, str(worker_run.id)), format="json"
        )
        omitted = client.post(
            CREATE,
            base_worker_body(corpus, folder, name="Page 3", worker_run_id=None),
            format="json",
        )
        assert sent.status_code == omitted.status_code == 201, (sent.content, omitted.content)
        assert sent.json()["worker_run_id"] == omitted.json()["worker_run_id"] == str(worker_run.id)
        assert set(
            Element.objects.filter(worker_run=worker_run).values_list("name", flat=True)
        ) == {"Page 2", "Page 3"}

    def test_a_task_may_not_write_as_another_worker_run(
        self, run_task, process, corpus, folder, page_type
    ):
        other_run = WorkerRunFactory(process=process)
        response = task_client(run_task).post(
            CREATE, base_worker_body(corpus, folder, str(other_run.id)), format="json"
        )
        assert_error(response, 403)
        assert "own worker run" in response.json()["errors"][0]["detail"]
        assert not Element.objects.filter(name="Page 2").exists()

    def test_a_task_may_not_write_on_another_corpus(self, run_task, contributor, folder):
        other = CorpusFactory(name="Other corpus")
        other.memberships.create(user=contributor, level=50)
        other_type = ElementType.objects.create(corpus=other, slug="page", display_name="Page")
        body = {"type": "page", "name": "Elsewhere", "corpus": str(other.id)}
        # The creator could write there, the task may not: its process is on another corpus.
        response = task_client(run_task).post(CREATE, body, format="json")
        assert_error(response, 403)
        assert not Element.objects.filter(type=other_type).exists()
        assert client_for(contributor).post(CREATE, body, format="json").status_code == 201

    def test_a_user_attributes_an_element_to_a_run_of_a_process_they_manage(
        self, contributor, worker_run, corpus, folder, page_type
    ):
        response = client_for(contributor).post(
            CREATE, base_worker_body(corpus, folder, str(worker_run.id)), format="json"
        )
        assert response.status_code == 201, response.content
        assert Element.objects.get(name="Page 2").worker_run == worker_run

    def test_a_user_may_not_attribute_an_element_to_a_run_they_do_not_manage(
        self, corpus_admin, contributor, corpus, folder, page_type
    ):
        # Another contributor's process: Cecil does not manage it.
        foreign = WorkerRunFactory(process=ProcessFactory(corpus=corpus, creator=corpus_admin))
        elsewhere = WorkerRunFactory(process=ProcessFactory(corpus=None, creator=contributor))
        client = client_for(contributor)
        for run in (foreign, elsewhere, uuid.uuid4()):
            response = client.post(
                CREATE,
                base_worker_body(corpus, folder, str(getattr(run, "id", run))),
                format="json",
            )
            assert_error(response, 400, attr=["worker_run_id"])
        assert not Element.objects.filter(name="Page 2").exists()

    @pytest.mark.parametrize("field", ["image", "polygon"])
    def test_images_and_zones_are_refused(self, contributor, corpus, folder, page_type, field):
        value = str(uuid.uuid4()) if field == "image" else [[0, 0], [0, 1], [1, 1]]
        response = client_for(contributor).post(
            CREATE, base_worker_body(corpus, folder, **{field: value}), format="json"
        )
        errors = assert_error(response, 400, attr=[field])
        assert "not supported" in errors[0]["detail"]
        assert not Element.objects.filter(name="Page 2").exists()

    @pytest.mark.parametrize(
        ("changes", "attr"),
        [
            ({"type": "unknown"}, ["type"]),
            ({"parent": str(uuid.uuid4())}, ["parent"]),
            ({"parent": "not-a-uuid"}, ["parent"]),
            ({"corpus": str(uuid.uuid4())}, ["corpus"]),
            ({"name": ""}, ["name"]),
            ({"confidence": 1.5}, ["confidence"]),
            ({"worker_run_id": "nope"}, ["worker_run_id"]),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(
        self, contributor, corpus, folder, page_type, changes, attr
    ):
        response = client_for(contributor).post(
            CREATE, base_worker_body(corpus, folder, **changes), format="json"
        )
        assert_error(response, 400, attr=attr)
        assert Element.objects.count() == 1

    def test_a_parent_of_another_corpus_is_refused(self, contributor, corpus, page_type):
        other = CorpusFactory(public=True)
        other_type = ElementType.objects.create(corpus=other, slug="folder", display_name="F")
        foreign = Element.objects.create(corpus=other, type=other_type, name="Foreign")
        response = client_for(contributor).post(
            CREATE, base_worker_body(corpus, foreign), format="json"
        )
        assert_error(response, 400, attr=["parent"])

    def test_guests_may_not_write_and_outsiders_do_not_see_the_corpus(
        self, guest, outsider, corpus, folder, page_type
    ):
        body = base_worker_body(corpus, folder)
        assert_error(client_for(guest).post(CREATE, body, format="json"), 403)
        assert_error(client_for(outsider).post(CREATE, body, format="json"), 400, attr=["corpus"])
        assert Element.objects.count() == 1


class TestRetrieveElement:
    def test_a_guest_reads_an_element(self, guest, corpus, page, django_assert_num_queries):
        client = client_for(guest)
        # 1. the token with its user
        # 2. the element with its type and corpus, if readable
        with django_assert_num_queries(2):
            response = client.get(element_url(page))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == str(page.id)
        assert body["type"] == "page"
        assert body["corpus"]["id"] == str(corpus.id)
        assert body["zone"] is None

    def test_a_task_reads_with_its_process_creator_rights(self, run_task, page):
        response = task_client(run_task).get(element_url(page))
        assert response.status_code == 200
        assert response.json()["name"] == "Page 1"

    def test_an_unreadable_element_looks_like_an_unknown_one(self, outsider, page):
        client = client_for(outsider)
        hidden = client.get(element_url(page))
        unknown = client.get(element_url(uuid.uuid4()))
        assert_error(hidden, 404)
        assert hidden.json() == unknown.json()
        assert_error(client.get("/api/v1/element/not-a-uuid/"), 404)

    def test_elements_of_public_corpora_are_readable_by_every_user(self, outsider, page_type):
        public = CorpusFactory(public=True)
        kind = ElementType.objects.create(corpus=public, slug="page", display_name="Page")
        element = Element.objects.create(corpus=public, type=kind, name="Open page")
        assert client_for(outsider).get(element_url(element)).json()["name"] == "Open page"


class TestCreateElementType:
    def body(self, corpus, slug="line"):
        # base-worker's `create_element_type`.
        return {"slug": slug, "display_name": "Line", "folder": False, "corpus": str(corpus.id)}

    def test_a_contributor_adds_a_type_that_retrieve_corpus_lists(
        self, contributor, corpus, page_type
    ):
        client = client_for(contributor)
        response = client.post(TYPES, self.body(corpus), format="json")
        assert response.status_code == 201, response.content
        created = ElementType.objects.get(corpus=corpus, slug="line")
        assert response.json() == {
            "id": str(created.id),
            "corpus": str(corpus.id),
            "slug": "line",
            "display_name": "Line",
            "folder": False,
        }
        types = client.get(f"/api/v1/corpus/{corpus.id}/").json()["types"]
        assert types == [
            {"id": str(created.id), "slug": "line", "display_name": "Line", "folder": False},
            {"id": str(page_type.id), "slug": "page", "display_name": "Page", "folder": False},
        ]

    def test_a_slug_already_in_the_corpus_is_a_400(self, contributor, corpus, page_type):
        response = client_for(contributor).post(TYPES, self.body(corpus, "page"), format="json")
        assert_error(response, 400, attr=["slug"])
        assert ElementType.objects.filter(corpus=corpus).count() == 1

    def test_the_same_slug_in_another_corpus_is_fine(self, contributor, corpus, page_type):
        other = CorpusFactory()
        other.memberships.create(user=contributor, level=50)
        response = client_for(contributor).post(TYPES, self.body(other, "page"), format="json")
        assert response.status_code == 201

    def test_a_task_adds_types_to_its_process_corpus_only(self, run_task, corpus, contributor):
        client = task_client(run_task)
        assert client.post(TYPES, self.body(corpus), format="json").status_code == 201
        other = CorpusFactory()
        other.memberships.create(user=contributor, level=50)
        assert_error(client.post(TYPES, self.body(other), format="json"), 403)
        assert not ElementType.objects.filter(corpus=other).exists()

    def test_guests_may_not_add_types(self, guest, corpus):
        assert_error(client_for(guest).post(TYPES, self.body(corpus), format="json"), 403)
        assert not ElementType.objects.exists()

    def test_a_bad_slug_is_a_400(self, contributor, corpus):
        response = client_for(contributor).post(TYPES, self.body(corpus, "a b"), format="json")
        assert_error(response, 400, attr=["slug"])
