"""`GET /metrics`: the bearer token, the farm gauges, the request metrics, and their cost."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from arkindex.documents.elements import create_elements
from arkindex.documents.models import ElementType
from ponos.models import State
from process.models import WorkerActivity
from tests.conftest import client_for
from tests.factories import AgentFactory, ProcessFactory, TaskFactory, WorkerRunFactory

TOKEN = "metrics-token-0123456789"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def metrics_token(settings):
    settings.ARKINDEX_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(token=TOKEN):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/metrics")


def samples(response):
    """{(name, frozenset of labels): value} of a scrape."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_answer_404_when_no_token_is_configured(db, settings):
    settings.ARKINDEX_METRICS_TOKEN = None
    response = scrape("anything")
    assert response.status_code == 404
    assert b"arkindex_tasks" not in response.content


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Token {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_metrics_refuse_a_missing_or_wrong_token(db, metrics_token, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"arkindex_" not in response.content


def test_metrics_only_answer_get(db, metrics_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert client.post("/metrics").status_code == 405


def test_metrics_count_live_tasks_per_farm_and_state(
    metrics_token, process, farm, other_farm, agent, corpus, contributor
):
    other_process = ProcessFactory(corpus=corpus, creator=contributor, farm=other_farm)
    with time_machine.travel(NOW - timedelta(minutes=10), tick=False):
        TaskFactory(process=process, state=State.PENDING)
    with time_machine.travel(NOW - timedelta(minutes=2), tick=False):
        TaskFactory(process=process, state=State.PENDING)
        TaskFactory(process=other_process, state=State.PENDING)
    with time_machine.travel(NOW, tick=False):
        TaskFactory(process=process, state=State.RUNNING, agent=agent)
        TaskFactory(process=process, state=State.UNSCHEDULED)
        # History is not counted.
        TaskFactory(process=process, state=State.COMPLETED, agent=agent)
        TaskFactory(process=other_process, state=State.FAILED)
        values = samples(scrape())

    def tasks(f, state):
        return values["arkindex_tasks", frozenset({"farm": str(f.id), "state": state}.items())]

    assert tasks(farm, "pending") == 2
    assert tasks(farm, "running") == 1
    assert tasks(farm, "unscheduled") == 1
    assert tasks(farm, "stopping") == 0
    assert tasks(other_farm, "pending") == 1
    assert tasks(other_farm, "running") == 0
    states = {dict(labels)["state"] for name, labels in values if name == "arkindex_tasks"}
    assert states == {"unscheduled", "pending", "running", "stopping"}

    def oldest(f):
        return values[
            "arkindex_pending_task_oldest_seconds", frozenset({"farm": str(f.id)}.items())
        ]

    assert oldest(farm) == 600
    assert oldest(other_farm) == 120


def test_metrics_report_agents_by_status_and_their_free_slots(
    metrics_token, process, farm, other_farm
):
    with time_machine.travel(NOW, tick=False):
        busy = AgentFactory(farm=farm, cpu_cores=4, last_ping=NOW)
        AgentFactory(farm=farm, cpu_cores=2, last_ping=NOW - timedelta(seconds=30))
        AgentFactory(farm=farm, cpu_cores=8, last_ping=NOW - timedelta(hours=1))
        AgentFactory(farm=farm, cpu_cores=8, last_ping=NOW, enabled=False)
        AgentFactory(farm=other_farm, cpu_cores=2, last_ping=None)
        for state in (State.RUNNING, State.STOPPING, State.PENDING):
            TaskFactory(process=process, state=state, agent=busy)
        # A finished task no longer holds a slot.
        TaskFactory(process=process, state=State.COMPLETED, agent=busy)
        values = samples(scrape())

    def agents(f, status):
        return values["arkindex_agents", frozenset({"farm": str(f.id), "status": status}.items())]

    assert (agents(farm, "active"), agents(farm, "inactive"), agents(farm, "disabled")) == (2, 1, 1)
    assert agents(other_farm, "active") == 0
    assert agents(other_farm, "inactive") == 1
    free = {
        dict(labels)["farm"]: value
        for (name, labels), value in values.items()
        if name == "arkindex_agent_free_slots"
    }
    # 4 cores minus 3 held, plus 2 free cores; the stale and the disabled agent offer none.
    assert free == {str(farm.id): 3, str(other_farm.id): 0}


def test_metrics_count_requests_by_operation_and_status(metrics_token, process, contributor):
    def count(operation, status):
        labels = frozenset({"operation": operation, "status": status}.items())
        return samples(scrape()).get(("arkindex_requests_total", labels), 0)

    ok, missing = count("RetrieveProcess", "200"), count("RetrieveProcess", "404")
    client = client_for(contributor)
    assert client.get(f"/api/v1/process/{process.id}/").status_code == 200
    assert client.get(f"/api/v1/process/{process.id}/").status_code == 200
    assert client.get("/api/v1/process/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert count("RetrieveProcess", "200") == ok + 2
    assert count("RetrieveProcess", "404") == missing + 1

    labels = frozenset({"operation": "RetrieveProcess", "status": "200", "le": "+Inf"}.items())
    assert samples(scrape())["arkindex_request_duration_seconds_bucket", labels] >= 2


def test_metrics_count_queued_worker_activities_per_farm(
    metrics_token, process, farm, other_farm, corpus
):
    element_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
    elements = create_elements(corpus=corpus, type=element_type, names=["a", "b", "c"])
    worker_run = WorkerRunFactory(process=process)
    now = timezone.now()
    WorkerActivity.objects.bulk_create(
        WorkerActivity(
            process=process,
            worker_run=worker_run,
            element=element,
            state=state,
            created=now,
            updated=now,
        )
        for element, state in zip(elements, ["queued", "queued", "processed"], strict=True)
    )
    values = samples(scrape())

    def queued(f):
        return values["arkindex_queued_worker_activities", frozenset({"farm": str(f.id)}.items())]

    assert (queued(farm), queued(other_farm)) == (2, 0)


def test_a_scrape_runs_four_statements_whatever_the_number_of_tasks_and_agents(
    metrics_token, process, farm, other_farm, django_assert_num_queries
):
    def fill(n):
        for _ in range(n):
            agent = AgentFactory(farm=farm, last_ping=timezone.now())
            TaskFactory(process=process, state=State.RUNNING, agent=agent)
            TaskFactory(process=process, state=State.PENDING)
            TaskFactory(process=process, state=State.COMPLETED)

    fill(2)
    # The farms; the live tasks per farm and state with the oldest pending one; the agents
    # with their held tasks; the queued worker activities per farm. Authentication is the
    # token's comparison, without a query.
    with django_assert_num_queries(4):
        small = samples(scrape())
    fill(20)
    with django_assert_num_queries(4):
        large = samples(scrape())
    running = ("arkindex_tasks", frozenset({"farm": str(farm.id), "state": "running"}.items()))
    assert (small[running], large[running]) == (2, 22)
