import uuid

import pytest

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.conftest import agent_client, client_for, task_client
from tests.factories import CorpusFactory, CorpusMembershipFactory

pytestmark = pytest.mark.django_db

CORPORA = "/api/v1/corpus/"


def names(response):
    assert response.status_code == 200, response.content
    return [corpus["name"] for corpus in response.json()["results"]]


@pytest.fixture
def public_corpus(db):
    return CorpusFactory(name="Public corpus", public=True)


@pytest.fixture
def hidden_corpus(db):
    """A private corpus nobody of the cast is a member of."""
    return CorpusFactory(name="Hidden corpus")


class TestListCorpus:
    def test_members_list_their_corpora_and_public_ones(
        self, guest, corpus, public_corpus, hidden_corpus
    ):
        assert names(client_for(guest).get(CORPORA)) == ["Private corpus", "Public corpus"]

    def test_outsiders_list_public_corpora_only(self, outsider, corpus, public_corpus):
        assert names(client_for(outsider).get(CORPORA)) == ["Public corpus"]

    def test_superusers_list_every_corpus(self, superuser, corpus, public_corpus, hidden_corpus):
        assert names(client_for(superuser).get(CORPORA)) == [
            "Hidden corpus",
            "Private corpus",
            "Public corpus",
        ]

    def test_a_task_lists_what_its_process_creator_reads(self, running_task, hidden_corpus):
        assert names(task_client(running_task).get(CORPORA)) == ["Private corpus"]

    def test_the_body_is_a_page_of_corpora(self, guest, corpus):
        response = client_for(guest).get(CORPORA)
        assert response.json() == {
            "count": 1,
            "next": None,
            "previous": None,
            "results": [
                {
                    "id": str(corpus.id),
                    "name": "Private corpus",
                    "public": False,
                    "created": corpus.created.isoformat().replace("+00:00", "Z"),
                }
            ],
        }

    def test_pages_follow_page_size(self, guest):
        for n in range(5):
            corpus = CorpusFactory(name=f"Corpus {n}")
            CorpusMembershipFactory(corpus=corpus, user=guest, level=Level.GUEST)
        client = client_for(guest)
        first = client.get(CORPORA, {"page_size": 2}).json()
        assert first["count"] == 5
        assert [c["name"] for c in first["results"]] == ["Corpus 0", "Corpus 1"]
        assert first["next"] == "http://testserver/api/v1/corpus/?page=2&page_size=2"
        last = client.get(CORPORA, {"page_size": 2, "page": 3}).json()
        assert [c["name"] for c in last["results"]] == ["Corpus 4"]
        assert last["next"] is None

    @pytest.mark.parametrize("page_size", ["0", "501", "ten", "-1"])
    def test_a_bad_page_size_is_a_400(self, guest, page_size):
        response = client_for(guest).get(CORPORA, {"page_size": page_size})
        assert_error(response, 400, code="invalid", attr=["page_size"])

    def test_a_page_past_the_end_is_a_404(self, guest, corpus):
        assert_error(client_for(guest).get(CORPORA, {"page": 2}), 404, code="not_found")

    @pytest.mark.parametrize("count", [1, 10])
    def test_the_query_count_does_not_grow_with_corpora(
        self, contributor, count, django_assert_num_queries
    ):
        for _ in range(count):
            corpus = CorpusFactory()
            CorpusMembershipFactory(corpus=corpus, user=contributor, level=Level.GUEST)
        client = client_for(contributor)
        # 1. the token with its user
        # 2. count of readable corpora
        # 3. the page of corpora
        with django_assert_num_queries(3):
            response = client.get(CORPORA)
        assert response.json()["count"] == count

    def test_anonymous_callers_get_a_401(self, api):
        assert_unauthorized(api.get(CORPORA))


