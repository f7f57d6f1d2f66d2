"""ListProcesses: rights, filters, order, fields and a query count that does not grow."""

from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from ponos.models import State, Task
from process.models import Process, ProcessMode
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import CorpusFactory, ProcessFactory
from tests.process.helpers import make_run

pytestmark = pytest.mark.django_db

LIST_FIELDS = {
    "id",
    "name",
    "mode",
    "corpus",
    "state",
    "farm",
    "creator",
    "created",
    "updated",
    "started",
    "finished",
}


def ids(response):
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def test_items_carry_exactly_the_list_fields(process, contributor, guest):
    response = client_for(guest).get("/api/v1/process/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert set(item) == LIST_FIELDS
    assert "workflow" not in item and "tasks" not in item
    assert item["id"] == str(process.id)
    assert item["corpus"] == str(process.corpus_id)
    assert item["mode"] == "workers"
    assert item["state"] == "unscheduled"
    assert item["farm"] == {"id": str(process.farm.id), "name": "Main farm"}
    assert item["creator"] == {"id": str(contributor.id), "display_name": "Cecil"}
    assert item["started"] is None and item["finished"] is None


def test_only_readable_processes_newest_first(
    corpus, contributor, guest, outsider, superuser, corpus_admin
):
    now = timezone.now()
    old = ProcessFactory(corpus=corpus, creator=contributor)
    new = ProcessFactory(corpus=corpus, creator=contributor)
    public = ProcessFactory(corpus=CorpusFactory(public=True), creator=corpus_admin)
    own = ProcessFactory(creator=outsider, mode=ProcessMode.LOCAL)
    hidden = ProcessFactory(creator=corpus_admin, mode=ProcessMode.LOCAL)
    for rank, process in enumerate([old, new, public, own, hidden]):
        Process.objects.filter(pk=process.pk).update(created=now + timedelta(seconds=rank))

    assert ids(client_for(guest).get("/api/v1/process/")) == [
        str(public.id),
        str(new.id),
        str(old.id),
    ]
    assert ids(client_for(outsider).get("/api/v1/process/")) == [str(own.id), str(public.id)]
    assert ids(client_for(superuser).get("/api/v1/process/")) == [
        str(p.id) for p in [hidden, own, public, new, old]
    ]


def test_anonymous_callers_get_a_401(api):
    response = api.get("/api/v1/process/")
    assert_error(response, 401, code="not_authenticated")


class TestFilters:
    @pytest.fixture
    def processes(self, corpus, contributor, corpus_admin, farm):
        other_corpus = CorpusFactory()
        return {
            "mine_running": ProcessFactory(corpus=corpus, creator=contributor, name="OCR run"),
            "mine_template": ProcessFactory(
                corpus=corpus, creator=contributor, mode=ProcessMode.TEMPLATE, name="template"
            ),
            "admin_failed": ProcessFactory(corpus=corpus, creator=corpus_admin, name="ocr again"),
            "other_corpus": ProcessFactory(corpus=other_corpus, creator=contributor, name="x"),
        }

    @pytest.fixture
    def with_states(self, processes):
        make_run(processes["mine_running"], a=State.RUNNING, b=State.COMPLETED)
        make_run(processes["admin_failed"], a=State.FAILED, b=State.COMPLETED)
        return processes

    def get(self, user, **params):
        return client_for(user).get("/api/v1/process/", params)

    def test_corpus(self, processes, contributor, corpus):
        found = ids(self.get(contributor, corpus=str(corpus.id)))
        assert sorted(found) == sorted(
            str(processes[key].id) for key in ["mine_running", "mine_template", "admin_failed"]
        )

    def test_corpus_must_be_an_id(self, contributor):
        response = self.get(contributor, corpus="nope")
        assert_error(response, 400, attr=["corpus"], code="invalid")

    def test_mode(self, processes, contributor):
        assert ids(self.get(contributor, mode="template")) == [str(processes["mine_template"].id)]

    def test_unknown_mode_is_a_400(self, contributor):
        errors = assert_error(self.get(contributor, mode="magic"), 400, attr=["mode"])
        assert "magic" in errors[0]["detail"]

    def test_state_uses_the_same_summary_as_the_detail(self, with_states, contributor):
        running = ids(self.get(contributor, state="running"))
        assert running == [str(with_states["mine_running"].id)]
        detail = client_for(contributor).get(f"/api/v1/process/{running[0]}/").json()
        assert detail["state"] == "running"
        assert ids(self.get(contributor, state="failed")) == [str(with_states["admin_failed"].id)]
        assert sorted(ids(self.get(contributor, state="unscheduled"))) == sorted(
            [str(with_states["mine_template"].id), str(with_states["other_corpus"].id)]
        )

    def test_unknown_state_is_a_400(self, contributor):
        assert_error(self.get(contributor, state="done"), 400, attr=["state"])

    def test_name_contains_any_case(self, processes, contributor):
        found = ids(self.get(contributor, name="OCR"))
        assert sorted(found) == sorted(
            [str(processes["mine_running"].id), str(processes["admin_failed"].id)]
        )

    @pytest.mark.parametrize("value", ["true", "True", "1"])
    def test_created_true_gives_mine(self, processes, contributor, value):
        found = ids(self.get(contributor, created=value))
        assert sorted(found) == sorted(
            str(processes[key].id) for key in ["mine_running", "mine_template", "other_corpus"]
        )

    @pytest.mark.parametrize("value", ["false", "False", "0"])
    def test_created_false_gives_the_others(self, processes, contributor, value):
        assert ids(self.get(contributor, created=value)) == [str(processes["admin_failed"].id)]

    def test_created_refuses_junk(self, contributor):
        errors = assert_error(self.get(contributor, created="yes"), 400, attr=["created"])
        assert errors[0]["detail"] == "'yes' is not a boolean: use true, false, 1 or 0."

    @pytest.mark.parametrize("value", ["True", "true", "1"])
    def test_with_tasks_true(self, with_states, contributor, value):
        found = ids(self.get(contributor, with_tasks=value))
        assert sorted(found) == sorted(
            [str(with_states["mine_running"].id), str(with_states["admin_failed"].id)]
        )

    @pytest.mark.parametrize("value", ["False", "false", "0"])
    def test_with_tasks_false(self, with_states, contributor, value):
        found = ids(self.get(contributor, with_tasks=value))
        assert sorted(found) == sorted(
            [str(with_states["mine_template"].id), str(with_states["other_corpus"].id)]
        )

    def test_with_tasks_maybe_is_a_400(self, contributor):
        errors = assert_error(self.get(contributor, with_tasks="maybe"), 400, attr=["with_tasks"])
        assert errors[0]["detail"] == "'maybe' is not a boolean: use true, false, 1 or 0."

    def test_with_tasks_counts_a_process_whose_tasks_were_cleaned_up_as_without(
        self, with_states, contributor
    ):
        Task.objects.filter(process=with_states["admin_failed"]).delete()
        found = ids(self.get(contributor, with_tasks="false"))
        assert str(with_states["admin_failed"].id) in found
        # The state is kept.
        assert ids(self.get(contributor, state="failed")) == [str(with_states["admin_failed"].id)]

    def test_filters_combine(self, with_states, contributor, corpus):
        found = ids(self.get(contributor, corpus=str(corpus.id), created="1", with_tasks="0"))
        assert found == [str(with_states["mine_template"].id)]


def test_with_workflow_is_not_a_parameter_and_workflow_is_in_no_response(api):
    schema = api.get("/api/v1/openapi/?format=json").json()
    listing = schema["paths"]["/api/v1/process/"]["get"]
    names = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    # The conditional request's header is the only other parameter.
    others = {(p["in"], p["name"]) for p in listing["parameters"] if p["in"] != "query"}
    assert others == {("header", "If-None-Match")}
    assert names == {
        "corpus",
        "mode",
        "state",
        "name",
        "created",
        "with_tasks",
        "page",
        "page_size",
    }
    assert {p["name"]: p["schema"]["type"] for p in listing["parameters"]}["with_tasks"] == (
        "boolean"
    )
    for name, component in schema["components"]["schemas"].items():
        assert "workflow" not in component.get("properties", {}), name


def create_processes(count, creator, corpus, farm, tasks_each):
    processes = Process.objects.bulk_create(
        Process(corpus=corpus, creator=creator, farm=farm, mode=ProcessMode.WORKERS, name=f"p{n}")
        for n in range(count)
    )
    Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"t{n}", image="img", state=State.COMPLETED)
        for process in processes
        for n in range(tasks_each)
    )
    Process.objects.filter(pk__in=[p.pk for p in processes]).update(
        last_run=0, state=State.COMPLETED, started=timezone.now(), finished=timezone.now()
    )


