"""ListElements, ListElementChildren and ListElementParents, with base-worker's filters."""

import uuid

import pytest

from arkindex.documents.elements import add_parent, create_element, create_elements
from arkindex.documents.models import Transcription
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for, task_client
from tests.factories import CorpusFactory

pytestmark = pytest.mark.django_db


def names(response):
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


def children_url(element, **params):
    return f"/api/v1/elements/{element.id}/children/", params


@pytest.fixture
def tree(corpus, folder_type, page_type, worker_run):
    """Volume 1 > Chapter > Page a, Page b (by the worker run); Volume 1 > Page c;
    Volume 2 > Page c (two parents)."""
    volume = create_element(corpus=corpus, type=folder_type, name="Volume 1")
    chapter = create_element(corpus=corpus, type=folder_type, name="Chapter", parent=volume)
    page_a, page_b = create_elements(
        corpus=corpus,
        type=page_type,
        names=["Page a", "Page b"],
        parent=chapter,
        worker_run=worker_run,
    )
    page_c = create_element(corpus=corpus, type=page_type, name="Page c", parent=volume)
    volume_2 = create_element(corpus=corpus, type=folder_type, name="Volume 2")
    add_parent(page_c, volume_2)
    Transcription.objects.create(element=page_a, text="a", worker_run=worker_run)
    Transcription.objects.create(element=page_c, text="c")
    return {
        "volume": volume,
        "chapter": chapter,
        "a": page_a,
        "b": page_b,
        "c": page_c,
        "volume_2": volume_2,
    }


class TestListElements:
    def url(self, corpus):
        return f"/api/v1/corpus/{corpus.id}/elements/"

    def test_a_guest_lists_a_corpus_in_creation_order(self, guest, corpus, tree):
        response = client_for(guest).get(self.url(corpus))
        assert names(response) == ["Volume 1", "Chapter", "Page a", "Page b", "Page c", "Volume 2"]
        item = response.json()["results"][2]
        assert item == {
            "id": str(tree["a"].id),
            "name": "Page a",
            "type": "page",
            "worker_run_id": str(tree["a"].worker_run_id),
            "confidence": None,
            "created": item["created"],
        }
        assert response.json()["count"] == 6

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"type": "folder"}, ["Volume 1", "Chapter", "Volume 2"]),
            ({"folder": "true"}, ["Volume 1", "Chapter", "Volume 2"]),
            ({"folder": "False"}, ["Page a", "Page b", "Page c"]),
            ({"name": "PAGE "}, ["Page a", "Page b", "Page c"]),
            ({"top_level": "True"}, ["Volume 1", "Volume 2"]),
            ({"top_level": "0"}, ["Chapter", "Page a", "Page b", "Page c"]),
            ({"worker_run": "False"}, ["Volume 1", "Chapter", "Page c", "Volume 2"]),
            ({"transcription_worker_run": "False"}, ["Page c"]),
            ({"type": "page", "name": "b"}, ["Page b"]),
        ],
    )
    def test_filters(self, guest, corpus, tree, params, expected):
        assert names(client_for(guest).get(self.url(corpus), params)) == expected

    def test_worker_run_and_version_filters(self, guest, corpus, tree, worker_run):
        client = client_for(guest)
        for params in (
            {"worker_run": str(worker_run.id)},
            {"worker_version": str(worker_run.version_id)},
        ):
            assert names(client.get(self.url(corpus), params)) == ["Page a", "Page b"]
        for params in (
            {"transcription_worker_run": str(worker_run.id)},
            {"transcription_worker_version": str(worker_run.version_id)},
        ):
            assert names(client.get(self.url(corpus), params)) == ["Page a"]
        assert names(client.get(self.url(corpus), {"worker_run": str(uuid.uuid4())})) == []

    def test_optional_fields_are_added_on_demand(self, guest, corpus, tree):
        params = {
            "type": "folder",
            "with_corpus": "true",
            "with_zone": "True",
            "with_has_children": "1",
            "with_classes": "true",
            "with_metadata": "true",
        }
        items = client_for(guest).get(self.url(corpus), params).json()["results"]
        assert [item["has_children"] for item in items] == [True, True, True]
        assert items[0]["corpus"] == {
            "id": str(corpus.id),
            "name": "Private corpus",
            "public": False,
        }
        assert items[0]["zone"] is None
        assert items[0]["classes"] == items[0]["metadata"] == []
        leaves = client_for(guest).get(
            self.url(corpus), {"type": "page", "with_has_children": "true"}
        )
        assert {item["has_children"] for item in leaves.json()["results"]} == {False}

    @pytest.mark.parametrize(
        ("params", "attr"),
        [
            ({"folder": "maybe"}, ["folder"]),
            ({"worker_run": "true"}, ["worker_run"]),
            ({"worker_run": "nope"}, ["worker_run"]),
            ({"with_corpus": "yes"}, ["with_corpus"]),
            ({"page_size": "501"}, ["page_size"]),
        ],
    )
    def test_bad_parameters_are_a_400(self, guest, corpus, tree, params, attr):
        assert_error(client_for(guest).get(self.url(corpus), params), 400, attr=attr)

    def test_an_unreadable_corpus_is_a_404(self, outsider, corpus, tree):
        assert_error(client_for(outsider).get(self.url(corpus)), 404)
        assert_error(client_for(outsider).get(f"/api/v1/corpus/{uuid.uuid4()}/elements/"), 404)

    def test_a_task_lists_with_its_process_creator_rights(self, run_task, corpus, tree):
        assert len(names(task_client(run_task).get(self.url(corpus)))) == 6

    @pytest.mark.parametrize("count", [3, 30])
    def test_the_query_count_does_not_grow_with_rows(
        self, guest, corpus, folder_type, page_type, count, django_assert_num_queries
    ):
        volume = create_element(corpus=corpus, type=folder_type, name="Volume")
        create_elements(
            corpus=corpus, type=page_type, names=[f"p{n}" for n in range(count)], parent=volume
        )
        client = client_for(guest)
        params = {"with_corpus": "true", "with_has_children": "true", "page_size": 500}
        # 1. the token with its user
        # 2. the corpus, if readable
        # 3. the count
        # 4. the page, with types, corpus and has_children
        with django_assert_num_queries(4):
            response = client.get(self.url(corpus), params)
        assert response.json()["count"] == count + 1


