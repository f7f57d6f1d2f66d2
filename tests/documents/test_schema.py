"""The document operations in the schema, as the Arkindex client needs them: every query
parameter base-worker 0.6.0 sends is declared (the client refuses the others)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ELEMENT_FILTERS = {
    "folder",
    "name",
    "top_level",
    "transcription_worker_version",
    "transcription_worker_run",
    "type",
    "with_classes",
    "with_corpus",
    "with_metadata",
    "with_has_children",
    "with_zone",
    "worker_version",
    "worker_run",
}
LISTS = {
    "ListElements": ("/api/v1/corpus/{corpus}/elements/", ELEMENT_FILTERS),
    "ListElementChildren": ("/api/v1/elements/{id}/children/", ELEMENT_FILTERS | {"recursive"}),
    "ListElementParents": ("/api/v1/elements/{id}/parents/", ELEMENT_FILTERS | {"recursive"}),
    "ListTranscriptions": (
        "/api/v1/element/{id}/transcriptions/",
        {"element_type", "recursive", "worker_version", "worker_run"},
    ),
}
BODIES = {
    "CreateElementType": {"slug", "display_name", "folder", "corpus"},
    "CreateElement": {
        "type",
        "name",
        "image",
        "corpus",
        "polygon",
        "parent",
        "worker_run_id",
        "confidence",
    },
    "CreateTranscription": {"text", "worker_run_id", "confidence", "orientation"},
    "CreateTranscriptions": {"worker_run_id", "transcriptions"},
}


@pytest.fixture(scope="module")
def schema():
    generated = SchemaGenerator().get_schema(request=None, public=True)
    by_id = {
        operation["operationId"]: (path, operation)
        for path, item in generated["paths"].items()
        for operation in item.values()
    }
    return generated, by_id


@pytest.mark.parametrize("name", LISTS)
def test_lists_declare_every_parameter_base_worker_sends(schema, name):
    _, by_id = schema
    path, operation = by_id[name]
    expected_path, filters = LISTS[name]
    assert path == expected_path
    assert operation["x-paginated"] is True
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert query == filters | {"page", "page_size"}


@pytest.mark.parametrize("name", BODIES)
def test_bodies_hold_what_base_worker_sends(schema, name):
    generated, by_id = schema
    _, operation = by_id[name]
    body = operation["requestBody"]
    assert body["x-name"] == "body"
    ref = body["content"]["application/json"]["schema"]["$ref"]
    component = generated["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == BODIES[name]


def test_retrieve_element_and_corpus_answer_what_base_worker_reads(schema):
    generated, by_id = schema
    components = generated["components"]["schemas"]

    def answer(name, status="200"):
        ref = by_id[name][1]["responses"][status]["content"]["application/json"]["schema"]
        return components[ref["$ref"].rsplit("/", 1)[1]]["properties"]

    assert {"id", "name", "type", "corpus", "zone", "created"} <= set(answer("RetrieveElement"))
    assert "types" in answer("RetrieveCorpus")
    assert "transcriptions" in answer("CreateTranscriptions", "201")
    assert "requestBody" not in by_id["RetrieveElement"][1]