@pytest.mark.parametrize("count", [5, 200])
def test_a_page_costs_the_same_queries_for_5_and_200_processes(
    count, corpus, contributor, farm, django_assert_num_queries
):
    create_processes(count, contributor, corpus, farm, tasks_each=50)
    client = client_for(contributor)

    # 1 the token with its user, 2 COUNT(*) of the readable processes, 3 the page's
    # columns with its farm and creator; no query per process or per task.
    with django_assert_num_queries(3) as captured:
        response = client.get("/api/v1/process/", {"with_tasks": "true"})

    count_sql = captured.captured_queries[1]["sql"]
    assert "COUNT(" in count_sql
    # Counting joins neither farms nor users: only the page shows them.
    assert "ponos_farm" not in count_sql and "users_user" not in count_sql

    body = response.json()
    assert body["count"] == count
    assert len(body["results"]) == min(count, 20)
    assert {item["state"] for item in body["results"]} == {"completed"}
    assert Task.objects.aggregate(Max("run"))["run__max"] == 0


def test_an_item_without_corpus_or_farm(outsider):
    process = ProcessFactory(creator=outsider, mode=ProcessMode.LOCAL, name="local")

    [item] = client_for(outsider).get("/api/v1/process/").json()["results"]

    assert item["id"] == str(process.id)
    assert item["corpus"] is None
    assert item["farm"] is None
    assert item["creator"] == {"id": str(outsider.id), "display_name": outsider.display_name}
    assert item["created"].endswith("Z") and item["updated"].endswith("Z")


