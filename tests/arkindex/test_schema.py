"""The OpenAPI schema that arkindex-client loads (SPEC §2)."""

import os
from collections import Counter

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.module_loading import import_string

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

FOUNDATION_OPERATIONS = {
    "Login",
    "RetrieveUser",
    "ListCorpus",
    "CreateCorpus",
    "RetrieveCorpus",
    "ListCorpusMemberships",
    "CreateCorpusMembership",
    "ListFarms",
    "ListWorkers",
    "CreateWorker",
    "ListWorkerVersions",
    "CreateWorkerVersion",
    "RetrieveWorkerVersion",
    "PartialUpdateWorkerVersion",
}

PAGINATED = {
    "ListCorpus",
    "ListCorpusMemberships",
    "ListFarms",
    "ListWorkers",
    "ListWorkerVersions",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/openapi/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    """(path, method, operation) for every operation of the schema."""
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def by_id(schema):
    return {operation["operationId"]: operation for _, _, operation in operations(schema)}


def test_the_schema_is_public_json(api):
    response = api.get("/api/v1/openapi/?format=json")
    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    assert response.json()["openapi"].startswith("3.")


def test_the_schema_is_served_even_with_bad_credentials(api):
    # The client fetches the schema before authenticating, with its token header.
    api.credentials(HTTP_AUTHORIZATION="Token expired-or-unknown")
    assert api.get("/api/v1/openapi/?format=json").status_code == 200


def test_the_docs_page_is_public(api):
    response = api.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_docs_page_shows_each_operation_summary_and_operation_id(api, schema):
    page = api.get("/api/v1/docs/").content.decode()
    assert '"displayOperationId": true' in page
    summaries = {name: operation.get("summary") for name, operation in by_id(schema).items()}
    assert [name for name, summary in summaries.items() if not summary] == []
    assert summaries["PartialUpdateTask"] == "Partial update task"
    assert summaries["ListProcesses"] == "List processes"


def test_every_operation_has_a_unique_operation_id(schema):
    ids = [operation.get("operationId") for _, _, operation in operations(schema)]
    assert None not in ids
    assert [name for name, count in Counter(ids).items() if count > 1] == []


def test_the_foundation_operations_are_in_the_schema(schema):
    assert set(by_id(schema)) >= FOUNDATION_OPERATIONS


def test_paths_sit_under_api_v1_with_id_parameters(schema):
    for path in schema["paths"]:
        assert path.startswith("/api/v1/"), path
    assert "/api/v1/corpus/{id}/" in schema["paths"]
    assert "/health/" not in schema["paths"]
    assert not any(path.startswith("/api/v1/openapi") for path in schema["paths"])


def test_request_bodies_are_named_body(schema):
    bodies = 0
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            bodies += 1
            assert operation["requestBody"]["x-name"] == "body", (path, method)
            assert "application/json" in operation["requestBody"]["content"], (path, method)
    assert bodies >= 6


def test_operations_without_a_body_in_the_spec_declare_none(schema):
    operations_by_id = by_id(schema)
    for name in ("ListCorpus", "RetrieveUser", "RetrieveCorpus", "ListFarms"):
        assert "requestBody" not in operations_by_id[name], name


def test_paginated_lists_are_marked_and_declare_page_parameters(schema):
    operations_by_id = by_id(schema)
    for name in PAGINATED:
        operation = operations_by_id[name]
        assert operation["x-paginated"] is True, name
        parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert {"page", "page_size"} <= set(parameters), name
        page = operation["responses"]["200"]["content"]["application/json"]["schema"]
        component = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
        assert {"count", "next", "previous", "results"} <= set(component["properties"]), name


def test_every_list_declares_x_paginated(schema):
    for path, method, operation in operations(schema):
        if method == "get" and operation["operationId"].startswith("List"):
            assert isinstance(operation.get("x-paginated"), bool), path
        if operation.get("x-paginated"):
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "page" in names, path


def test_non_list_operations_are_not_marked_paginated(schema):
    for name in ("RetrieveUser", "RetrieveCorpus", "CreateCorpus", "Login"):
        assert "x-paginated" not in by_id(schema)[name], name


def test_error_statuses_use_the_shared_error_component(schema):
    for path, method, operation in operations(schema):
        for status in ("400", "401", "403", "404"):
            response = operation["responses"].get(status)
            assert response is not None, (path, method, status)
            assert response["content"]["application/json"]["schema"] == ERROR_REF, (
                path,
                method,
                status,
            )


def test_the_error_component_is_what_the_client_decodes(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["type", "errors"]
    assert set(error["properties"]["type"]["enum"]) == {
        "client_error",
        "validation_error",
        "server_error",
    }
    item = error["properties"]["errors"]["items"]
    assert set(item["required"]) == {"code", "detail", "attr"}
    attr = item["properties"]["attr"]
    assert attr["type"] == "array"
    assert attr["nullable"] is True


def test_one_security_scheme_per_authentication_class(schema):
    schemes = schema["components"]["securitySchemes"]
    classes = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert len(schemes) == len(classes) == 4
    assert set(schemes) == {"tokenAuth", "taskTokenAuth", "agentTokenAuth", "cookieAuth"}
    assert schemes["tokenAuth"]["in"] == "header"
    assert "Token" in schemes["tokenAuth"]["description"]
    assert "Ponos" in schemes["taskTokenAuth"]["description"]
    assert schemes["agentTokenAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"]["in"] == "cookie"
    for path in classes:
        import_string(path)


def test_authenticated_operations_list_every_scheme(schema):
    security = by_id(schema)["RetrieveUser"]["security"]
    assert {name for requirement in security for name in requirement} == {
        "tokenAuth",
        "taskTokenAuth",
        "agentTokenAuth",
        "cookieAuth",
    }


def test_login_needs_no_authentication(schema):
    assert by_id(schema)["Login"]["security"] == [{}]


def test_login_body_and_answer(schema):
    login = by_id(schema)["Login"]
    body_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"email", "password"}
    answer_ref = login["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    answer = schema["components"]["schemas"][answer_ref.rsplit("/", 1)[1]]
    assert "auth_token" in answer["properties"]


def test_partial_update_worker_version_accepts_state_and_configuration_only(schema):
    operation = by_id(schema)["PartialUpdateWorkerVersion"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"state", "configuration"}


def test_spectacular_validates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)
