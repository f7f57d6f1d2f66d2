"""The error format and statuses of SPEC §2, for failures outside any one endpoint's logic."""

import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from arkindex.corpora.api import CorpusList
from arkindex.corpora.models import Corpus
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

CORPORA = "/api/v1/corpus/"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/corpus/not-a-uuid/",
        "/api/v1/corpus/123/memberships/",
        "/api/v1/workers/versions/0000/",
        "/api/v1/workers/xyz/versions/",
    ],
)
def test_a_malformed_id_in_a_path_is_a_json_404(contributor, path):
    assert_error(client_for(contributor).get(path), 404, code="not_found")


def test_a_malformed_id_is_a_404_before_authentication(api):
    # The URL resolver refuses the path first: no object's existence can leak either way.
    assert_error(api.get("/api/v1/corpus/not-a-uuid/"), 404, code="not_found")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/elsewhere/", "/api/v2/corpus/"])
def test_an_unknown_path_is_a_json_404(api, path):
    assert_error(api.get(path), 404, code="not_found")


def test_404_bodies_do_not_tell_unknown_from_unreadable(outsider, corpus):
    client = client_for(outsider)
    hidden = client.get(f"{CORPORA}{corpus.id}/")
    unknown = client.get(f"{CORPORA}{uuid.uuid4()}/")
    assert hidden.json() == unknown.json()
    assert hidden.json()["errors"][0]["detail"] == "Not found."


def test_403_is_for_a_readable_object_without_the_rights(guest, outsider, corpus):
    url = f"{CORPORA}{corpus.id}/memberships/"
    forbidden = assert_error(client_for(guest).get(url), 403, code="permission_denied")
    assert "Admin" in forbidden[0]["detail"]
    assert_error(client_for(outsider).get(url), 404, code="not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", CORPORA),
        ("put", CORPORA),
        ("post", "/api/v1/user/"),
        ("get", "/api/v1/user/login/"),
        ("delete", "/api/v1/farms/"),
    ],
)
def test_a_method_not_allowed_is_a_405_in_the_error_format(superuser, method, path):
    response = getattr(client_for(superuser), method)(path)
    errors = assert_error(response, 405, code="method_not_allowed")
    assert method.upper() in errors[0]["detail"]


def test_an_anonymous_405_on_an_authenticated_endpoint_is_a_401_first(api):
    assert_unauthorized(api.delete(CORPORA))


def test_a_body_over_the_limit_is_a_413(contributor):
    body = {"name": "x" * 200}
    with override_settings(ARKINDEX_MAX_BODY_SIZE=100):
        response = client_for(contributor).post(CORPORA, body, format="json")
    errors = assert_error(response, 413, code="request_too_large")
    assert "the limit is 100 bytes" in errors[0]["detail"]
    assert not Corpus.objects.exists()


def test_a_body_at_the_limit_passes(contributor):
    body = b'{"name": "' + b"x" * 40 + b'"}'
    with override_settings(ARKINDEX_MAX_BODY_SIZE=len(body)):
        response = client_for(contributor).post(CORPORA, body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_the_body_limit_applies_before_authentication(api):
    with override_settings(ARKINDEX_MAX_BODY_SIZE=10):
        response = api.post("/api/v1/user/login/", {"email": "a@b.c", "password": "x" * 20})
    assert_error(response, 413, code="request_too_large")


def test_the_default_body_limit_is_ten_mebibytes(settings):
    assert settings.ARKINDEX_MAX_BODY_SIZE == 10 * 1024 * 1024


def test_a_malformed_content_length_is_a_400(contributor):
    response = client_for(contributor).post(
        CORPORA, b"{}", content_type="application/json", CONTENT_LENGTH="twelve"
    )
    assert_error(response, 400, code="invalid")


def test_an_unsupported_media_type_is_a_415(contributor):
    response = client_for(contributor).post(CORPORA, "name=x", content_type="text/plain")
    assert_error(response, 415, code="unsupported_media_type")


def test_an_unexpected_exception_in_a_view_is_a_500_in_the_error_format(contributor, monkeypatch):
    def broken(self):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(CorpusList, "get_queryset", broken)
    client = client_for(contributor)
    client.raise_request_exception = False
    response = client.get(CORPORA)
    errors = assert_error(response, 500, code="error")
    # Nothing of the exception leaks to the caller.
    assert "hunter2" not in response.content.decode()
    assert errors[0]["detail"] == "Server Error (500)"


def test_an_unexpected_exception_outside_the_api_is_a_500_in_the_error_format(monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise RuntimeError("not a database error")

    monkeypatch.setattr("arkindex.health.connection", BrokenConnection())
    client = APIClient()
    client.raise_request_exception = False
    assert_error(client.get("/health/"), 500, code="error")


def test_an_unknown_host_is_a_400_in_the_error_format(api):
    response = api.get("/api/v1/user/", HTTP_HOST="evil.example.com")
    errors = assert_error(response, 400, code="invalid_host")
    assert "ARKINDEX_ALLOWED_HOSTS" in errors[0]["detail"]
    assert "evil.example.com" not in response.content.decode()


def test_a_permission_denied_outside_the_api_is_a_403_in_the_error_format(monkeypatch):
    from django.core.exceptions import PermissionDenied

    def forbidden(self):
        raise PermissionDenied

    monkeypatch.setattr("arkindex.health.connection", type("Denied", (), {"cursor": forbidden})())
    assert_error(APIClient().get("/health/"), 403, code="permission_denied")
