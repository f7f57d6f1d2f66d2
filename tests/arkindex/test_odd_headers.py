"""Headers the fuzzing run sends to every operation, pinned here one by one."""

import pytest

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "accept", ["application/xml", "text/html;q=0.1, */*;q=0.0", "image/png", "nonsense"]
)
def test_an_accept_header_the_api_cannot_satisfy_still_gets_json(guest, corpus, accept):
    response = client_for(guest).get("/api/v1/corpus/", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert [item["name"] for item in response.json()["results"]] == ["Private corpus"]


def test_an_unknown_format_is_still_a_404(guest):
    response = client_for(guest).get("/api/v1/corpus/?format=xml")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "tag", ["*", '"0123456789abcdef"', 'W/"x", "y", *', "not-a-quoted-tag", '"' + "a" * 4000 + '"']
)
def test_retrieve_process_with_any_if_none_match(contributor, process, tag):
    client = client_for(contributor)
    fresh = client.get(f"/api/v1/process/{process.id}/")

    response = client.get(f"/api/v1/process/{process.id}/", HTTP_IF_NONE_MATCH=tag)

    # "*" matches any current body; inside a list it is no tag at all (RFC 9110 §13.1.2)
    if tag == "*":
        assert response.status_code == 304
        assert response["ETag"] == fresh["ETag"]
    else:
        assert response.status_code == 200
        assert response.json()["id"] == str(process.id)
