"""The real arkindex-client, authenticated as a task (`Ponos <token>`), calling the document
operations by operationId with the exact bodies and query parameters of base-worker 0.6.0
(`arkindex_worker.worker.element` and `.transcription`)."""

import pytest

from arkindex.documents.elements import create_element, create_elements
from arkindex.documents.models import Element, ElementType, Transcription
from tests.arkindex.test_client import ArkindexClient, ArkindexValidationError, ErrorResponse


@pytest.fixture
def setting(transactional_db, corpus, worker_run, run_task, folder_type, page_type):
    # The live server answers from another thread: the rows must be committed.
    folder = create_element(corpus=corpus, type=folder_type, name="Volume")
    pages = create_elements(
        corpus=corpus, type=page_type, names=[f"Page {n:02}" for n in range(45)], parent=folder
    )
    return {"run": worker_run, "task": run_task, "folder": folder, "pages": pages}


@pytest.fixture
def client(live_server, setting):
    return ArkindexClient(
        token=setting["task"].token, auth_scheme="Ponos", base_url=live_server.url
    )


def test_a_task_reads_and_writes_documents_as_base_worker_does(client, setting, corpus):
    run_id = str(setting["run"].id)
    folder, first = setting["folder"], setting["pages"][0]

    # ElementMixin.list_corpus_types, then create_element_type for a missing one.
    types = client.request("RetrieveCorpus", id=str(corpus.id))["types"]
    assert [t["slug"] for t in types] == ["folder", "page"]
    line_type = client.request(
        "CreateElementType",
        body={"slug": "line", "display_name": "Line", "folder": False, "corpus": str(corpus.id)},
    )
    assert line_type["slug"] == "line"
    # A slug already there is the 400 that base-worker catches to reload the types.
    with pytest.raises(ErrorResponse) as error:
        client.request(
            "CreateElementType",
            body={
                "slug": "line",
                "display_name": "Line",
                "folder": False,
                "corpus": str(corpus.id),
            },
        )
    assert error.value.status_code == 400

    # ElementMixin.retrieve_element, then create_sub_element.
    element = client.request("RetrieveElement", id=str(first.id))
    assert (element["type"], element["corpus"]["id"], element["zone"]) == (
        "page",
        str(corpus.id),
        None,
    )
    line = client.request(
        "CreateElement",
        body={
            "type": "line",
            "name": "Line 1",
            "image": None,
            "corpus": element["corpus"]["id"],
            "polygon": None,
            "parent": element["id"],
            "worker_run_id": run_id,
            "confidence": None,
        },
    )
    assert Element.objects.get(pk=line["id"]).worker_run_id == setting["run"].id
    with pytest.raises(ArkindexValidationError) as error:
        client.request(
            "CreateElement",
            body={
                "type": "line",
                "name": "Zoned",
                "image": None,
                "corpus": str(corpus.id),
                "polygon": [[0, 0], [0, 10], [10, 10]],
                "parent": element["id"],
                "worker_run_id": run_id,
                "confidence": 0.5,
            },
        )
    assert error.value.content["errors"][0]["attr"] == ["polygon"]

    # TranscriptionMixin.create_transcription and create_transcriptions.
    single = client.request(
        "CreateTranscription",
        id=line["id"],
        body={
            "text": "Hello",
            "worker_run_id": run_id,
            "confidence": 0.9,
            "orientation": "horizontal-lr",
        },
    )
    assert single["worker_run_id"] == run_id
    batch = client.request(
        "CreateTranscriptions",
        body={
            "worker_run_id": run_id,
            "transcriptions": [
                {
                    "element_id": str(page.id),
                    "text": page.name,
                    "confidence": 0.5,
                    "orientation": "horizontal-lr",
                }
                for page in setting["pages"][:3]
            ],
        },
    )["transcriptions"]
    assert [t["text"] for t in batch] == ["Page 00", "Page 01", "Page 02"]
    assert Transcription.objects.filter(worker_run=setting["run"]).count() == 4

    # The list helpers, with every parameter they may send (Python booleans included).
    every_flag = {
        "with_classes": False,
        "with_corpus": True,
        "with_metadata": False,
        "with_has_children": True,
        "with_zone": False,
    }
    pages = list(client.paginate("ListElements", corpus=str(corpus.id), type="page", **every_flag))
    assert len(pages) == 45
    assert pages[0]["corpus"]["id"] == str(corpus.id)
    assert pages[0]["has_children"] is True  # Page 00 has the line
    assert "zone" not in pages[0]
    listed = client.paginate(
        "ListElements",
        corpus=str(corpus.id),
        folder=False,
        name="Line",
        top_level=False,
        transcription_worker_run=run_id,
        worker_run=run_id,
        transcription_worker_version=str(setting["run"].version_id),
        worker_version=str(setting["run"].version_id),
    )
    assert [e["name"] for e in listed] == ["Line 1"]
    users_only = client.paginate("ListElements", corpus=str(corpus.id), worker_run=False)
    assert len(list(users_only)) == 46

    children = list(client.paginate("ListElementChildren", id=str(folder.id), recursive=True))
    assert len(children) == 46
    direct = list(
        client.paginate(
            "ListElementChildren", id=str(folder.id), recursive=False, type="page", **every_flag
        )
    )
    assert len(direct) == 45
    parents = client.paginate("ListElementParents", id=line["id"], recursive=True, folder=True)
    assert [p["name"] for p in parents] == ["Volume"]

    transcriptions = client.paginate(
        "ListTranscriptions",
        id=str(folder.id),
        recursive=True,
        element_type="line",
        worker_run=run_id,
        worker_version=str(setting["run"].version_id),
    )
    assert [t["text"] for t in transcriptions] == ["Hello"]
    assert list(client.paginate("ListTranscriptions", id=str(folder.id), worker_run=False)) == []
    assert ElementType.objects.filter(corpus=corpus).count() == 3
