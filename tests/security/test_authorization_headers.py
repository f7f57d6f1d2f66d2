"""A bad Authorization header, of each scheme, is a 401 in the error format (SPEC §2), with
the WWW-Authenticate header clients rely on, whatever it holds.

The basic cases (a missing, a malformed, an unknown credential) are in
tests/arkindex/test_authentication.py; these are the hostile ones.
"""

import pytest
from rest_framework.test import APIClient

from tests.arkindex.assertions import assert_unauthorized

pytestmark = pytest.mark.django_db

CREDENTIALS = [
    pytest.param("a\x00b", id="nul"),
    pytest.param("\x00", id="only-nul"),
    pytest.param("x" * 10_000, id="10000-characters"),
    pytest.param("\u00e9t\u00e9", id="non-ascii"),
    pytest.param("a\tb", id="tab"),
    pytest.param("' OR '1'='1", id="sql"),
    pytest.param("a b c", id="three-parts"),
]


@pytest.mark.parametrize("scheme", ["Token", "Ponos", "Bearer"])
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_a_hostile_credential_is_a_401(running_task, agent, scheme, credential):
    client = APIClient()
    client.raise_request_exception = False
    for path in ("/api/v1/user/", f"/api/v1/task/{running_task.id}/"):
        response = client.get(path, HTTP_AUTHORIZATION=f"{scheme} {credential}")
        assert_unauthorized(response, code="authentication_failed")
        assert response["WWW-Authenticate"] == "Token"