class TestCreateCorpus:
    def test_any_user_creates_a_corpus_and_becomes_its_admin(self, outsider):
        response = client_for(outsider).post(CORPORA, {"name": "New corpus"}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        corpus = Corpus.objects.get(id=body["id"])
        assert body == {
            "id": str(corpus.id),
            "name": "New corpus",
            "public": False,
            "created": corpus.created.isoformat().replace("+00:00", "Z"),
        }
        membership = CorpusMembership.objects.get(corpus=corpus)
        assert (membership.user, membership.level) == (outsider, Level.ADMIN)

    def test_the_new_corpus_is_readable_and_administered_by_its_creator(self, outsider):
        client = client_for(outsider)
        corpus_id = client.post(CORPORA, {"name": "Mine"}, format="json").json()["id"]
        assert client.get(f"{CORPORA}{corpus_id}/").status_code == 200
        assert client.get(f"{CORPORA}{corpus_id}/memberships/").status_code == 200

    def test_a_corpus_may_be_created_public(self, outsider):
        response = client_for(outsider).post(
            CORPORA, {"name": "Open", "public": True}, format="json"
        )
        assert response.status_code == 201
        assert Corpus.objects.get(id=response.json()["id"]).public is True

    def test_id_and_created_are_read_only(self, outsider):
        forced = str(uuid.uuid4())
        response = client_for(outsider).post(
            CORPORA, {"id": forced, "name": "Mine", "created": "2000-01-01T00:00:00Z"}
        )
        assert response.status_code == 201
        assert response.json()["id"] != forced
        assert not response.json()["created"].startswith("2000")

    @pytest.mark.parametrize(
        ("body", "code"),
        [({}, "required"), ({"name": ""}, "blank"), ({"name": "x" * 251}, "max_length")],
    )
    def test_an_invalid_name_is_a_400_naming_the_field(self, outsider, body, code):
        response = client_for(outsider).post(CORPORA, body, format="json")
        assert_error(response, 400, code=code, attr=["name"])
        assert not Corpus.objects.exists()

    def test_a_non_boolean_public_is_a_400(self, outsider):
        response = client_for(outsider).post(
            CORPORA, {"name": "Mine", "public": "sometimes"}, format="json"
        )
        assert_error(response, 400, code="invalid", attr=["public"])

    def test_a_body_that_is_not_an_object_is_a_400(self, outsider):
        response = client_for(outsider).post(CORPORA, ["Mine"], format="json")
        assert_error(response, 400, code="invalid", attr=None, error_type="validation_error")

    def test_malformed_json_is_a_400(self, outsider):
        response = client_for(outsider).post(CORPORA, '{"name": ', content_type="application/json")
        assert_error(response, 400, code="parse_error")

    def test_tasks_and_agents_cannot_create_corpora(self, running_task, agent):
        for client in (task_client(running_task), agent_client(agent)):
            response = client.post(CORPORA, {"name": "Nope"}, format="json")
            assert_error(response, 403, code="permission_denied")
        assert not Corpus.objects.filter(name="Nope").exists()

    def test_anonymous_callers_get_a_401(self, api):
        assert_unauthorized(api.post(CORPORA, {"name": "Nope"}, format="json"))


class TestRetrieveCorpus:
    @pytest.mark.parametrize("member", ["corpus_admin", "contributor", "guest", "superuser"])
    def test_members_and_superusers_retrieve_a_private_corpus(self, request, corpus, member):
        user = request.getfixturevalue(member)
        response = client_for(user).get(f"{CORPORA}{corpus.id}/")
        assert response.status_code == 200
        assert response.json()["id"] == str(corpus.id)
        assert response.json()["name"] == "Private corpus"

    def test_a_private_corpus_is_a_404_for_outsiders(self, outsider, corpus):
        response = client_for(outsider).get(f"{CORPORA}{corpus.id}/")
        assert_error(response, 404, code="not_found")

    def test_an_unreadable_corpus_looks_like_an_unknown_one(self, outsider, corpus):
        client = client_for(outsider)
        hidden = client.get(f"{CORPORA}{corpus.id}/")
        unknown = client.get(f"{CORPORA}{uuid.uuid4()}/")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json() == unknown.json()

    def test_a_public_corpus_is_readable_by_every_user(self, outsider, public_corpus):
        assert client_for(outsider).get(f"{CORPORA}{public_corpus.id}/").status_code == 200

    def test_a_malformed_id_is_a_404_in_the_error_format(self, guest):
        assert_error(client_for(guest).get(f"{CORPORA}not-a-uuid/"), 404, code="not_found")

    def test_the_query_count(self, guest, corpus, django_assert_num_queries):
        client = client_for(guest)
        # 1. the token with its user
        # 2. the corpus, if readable
        # 3. its element types (readable means guest: no query of the caller's level)
        with django_assert_num_queries(3):
            assert client.get(f"{CORPORA}{corpus.id}/").status_code == 200

    def test_anonymous_callers_get_a_401(self, api, corpus):
        assert_unauthorized(api.get(f"{CORPORA}{corpus.id}/"))
