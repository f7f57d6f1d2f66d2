"""The elements a workers process selects: set by CreateProcess / PartialUpdateProcess until
start, shown by RetrieveProcess, listed by ListProcessElements (SPEC §11)."""

import pytest
from django.utils import timezone

from arkindex.documents.elements import create_element, create_elements
from process.models import Process, ProcessMode
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.documents.factories import ElementTypeFactory
from tests.factories import CorpusFactory, ProcessFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def types(corpus):
    return {
        slug: ElementTypeFactory(corpus=corpus, slug=slug, folder=slug == "folder")
        for slug in ("folder", "page", "line")
    }


@pytest.fixture
def tree(corpus, types):
    """folder > (page-1 > line-a, line-b), (page-2 > line-c); `loose` is outside the folder."""
    folder = create_element(corpus=corpus, type=types["folder"], name="Folder")
    page1 = create_element(corpus=corpus, type=types["page"], name="Page 1", parent=folder)
    page2 = create_element(corpus=corpus, type=types["page"], name="Page 2", parent=folder)
    lines = {
        "a": create_element(corpus=corpus, type=types["line"], name="Line A", parent=page1),
        "b": create_element(corpus=corpus, type=types["line"], name="Line b", parent=page1),
        "c": create_element(corpus=corpus, type=types["line"], name="line c", parent=page2),
    }
    loose = create_element(corpus=corpus, type=types["page"], name="Loose page")
    return {"folder": folder, "page1": page1, "page2": page2, **lines, "loose": loose}


def elements_url(process, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/v1/process/{process.id}/elements/" + (f"?{query}" if query else "")


def listed_names(user, process, **params):
    response = client_for(user).get(elements_url(process, **params))
    assert response.status_code == 200, response.json()
    return [item["name"] for item in response.json()["results"]]


def patch(user, process, body):
    return client_for(user).patch(f"/api/v1/process/{process.id}/", body, format="json")


class TestSelection:
    def test_without_element_the_whole_corpus(self, process, tree, guest):
        assert listed_names(guest, process) == [
            "Folder",
            "Page 1",
            "Page 2",
            "Line A",
            "Line b",
            "line c",
            "Loose page",
        ]

    def test_an_element_alone(self, process, tree, contributor):
        assert patch(contributor, process, {"element": str(tree["page1"].id)}).status_code == 200
        assert listed_names(contributor, process) == ["Page 1"]

    def test_an_element_with_its_descendants_at_any_depth(self, process, tree, contributor):
        body = {"element": str(tree["folder"].id), "load_children": True}
        assert patch(contributor, process, body).status_code == 200
        assert listed_names(contributor, process) == [
            "Folder",
            "Page 1",
            "Page 2",
            "Line A",
            "Line b",
            "line c",
        ]

    def test_type_and_name_filter_what_is_selected(self, process, tree, contributor):
        body = {
            "element": str(tree["folder"].id),
            "load_children": True,
            "element_type": "line",
            "name_contains": "LINE ",
        }
        response = patch(contributor, process, body)
        assert response.status_code == 200
        # Spaces are part of what is searched.
        assert {key: response.json()[key] for key in body} == body
        assert listed_names(contributor, process) == ["Line A", "Line b", "line c"]
        patch(contributor, process, {"name_contains": "b"})
        assert listed_names(contributor, process) == ["Line b"]

    def test_create_process_takes_the_selection(self, corpus, tree, contributor):
        response = client_for(contributor).post(
            "/api/v1/process/",
            {
                "mode": "workers",
                "corpus": str(corpus.id),
                "element": str(tree["page1"].id),
                "load_children": True,
                "element_type": "line",
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["element"] == str(tree["page1"].id)
        assert body["load_children"] is True
        assert body["element_type"] == "line"
        assert body["name_contains"] == ""
        assert body["activity_state"] == "disabled"
        process = Process.objects.get(pk=body["id"])
        assert listed_names(contributor, process) == ["Line A", "Line b"]

    def test_an_element_of_another_corpus_is_a_400(self, process, contributor, types):
        other = CorpusFactory()
        stranger = create_element(corpus=other, type=ElementTypeFactory(corpus=other), name="x")
        assert_error(
            patch(contributor, process, {"element": str(stranger.id)}), 400, attr=["element"]
        )
        assert Process.objects.get(pk=process.pk).element_id is None

    def test_an_unknown_type_is_a_400_and_nothing_changes(self, process, tree, contributor):
        response = patch(contributor, process, {"name": "Renamed", "element_type": "nope"})
        errors = assert_error(response, 400, attr=["element_type"])
        assert "RetrieveCorpus lists its types" in errors[0]["detail"]
        assert Process.objects.get(pk=process.pk).name == "Main process"

    def test_the_selection_is_frozen_once_started(self, process, tree, contributor):
        process.started = timezone.now()
        process.save()
        response = patch(contributor, process, {"element": str(tree["page1"].id)})
        assert_error(response, 400, attr=["element"])
        assert Process.objects.get(pk=process.pk).element_id is None

    def test_only_workers_processes_select(self, contributor, tree):
        process = ProcessFactory(mode=ProcessMode.LOCAL, creator=contributor)
        assert_error(
            patch(contributor, process, {"load_children": True}), 400, attr=["load_children"]
        )


class TestListProcessElements:
    def test_pages_of_up_to_500(self, process, corpus, types, guest):
        create_elements(corpus=corpus, type=types["page"], names=[f"p{i:03}" for i in range(501)])
        body = client_for(guest).get(elements_url(process, page_size=500)).json()
        assert body["count"] == 501
        assert len(body["results"]) == 500
        second = client_for(guest).get(elements_url(process, page_size=500, page=2)).json()
        assert [item["name"] for item in second["results"]] == ["p500"]
        assert_error(
            client_for(guest).get(elements_url(process, page_size=501)), 400, attr=["page_size"]
        )

    def test_an_item(self, process, tree, guest):
        item = client_for(guest).get(elements_url(process)).json()["results"][0]
        folder = tree["folder"]
        assert item == {
            "id": str(folder.id),
            "type_id": str(folder.type_id),
            "type": "folder",
            "name": "Folder",
            "confidence": None,
            "created": item["created"],
        }

    @pytest.mark.parametrize("depth", [1, 12])
    def test_statements_do_not_grow_with_depth_or_elements(
        self, process, corpus, types, contributor, depth, django_assert_num_queries
    ):
        folder = create_element(corpus=corpus, type=types["folder"], name="root")
        parent = folder
        for level in range(depth):
            parent = create_element(
                corpus=corpus, type=types["page"], name=f"l{level}", parent=parent
            )
        create_elements(corpus=corpus, type=types["line"], names=["x"] * 30, parent=parent)
        patch(contributor, process, {"element": str(folder.id), "load_children": True})
        # The token; the process under the rights filter; the count; the page.
        with django_assert_num_queries(4):
            body = client_for(contributor).get(elements_url(process)).json()
        assert body["count"] == 1 + depth + 30

    @pytest.mark.parametrize("user,status", [("outsider", 404), ("farm_guest", 404)])
    def test_strangers_get_a_404(self, process, tree, request, user, status):
        assert_error(client_for(request.getfixturevalue(user)).get(elements_url(process)), status)