class TestPages:
    @pytest.fixture
    def newest_first(self, corpus, contributor):
        now = timezone.now()
        processes = [ProcessFactory(corpus=corpus, creator=contributor) for _ in range(5)]
        for rank, process in enumerate(processes):
            Process.objects.filter(pk=process.pk).update(created=now - timedelta(seconds=rank))
        return [str(process.id) for process in processes]

    def get(self, user, **params):
        return client_for(user).get("/api/v1/process/", params)

    def test_pages_follow_each_other(self, newest_first, contributor):
        first = self.get(contributor, page_size=2).json()
        second = self.get(contributor, page_size=2, page=2).json()

        assert first["count"] == second["count"] == 5
        assert [item["id"] for item in first["results"]] == newest_first[:2]
        assert [item["id"] for item in second["results"]] == newest_first[2:4]
        assert first["previous"] is None
        assert first["next"] == "http://testserver/api/v1/process/?page=2&page_size=2"
        assert second["previous"] == "http://testserver/api/v1/process/?page_size=2"
        assert second["next"] == "http://testserver/api/v1/process/?page=3&page_size=2"

    def test_last_page(self, newest_first, contributor):
        body = self.get(contributor, page_size=2, page="last").json()

        assert body["count"] == 5
        assert [item["id"] for item in body["results"]] == newest_first[4:]
        assert body["next"] is None

    def test_an_empty_list_has_a_first_page(self, contributor):
        body = self.get(contributor, page_size=2).json()

        assert body == {"count": 0, "next": None, "previous": None, "results": []}

    @pytest.mark.parametrize("page", ["4", "0", "-1", "two", "1.5"])
    def test_a_page_out_of_range_is_a_404(self, newest_first, contributor, page):
        response = self.get(contributor, page_size=2, page=page)

        errors = assert_error(response, 404, code="not_found")
        assert errors[0]["detail"] == "Invalid page."

    def test_filters_are_checked_before_the_page(self, contributor):
        response = self.get(contributor, state="done", page="two", page_size=0)

        assert_error(response, 400, attr=["state"])


def test_page_size_is_capped_at_500(process, contributor):
    response = client_for(contributor).get("/api/v1/process/", {"page_size": 501})
    assert_error(response, 400, attr=["page_size"])