class TestListElementChildren:
    def test_direct_children_then_all_descendants(self, guest, tree):
        client = client_for(guest)
        url = f"/api/v1/elements/{tree['volume'].id}/children/"
        assert names(client.get(url)) == ["Chapter", "Page c"]
        assert names(client.get(url, {"recursive": "False"})) == ["Chapter", "Page c"]
        assert names(client.get(url, {"recursive": "True"})) == [
            "Chapter",
            "Page a",
            "Page b",
            "Page c",
        ]
        assert names(client.get(url, {"recursive": "true", "type": "page", "name": "E A"})) == [
            "Page a"
        ]

    def test_a_bad_recursive_value_is_a_400(self, guest, tree):
        url = f"/api/v1/elements/{tree['volume'].id}/children/"
        assert_error(client_for(guest).get(url, {"recursive": "deep"}), 400, attr=["recursive"])

    def test_an_unreadable_element_is_a_404(self, outsider, tree):
        url = f"/api/v1/elements/{tree['volume'].id}/children/"
        assert_error(client_for(outsider).get(url), 404)

    @pytest.mark.parametrize("depth", [2, 20])
    def test_the_query_count_does_not_grow_with_depth(
        self, guest, corpus, folder_type, page_type, depth, django_assert_num_queries
    ):
        root = parent = create_element(corpus=corpus, type=folder_type, name="root")
        for level in range(depth):
            parent = create_element(corpus=corpus, type=folder_type, name=f"{level}", parent=parent)
        create_elements(corpus=corpus, type=page_type, names=["x", "y"], parent=parent)
        client = client_for(guest)
        # 1. the token with its user
        # 2. the element, if readable
        # 3. the count
        # 4. the page, with types
        with django_assert_num_queries(4):
            response = client.get(
                f"/api/v1/elements/{root.id}/children/", {"recursive": "true", "type": "page"}
            )
        assert names(response) == ["x", "y"]


class TestListElementParents:
    def test_direct_parents_then_all_ancestors(self, guest, tree):
        client = client_for(guest)
        url = f"/api/v1/elements/{tree['a'].id}/parents/"
        assert names(client.get(url)) == ["Chapter"]
        assert names(client.get(url, {"recursive": "true"})) == ["Volume 1", "Chapter"]
        shared = f"/api/v1/elements/{tree['c'].id}/parents/"
        assert names(client.get(shared)) == ["Volume 1", "Volume 2"]

    def test_the_query_count(self, guest, tree, django_assert_num_queries):
        client = client_for(guest)
        # 1. the token with its user; 2. the element; 3. the count; 4. the page
        with django_assert_num_queries(4):
            response = client.get(f"/api/v1/elements/{tree['b'].id}/parents/", {"recursive": 1})
        assert names(response) == ["Volume 1", "Chapter"]

    def test_elements_of_a_public_corpus_are_readable_by_every_user(self, outsider, corpus, tree):
        assert_error(client_for(outsider).get(f"/api/v1/elements/{tree['a'].id}/parents/"), 404)
        corpus.public = True
        corpus.save()
        assert names(client_for(outsider).get(f"/api/v1/elements/{tree['a'].id}/parents/")) == [
            "Chapter"
        ]


def test_another_corpus_is_never_listed(guest, corpus, tree, folder_type):
    other = CorpusFactory(public=True)
    other.types.create(slug="folder", display_name="Folder")
    response = client_for(guest).get(f"/api/v1/corpus/{other.id}/elements/")
    assert names(response) == []
