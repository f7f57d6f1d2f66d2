"""The three header schemes and the session of SPEC §3, and their failures (SPEC §2: 401)."""

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from rest_framework.request import Request
from rest_framework.test import APIClient

from arkindex.auth import UserTokenAuthentication
from arkindex.users.tokens import hash_key, issue_token
from ponos.auth import TaskTokenAuthentication
from ponos.models import State, Task, hash_token
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, task_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

USER = "/api/v1/user/"
CORPORA = "/api/v1/corpus/"


def get_with(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(USER)


def test_a_missing_header_is_a_401_naming_the_token_scheme(api):
    response = api.get(USER)
    errors = assert_unauthorized(response, code="not_authenticated")
    assert errors[0]["detail"] == "Authentication credentials were not provided."
    # Token is the first authentication class: its scheme is the one announced.
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token two parts",
        "Token unknown-key",
        "Ponos",
        "Ponos two parts",
        "Ponos unknown-task-token",
        "Bearer",
        "Bearer two parts",
        "Bearer unknown-agent-token",
    ],
)
def test_malformed_or_unknown_credentials_are_a_401(db, header):
    response = get_with(header)
    assert_unauthorized(response, code="authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_an_unknown_scheme_is_no_credentials(db):
    assert_unauthorized(get_with("Basic dXNlcjpwYXNz"), code="not_authenticated")


def test_the_token_of_an_inactive_user_is_a_401():
    user = UserFactory(is_active=False)
    assert_unauthorized(get_with(f"Token {user.auth_token_key}"), code="authentication_failed")


def test_the_scheme_keyword_is_case_insensitive(contributor):
    assert get_with(f"token {contributor.auth_token_key}").status_code == 200


@pytest.mark.parametrize("state", [State.PENDING, State.RUNNING, State.STOPPING])
def test_a_task_token_works_while_its_task_is_active(running_task, state):
    running_task.state = state
    running_task.save(update_fields=["state"])
    assert task_client(running_task).get(USER).status_code == 200


@pytest.mark.parametrize(
    "state",
    [
        State.UNSCHEDULED,
        State.COMPLETED,
        State.FAILED,
        State.ERROR,
        State.CANCELLED,
        State.STOPPED,
    ],
)
def test_a_task_token_is_a_401_once_its_task_is_not_active(running_task, state):
    running_task.state = state
    running_task.save(update_fields=["state"])
    errors = assert_unauthorized(task_client(running_task).get(USER), "authentication_failed")
    assert errors[0]["detail"] == "Invalid or expired task token."


def test_a_task_token_dies_when_its_process_creator_is_deactivated(running_task):
    creator = running_task.process.creator
    creator.is_active = False
    creator.save(update_fields=["is_active"])

    errors = assert_unauthorized(task_client(running_task).get(USER), "authentication_failed")
    assert errors[0]["detail"] == "Invalid or expired task token."
    # Reactivated, the creator's running task may act again.
    creator.is_active = True
    creator.save(update_fields=["is_active"])
    assert task_client(running_task).get(USER).json()["email"] == creator.email


def test_a_task_token_is_found_in_one_query(running_task, django_assert_num_queries):
    client = task_client(running_task)
    request = RequestFactory().get(USER, HTTP_AUTHORIZATION=f"Ponos {running_task.token}")
    # The task, its process and its creator: one SELECT through the digest's unique index.
    with django_assert_num_queries(1):
        user, task = TaskTokenAuthentication().authenticate(Request(request))
    assert (user, task) == (running_task.process.creator, running_task)
    assert client.get(USER).status_code == 200


def test_a_user_token_is_found_in_one_query(contributor, django_assert_num_queries):
    request = RequestFactory().get(USER, HTTP_AUTHORIZATION=f"Token {contributor.auth_token_key}")
    # The token and its user: one SELECT through the digest's unique index.
    with django_assert_num_queries(1):
        user, token = UserTokenAuthentication().authenticate(Request(request))
    assert (user, token.user_id) == (contributor, contributor.id)


def test_a_revoked_user_token_is_a_401_and_the_others_still_work(contributor):
    other_key = issue_token(contributor, "Login")
    contributor.tokens.get(key_hash=hash_key(contributor.auth_token_key)).delete()
    errors = assert_unauthorized(
        get_with(f"Token {contributor.auth_token_key}"), code="authentication_failed"
    )
    assert errors[0]["detail"] == "Invalid token."
    assert get_with(f"Token {other_key}").json()["email"] == contributor.email


def test_user_tokens_are_stored_hashed(contributor):
    [token] = contributor.tokens.all()
    assert token.key_hash == hash_key(contributor.auth_token_key)
    assert contributor.auth_token_key not in token.key_hash


def test_task_tokens_are_stored_sealed_and_hashed(running_task):
    stored = Task.objects.filter(pk=running_task.pk).values().get()
    assert running_task.token not in str(stored)
    assert stored["token_hash"] == hash_token(running_task.token)
    # The sealed form is read back with the secret key only.
    assert Task.objects.get(pk=running_task.pk).token == running_task.token
    with override_settings(SECRET_KEY="another-secret-key-another-secret-key-0123"):
        assert Task.objects.get(pk=running_task.pk).token is None


def test_a_task_token_cannot_write_what_its_creator_could(running_task):
    # The process creator could create a corpus; the code of their task may not.
    response = task_client(running_task).post(CORPORA, {"name": "From a task"})
    assert_error(response, 403, code="permission_denied")


def test_an_agent_token_authenticates_the_agent_but_not_as_a_user(agent):
    assert_error(agent_client(agent).get(CORPORA), 403, code="permission_denied")


def test_a_revoked_agent_token_is_a_401(agent):
    old = agent.clear_token
    agent.set_token()
    agent.save(update_fields=["token_hash"])
    assert_unauthorized(get_with(f"Bearer {old}"), code="authentication_failed")


def test_agent_tokens_are_stored_hashed(agent):
    agent.refresh_from_db()
    assert agent.clear_token not in agent.token_hash


def session_client(email="cecil@example.com"):
    """A browser: logged in through Login, with CSRF checks enforced like a real one."""
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/user/login/", {"email": email, "password": "hunter22hunter"}, format="json"
    )
    assert response.status_code == 200
    return client


def test_a_session_reads_without_a_csrf_token(contributor):
    response = session_client().get(USER)
    assert response.status_code == 200
    assert response.json()["email"] == "cecil@example.com"


def test_a_session_write_without_the_csrf_header_is_refused(contributor):
    response = session_client().post(CORPORA, {"name": "Forged"}, format="json")
    errors = assert_error(response, 403, code="permission_denied")
    assert errors[0]["detail"].startswith("CSRF Failed")


def test_a_session_write_with_the_csrf_cookie_in_the_header_passes(contributor):
    client = session_client()
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(CORPORA, {"name": "Mine"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content


def test_a_session_write_with_a_wrong_csrf_header_is_refused(contributor):
    client = session_client()
    response = client.post(CORPORA, {"name": "Forged"}, format="json", HTTP_X_CSRFTOKEN="x" * 32)
    assert_error(response, 403, code="permission_denied")


def test_token_writes_need_no_csrf_token(contributor):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {contributor.auth_token_key}")
    assert client.post(CORPORA, {"name": "Scripted"}, format="json").status_code == 201


def test_a_bad_token_header_is_a_401_even_with_a_valid_session(contributor):
    client = session_client()
    client.credentials(HTTP_AUTHORIZATION="Token unknown-key")
    assert_unauthorized(client.get(USER), code="authentication_failed")
