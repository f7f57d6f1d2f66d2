"""The real arkindex-client (1.3.1) against a live server: it loads our schema and calls us.

The client fetches `<host>/api/v1/openapi/?format=json` and calls operations by their
operationId; typed errors need the exact error format of SPEC §2.
"""

import importlib
import importlib.metadata
import sys
import uuid
from pathlib import Path

import pytest
import requests

from arkindex.corpora.models import Level
from arkindex.users.tokens import hash_key
from tests.factories import CorpusFactory, CorpusMembershipFactory, UserFactory


def import_arkindex_client():
    """Import the arkindex-client package, whose top-level name `arkindex` is also ours.

    pytest puts the repository first on sys.path, so `from arkindex import ArkindexClient`
    finds the Django project. The client is imported from its own distribution with the
    project's `arkindex` modules set aside, which are then put back: the client's objects
    keep their own modules, and the client imports nothing from its package lazily.
    """

    def ours(name):
        return name == "arkindex" or name.startswith("arkindex.")

    project = {name: module for name, module in sys.modules.items() if ours(name)}
    location = str(importlib.metadata.distribution("arkindex-client").locate_file(""))
    for name in project:
        del sys.modules[name]
    sys.path.insert(0, location)
    try:
        package = importlib.import_module("arkindex")
        exceptions = importlib.import_module("arkindex.exceptions")
        assert Path(package.__file__).is_relative_to(location), package.__file__
    finally:
        sys.path.remove(location)
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(project)
    return package, exceptions


client_package, client_exceptions = import_arkindex_client()
ArkindexClient = client_package.ArkindexClient
ArkindexClientError = client_exceptions.ArkindexClientError
ArkindexValidationError = client_exceptions.ArkindexValidationError
ClientError = client_exceptions.ClientError
ErrorResponse = client_exceptions.ErrorResponse

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cecil(transactional_db):
    return UserFactory(email="cecil@example.com", display_name="Cecil", password=PASSWORD)


@pytest.fixture
def client(live_server, cecil):
    """A client that loaded the schema anonymously, before logging in."""
    return ArkindexClient(base_url=live_server.url)


def test_login_then_retrieve_user(client, cecil):
    answer = client.login("cecil@example.com", PASSWORD)
    # A new token of Cecil's, which the client then sends
    assert answer["auth_token"] != cecil.auth_token_key
    assert cecil.tokens.filter(key_hash=hash_key(answer["auth_token"])).exists()
    assert client.session.auth.token == answer["auth_token"]
    assert answer["email"] == "cecil@example.com"
    assert client.request("RetrieveUser") == {
        "id": str(cecil.id),
        "email": "cecil@example.com",
        "display_name": "Cecil",
        "is_admin": False,
    }


def test_paginate_walks_every_page_of_list_corpus(live_server, cecil):
    for n in range(45):
        corpus = CorpusFactory(name=f"Corpus {n:02}")
        CorpusMembershipFactory(corpus=corpus, user=cecil, level=Level.GUEST)
    CorpusFactory(name="Not readable")
    client = ArkindexClient(token=cecil.auth_token_key, base_url=live_server.url)

    pages = client.paginate("ListCorpus", page_size=10)
    assert len(pages) == 45
    names = [corpus["name"] for corpus in pages]
    assert names == [f"Corpus {n:02}" for n in range(45)]
    assert pages.pages_loaded == 5


def test_a_validation_error_is_typed(client):
    client.login("cecil@example.com", PASSWORD)
    with pytest.raises(ArkindexValidationError) as error:
        client.request("CreateCorpus", body={"name": "", "public": False})
    assert error.value.status_code == 400
    assert error.value.content == {
        "type": "validation_error",
        "errors": [{"code": "blank", "detail": "This field may not be blank.", "attr": ["name"]}],
    }


def test_client_errors_are_typed(client):
    with pytest.raises(ArkindexClientError) as error:
        client.request("RetrieveUser")
    assert error.value.status_code == 401
    assert error.value.content["errors"][0]["code"] == "not_authenticated"

    client.login("cecil@example.com", PASSWORD)
    with pytest.raises(ArkindexClientError) as error:
        client.request("RetrieveCorpus", id=str(uuid.uuid4()))
    assert error.value.status_code == 404
    assert not isinstance(error.value, ArkindexValidationError)


def test_a_wrong_password_is_a_typed_401(client):
    with pytest.raises(ArkindexClientError) as error:
        client.login("cecil@example.com", "wrong")
    assert error.value.status_code == 401
    assert error.value.content["errors"][0]["detail"] == "Wrong email or password."


def test_create_then_retrieve_a_corpus(client):
    client.login("cecil@example.com", PASSWORD)
    created = client.request("CreateCorpus", body={"name": "From the client"})
    assert created["public"] is False
    assert client.request("RetrieveCorpus", id=created["id"])["name"] == "From the client"
    memberships = list(client.paginate("ListCorpusMemberships", id=created["id"]))
    assert [(m["user"], m["level"]) for m in memberships] == [("cecil@example.com", 100)]


def test_a_script_lists_its_tokens_and_revokes_one(client, cecil):
    answer = client.login("cecil@example.com", PASSWORD)
    tokens = list(client.paginate("ListUserTokens"))
    assert [token["description"] for token in tokens] == ["Login", ""]
    assert all(set(token) == {"id", "description", "created"} for token in tokens)
    # The factory's token goes; the one Login issued, which the client sends, stays.
    client.request("DestroyUserToken", id=tokens[1]["id"])
    assert [token["id"] for token in client.paginate("ListUserTokens")] == [tokens[0]["id"]]
    assert client.request("RetrieveUser")["email"] == answer["email"]


def test_every_operation_of_the_schema_is_known_to_the_client(client, live_server):
    schema = requests.get(f"{live_server.url}/api/v1/openapi/?format=json", timeout=10).json()
    operations = [
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operations) == 56
    for operation in operations:
        link = client.lookup_operation(operation)
        if link.get_body_field() is not None:
            assert link.get_body_field().name == "body", operation


def test_undeclared_parameters_are_refused_by_the_client(client):
    with pytest.raises(ClientError):
        client.request("ListCorpus", not_a_parameter=1)


def test_errors_are_error_responses(client):
    with pytest.raises(ErrorResponse):
        client.request("ListFarms")


def test_the_client_is_the_pinned_release():
    assert importlib.metadata.version("arkindex-client") == "1.3.1"
    assert client_package.__file__ != importlib.import_module("arkindex").__file__
