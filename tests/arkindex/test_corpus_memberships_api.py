import uuid

import pytest

from arkindex.corpora.models import CorpusMembership, Level
from arkindex.corpora.serializers import CorpusMembershipSerializer
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client
from tests.factories import CorpusFactory, CorpusMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def memberships_url(corpus):
    return f"/api/v1/corpus/{corpus.id}/memberships/"


class TestListCorpusMemberships:
    def test_an_admin_lists_the_members_by_email(self, corpus_admin, corpus):
        response = client_for(corpus_admin).get(memberships_url(corpus))
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 3
        assert [(m["user"], m["level"]) for m in body["results"]] == [
            ("carol@example.com", 100),
            ("cecil@example.com", 50),
            ("gina@example.com", 10),
        ]
        ids = set(CorpusMembership.objects.filter(corpus=corpus).values_list("id", flat=True))
        assert {m["id"] for m in body["results"]} == ids

    def test_a_superuser_lists_the_members_without_being_one(self, superuser, corpus):
        assert client_for(superuser).get(memberships_url(corpus)).json()["count"] == 3

    @pytest.mark.parametrize("member", ["contributor", "guest"])
    def test_members_below_admin_get_a_403(self, request, corpus, member):
        user = request.getfixturevalue(member)
        errors = assert_error(client_for(user).get(memberships_url(corpus)), 403)
        assert "Admin" in errors[0]["detail"]

    def test_outsiders_get_a_404(self, outsider, corpus):
        assert_error(client_for(outsider).get(memberships_url(corpus)), 404, code="not_found")

    def test_outsiders_of_a_public_corpus_get_a_403(self, outsider):
        public = CorpusFactory(public=True)
        assert_error(client_for(outsider).get(memberships_url(public)), 403)

    def test_an_unknown_corpus_is_a_404(self, corpus_admin):
        response = client_for(corpus_admin).get(f"/api/v1/corpus/{uuid.uuid4()}/memberships/")
        assert_error(response, 404, code="not_found")

    def test_the_memberships_of_other_corpora_are_not_listed(self, corpus_admin, corpus):
        other = CorpusFactory()
        CorpusMembershipFactory(corpus=other, user=corpus_admin, level=Level.ADMIN)
        CorpusMembershipFactory(corpus=other, user=UserFactory(), level=Level.GUEST)
        assert client_for(corpus_admin).get(memberships_url(corpus)).json()["count"] == 3

    @pytest.mark.parametrize("extra", [0, 10])
    def test_the_query_count_does_not_grow_with_members(
        self, corpus_admin, corpus, extra, django_assert_num_queries
    ):
        for _ in range(extra):
            CorpusMembershipFactory(corpus=corpus, user=UserFactory())
        client = client_for(corpus_admin)
        # 1. the token with its user
        # 2. the corpus, if readable
        # 3. the caller's level on it
        # 4. count of memberships
        # 5. the page of memberships with their users
        with django_assert_num_queries(5):
            response = client.get(memberships_url(corpus))
        assert response.json()["count"] == 3 + extra

    def test_anonymous_callers_get_a_401(self, api, corpus):
        assert_unauthorized(api.get(memberships_url(corpus)))


