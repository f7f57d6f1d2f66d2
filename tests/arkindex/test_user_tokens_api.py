"""ListUserTokens and DestroyUserToken: a user sees when and how each of their tokens was
issued (never a key) and revokes any of them."""

import pytest

from arkindex.users.models import UserToken
from arkindex.users.tokens import hash_key, issue_token
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/user/tokens/"


def url(token):
    return f"{TOKENS}{token.id}/"


def test_a_user_lists_their_tokens_newest_first_without_any_key(
    contributor, outsider, django_assert_num_queries
):
    second = issue_token(contributor, "Login")
    third = issue_token(contributor, "Kept by bootstrap (make run)")
    issue_token(outsider, "Login")
    client = client_for(contributor)

    # The token of the request, the count, the page.
    with django_assert_num_queries(3):
        response = client.get(TOKENS)

    assert response.status_code == 200
    body = response.json()
    tokens = UserToken.objects.filter(user=contributor).order_by("-created", "id")
    assert body["count"] == 3
    assert [(item["id"], item["description"]) for item in body["results"]] == [
        (str(t.id), t.description) for t in tokens
    ]
    assert all(set(item) == {"id", "description", "created"} for item in body["results"])
    assert [item["description"] for item in body["results"]][:2] == [
        "Kept by bootstrap (make run)",
        "Login",
    ]
    text = response.content.decode()
    for key in (contributor.auth_token_key, second, third, hash_key(second)):
        assert key not in text


def test_the_list_takes_three_queries_whatever_the_number_of_tokens(
    contributor, django_assert_num_queries
):
    for _ in range(30):
        issue_token(contributor, "Login")
    with django_assert_num_queries(3):
        assert client_for(contributor).get(TOKENS).json()["count"] == 31


def test_a_user_revokes_one_token_and_keeps_the_others(contributor, django_assert_num_queries):
    other_key = issue_token(contributor, "Login")
    revoked = UserToken.objects.get(key_hash=hash_key(other_key))
    client = client_for(contributor)

    # The token of the request, the token to revoke, its DELETE.
    with django_assert_num_queries(3):
        response = client.delete(url(revoked))

    assert response.status_code == 204
    assert not UserToken.objects.filter(pk=revoked.pk).exists()
    assert_unauthorized(client_for(token=other_key).get("/api/v1/user/"), "authentication_failed")
    assert client.get("/api/v1/user/").json()["email"] == contributor.email


def test_revoking_the_token_of_the_request_ends_it(contributor):
    client = client_for(contributor)
    [own] = UserToken.objects.filter(user=contributor)
    assert client.delete(url(own)).status_code == 204
    assert_unauthorized(client.get(TOKENS), "authentication_failed")


def test_another_users_token_is_a_404_and_stays(contributor, superuser):
    [theirs] = UserToken.objects.filter(user=contributor)
    # Even a superuser revokes others' tokens through the admin only.
    assert_error(client_for(superuser).delete(url(theirs)), 404, code="not_found")
    assert UserToken.objects.filter(pk=theirs.pk).exists()
    assert client_for(contributor).get("/api/v1/user/").status_code == 200


def test_an_unknown_or_malformed_id_is_a_404(contributor):
    client = client_for(contributor)
    assert_error(client.delete(f"{TOKENS}00000000-0000-0000-0000-000000000000/"), 404)
    assert_error(client.delete(f"{TOKENS}not-an-id/"), 404)


def test_the_code_of_a_task_cannot_see_nor_revoke_its_creators_tokens(running_task):
    creator = running_task.process.creator
    [token] = UserToken.objects.filter(user=creator)
    client = task_client(running_task)
    assert_error(client.get(TOKENS), 403, code="permission_denied")
    assert_error(client.delete(url(token)), 403, code="permission_denied")
    assert UserToken.objects.filter(pk=token.pk).exists()


def test_agents_and_anonymous_callers_are_refused(agent, contributor, api):
    [token] = UserToken.objects.filter(user=contributor)
    assert_error(agent_client(agent).get(TOKENS), 403, code="permission_denied")
    assert_unauthorized(api.get(TOKENS), "not_authenticated")
    assert_unauthorized(api.delete(url(token)), "not_authenticated")
    assert UserToken.objects.filter(pk=token.pk).exists()


def test_a_browser_session_revokes_a_token_with_the_csrf_header(contributor):
    from django.conf import settings
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.post(
        "/api/v1/user/login/",
        {"email": contributor.email, "password": "hunter22hunter"},
        format="json",
    )
    [old] = UserToken.objects.filter(user=contributor).order_by("created")[:1]
    assert_error(browser.delete(url(old)), 403, code="permission_denied")
    csrf = browser.cookies[settings.CSRF_COOKIE_NAME].value
    assert browser.delete(url(old), HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert not UserToken.objects.filter(pk=old.pk).exists()
