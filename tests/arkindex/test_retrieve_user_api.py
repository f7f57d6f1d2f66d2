import pytest

from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client

pytestmark = pytest.mark.django_db

USER = "/api/v1/user/"


def test_a_user_retrieves_themselves(contributor, django_assert_num_queries):
    client = client_for(contributor)
    # 1. the token with its user
    with django_assert_num_queries(1):
        response = client.get(USER)
    assert response.status_code == 200
    assert response.json() == {
        "id": str(contributor.id),
        "email": "cecil@example.com",
        "display_name": "Cecil",
        "is_admin": False,
    }


def test_a_superuser_is_admin(superuser):
    assert client_for(superuser).get(USER).json()["is_admin"] is True


def test_the_token_is_never_in_the_user_body(contributor):
    body = client_for(contributor).get(USER).json()
    assert "auth_token" not in body
    assert contributor.auth_token_key not in str(body)


def test_a_task_reads_as_its_process_creator(running_task, contributor):
    response = task_client(running_task).get(USER)
    assert response.status_code == 200
    assert response.json()["id"] == str(contributor.id)


def test_an_agent_is_not_a_user(agent):
    assert_error(agent_client(agent).get(USER), 403, code="permission_denied")


def test_anonymous_callers_get_a_401(api):
    assert_unauthorized(api.get(USER))


def test_retrieve_user_is_read_only(contributor):
    assert_error(client_for(contributor).patch(USER, {}), 405, code="method_not_allowed")