class TestCreateCorpusMembership:
    def test_an_admin_adds_a_member_by_email(self, corpus_admin, corpus, outsider):
        # Oscar shares another corpus with Carol: she may find him by email
        shared = CorpusFactory(name="Shared")
        CorpusMembershipFactory(corpus=shared, user=corpus_admin, level=Level.GUEST)
        CorpusMembershipFactory(corpus=shared, user=outsider, level=Level.GUEST)
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": "oscar@example.com", "level": 50}, format="json"
        )
        assert response.status_code == 201, response.content
        membership = CorpusMembership.objects.get(corpus=corpus, user=outsider)
        assert membership.level == Level.CONTRIBUTOR
        assert response.json() == {"id": membership.id, "user": "oscar@example.com", "level": 50}
        # The new member reads the corpus.
        assert client_for(outsider).get(f"/api/v1/corpus/{corpus.id}/").status_code == 200

    def test_a_superuser_adds_a_member(self, superuser, corpus, outsider):
        response = client_for(superuser).post(
            memberships_url(corpus), {"user": "oscar@example.com", "level": 100}, format="json"
        )
        assert response.status_code == 201
        assert CorpusMembership.objects.get(corpus=corpus, user=outsider).level == Level.ADMIN

    @pytest.mark.parametrize("member", ["contributor", "guest"])
    def test_members_below_admin_get_a_403(self, request, corpus, outsider, member):
        user = request.getfixturevalue(member)
        response = client_for(user).post(
            memberships_url(corpus), {"user": "oscar@example.com", "level": 10}, format="json"
        )
        assert_error(response, 403, code="permission_denied")
        assert not CorpusMembership.objects.filter(user=outsider).exists()

    def test_outsiders_get_a_404_even_with_an_invalid_body(self, outsider, corpus):
        response = client_for(outsider).post(memberships_url(corpus), {}, format="json")
        assert_error(response, 404, code="not_found")

    def test_an_unknown_email_is_a_400_naming_the_address(self, corpus_admin, corpus):
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": "nobody@example.com", "level": 10}, format="json"
        )
        errors = assert_error(response, 400, code="does_not_exist", attr=["user"])
        assert errors[0]["detail"] == (
            "No user you share a corpus or a farm with has the email address nobody@example.com."
        )

    def test_a_user_the_caller_shares_nothing_with_answers_like_an_unknown_email(
        self, corpus_admin, outsider
    ):
        # Any user may create a corpus and try addresses on it
        corpus = CorpusFactory(name="Probe")
        CorpusMembershipFactory(corpus=corpus, user=outsider, level=Level.ADMIN)
        client = client_for(outsider)

        known = client.post(
            memberships_url(corpus), {"user": "carol@example.com", "level": 10}, format="json"
        )
        unknown = client.post(
            memberships_url(corpus), {"user": "nobody@example.com", "level": 10}, format="json"
        )

        assert known.status_code == unknown.status_code == 400
        detail = "No user you share a corpus or a farm with has the email address {}."
        assert known.json()["errors"] == [
            {
                "code": "does_not_exist",
                "detail": detail.format("carol@example.com"),
                "attr": ["user"],
            }
        ]
        assert unknown.json()["errors"] == [
            {
                "code": "does_not_exist",
                "detail": detail.format("nobody@example.com"),
                "attr": ["user"],
            }
        ]
        assert list(CorpusMembership.objects.filter(corpus=corpus)) == [
            CorpusMembership.objects.get(corpus=corpus, user=outsider)
        ]

    def test_a_user_sharing_a_farm_is_found(self, corpus_admin, corpus, farm, farm_guest):
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": farm_guest.email, "level": 10}, format="json"
        )
        assert response.status_code == 201, response.content
        assert CorpusMembership.objects.get(corpus=corpus, user=farm_guest).level == Level.GUEST

    def test_a_former_co_member_of_another_corpus_is_no_longer_found(
        self, corpus_admin, corpus, outsider
    ):
        shared = CorpusFactory(name="Shared")
        CorpusMembershipFactory(corpus=shared, user=corpus_admin, level=Level.ADMIN)
        CorpusMembershipFactory(corpus=shared, user=outsider, level=Level.GUEST)
        CorpusMembership.objects.filter(corpus=shared, user=outsider).delete()

        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": outsider.email, "level": 10}, format="json"
        )
        assert_error(response, 400, code="does_not_exist", attr=["user"])

    def test_adding_members_is_throttled_per_user(self, settings, corpus_admin, corpus, guest):
        rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**rates, "membership": "2/hour"},
        }
        client = client_for(corpus_admin)
        for address in ("a@example.com", "b@example.com"):
            body = {"user": address, "level": 10}
            assert client.post(memberships_url(corpus), body, format="json").status_code == 400

        response = client.post(
            memberships_url(corpus), {"user": "c@example.com", "level": 10}, format="json"
        )

        assert_error(response, 429, code="throttled")
        # Listing the members is not throttled, and still lists them all
        listed = client.get(memberships_url(corpus))
        assert listed.status_code == 200
        assert len(listed.json()["results"]) == 3

    def test_an_existing_member_is_a_400(self, corpus_admin, corpus):
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": "gina@example.com", "level": 50}, format="json"
        )
        errors = assert_error(response, 400, attr=["user"])
        assert errors[0]["detail"] == "gina@example.com is already a member of this corpus."
        gina = CorpusMembership.objects.get(corpus=corpus, user__email="gina@example.com")
        assert gina.level == Level.GUEST

    def test_a_member_added_concurrently_is_a_400_not_a_500(
        self, corpus_admin, corpus, monkeypatch
    ):
        # The race: another request inserts the membership between validation and insert.
        monkeypatch.setattr(CorpusMembershipSerializer, "validate_user", lambda self, user: user)
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": "gina@example.com", "level": 50}, format="json"
        )
        errors = assert_error(response, 400, attr=["user"])
        assert errors[0]["detail"] == "gina@example.com is already a member of this corpus."
        assert CorpusMembership.objects.filter(corpus=corpus).count() == 3

    @pytest.mark.parametrize("level", [0, 20, 101, "admin", None])
    def test_a_level_outside_10_50_100_is_a_400(
        self, corpus_admin, corpus, farm, farm_guest, level
    ):
        response = client_for(corpus_admin).post(
            memberships_url(corpus), {"user": farm_guest.email, "level": level}, format="json"
        )
        errors = assert_error(response, 400, attr=["level"])
        assert len(errors) == 1

    def test_missing_fields_are_named(self, corpus_admin, corpus):
        response = client_for(corpus_admin).post(memberships_url(corpus), {}, format="json")
        errors = assert_error(response, 400, code="required", attr=["user"])
        assert [error["attr"] for error in errors] == [["user"], ["level"]]

    def test_a_task_of_an_admin_cannot_add_members(self, running_task, corpus):
        # The process creator is a contributor; even an admin's task could not write.
        response = task_client(running_task).post(
            memberships_url(corpus), {"user": "oscar@example.com", "level": 10}, format="json"
        )
        assert_error(response, 403, code="permission_denied")

    def test_agents_cannot_add_members(self, agent, corpus):
        response = agent_client(agent).post(
            memberships_url(corpus), {"user": "oscar@example.com", "level": 10}, format="json"
        )
        assert_error(response, 403, code="permission_denied")

    def test_anonymous_callers_get_a_401(self, api, corpus):
        assert_unauthorized(api.post(memberships_url(corpus), {}, format="json"))
