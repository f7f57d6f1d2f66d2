import pytest
from django.test import override_settings

from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client
from tests.factories import FarmFactory, FarmMembershipFactory

pytestmark = pytest.mark.django_db

FARMS = "/api/v1/farms/"


def names(response):
    assert response.status_code == 200, response.content
    return [farm["name"] for farm in response.json()["results"]]


def test_a_member_lists_the_farms_they_may_use(farm_guest, farm, other_farm):
    response = client_for(farm_guest).get(FARMS)
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [{"id": str(farm.id), "name": "Main farm"}],
    }


def test_farm_seeds_are_never_listed(superuser, farm, other_farm):
    body = client_for(superuser).get(FARMS).content.decode()
    assert farm.seed not in body
    assert other_farm.seed not in body
    assert "seed" not in body


def test_outsiders_list_no_farm(outsider, farm, other_farm):
    assert names(client_for(outsider).get(FARMS)) == []


def test_the_default_farm_is_listed_for_every_user(outsider, farm_guest, farm, other_farm):
    with override_settings(PONOS_DEFAULT_FARM=str(other_farm.id)):
        assert names(client_for(outsider).get(FARMS)) == ["Other farm"]
        assert names(client_for(farm_guest).get(FARMS)) == ["Main farm", "Other farm"]


def test_an_unknown_default_farm_lists_nothing_more(outsider, farm):
    with override_settings(PONOS_DEFAULT_FARM="00000000-0000-0000-0000-000000000000"):
        assert names(client_for(outsider).get(FARMS)) == []


def test_superusers_list_every_farm(superuser, farm, other_farm):
    assert names(client_for(superuser).get(FARMS)) == ["Main farm", "Other farm"]


def test_every_membership_level_may_use_the_farm(outsider, other_farm):
    for level in (10, 50, 100):
        farm = FarmFactory(name=f"Farm {level}")
        FarmMembershipFactory(farm=farm, user=outsider, level=level)
    assert names(client_for(outsider).get(FARMS)) == ["Farm 10", "Farm 100", "Farm 50"]


def test_a_task_lists_the_farms_of_its_process_creator(running_task, farm, other_farm):
    # The creator (Cecil) is a guest of the main farm.
    assert names(task_client(running_task).get(FARMS)) == ["Main farm"]


def test_agents_cannot_list_farms(agent):
    assert_error(agent_client(agent).get(FARMS), 403, code="permission_denied")


def test_anonymous_callers_get_a_401(api):
    assert_unauthorized(api.get(FARMS))


def test_list_farms_is_read_only(superuser):
    response = client_for(superuser).post(FARMS, {"name": "New"}, format="json")
    assert_error(response, 405, code="method_not_allowed")


@pytest.mark.parametrize("count", [1, 10])
def test_the_query_count_does_not_grow_with_farms(outsider, count, django_assert_num_queries):
    for _ in range(count):
        FarmMembershipFactory(farm=FarmFactory(), user=outsider)
    client = client_for(outsider)
    # 1. the token with its user
    # 2. count of usable farms
    # 3. the page of farms
    with django_assert_num_queries(3):
        assert client.get(FARMS).json()["count"] == count
