import pytest


@pytest.mark.django_db
def test_schema_is_public_json_with_unique_operation_ids(api):
    response = api.get("/api/v1/openapi/?format=json")
    assert response.status_code == 200
    schema = response.json()
    ids = [
        op["operationId"]
        for item in schema["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) == len(set(ids))
    assert {"Login", "RetrieveUser", "ListCorpus", "ListFarms"} <= set(ids)
    assert "Error" in schema["components"]["schemas"]
