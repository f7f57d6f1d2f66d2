"""Conditional requests on RetrieveProcess, RetrieveTask and ListProcesses: an ETag on each
answer, 304 Not Modified without a body while it is current, in a constant number of
statements; and one test per write path showing that the tag moves with the body.

Write paths of RetrieveProcess (each a case of `WRITE_PATHS` below):

| write path                                  | how it versions the body                   |
|---------------------------------------------|--------------------------------------------|
| PartialUpdateProcess (name)                 | revision, under the process lock           |
| StartProcess (run 0 built, `started`)       | revision, under the process lock           |
| RetryProcess (run 1 built)                  | revision, under the process lock           |
| StopProcess (PATCH state=stopping)          | revision, under the process lock           |
| an agent claiming a pending task (raw UPDATE)| count of claimed pending tasks           |
| an agent reporting running                  | revision, under the process lock           |
| an agent reporting completed (children      | revision, under the process lock           |
|   scheduled, `finished` stamped)            |                                            |
| a user stopping a task                      | revision, under the process lock           |
| CreateTask (a task token)                   | revision, under the process lock           |
| RestartTask                                 | revision, under the process lock           |
| the dead-agent rule (another agent's poll)  | revision, under the process lock           |
| the ttl rule (the agent's own poll)         | revision, under the process lock           |
| cleanup deleting expired tasks (raw DELETE) | revision, bumped by the deleting batch     |
| the farm renamed                            | the farm's name, read with the revision    |
| the creator's display name changed          | the creator's name, read with the revision |
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from ponos.models import Agent, Farm, State, Task
from ponos.storage import get_storage, log_key
from process.models import Process
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory
from tests.process.helpers import add_worker_run, make_run

pytestmark = pytest.mark.django_db


def process_url(process):
    return f"/api/v1/process/{process.id}/"


def task_url(task):
    return f"/api/v1/task/{task.id}/"


class Watch:
    """A client polling one URL with If-None-Match, as the frontend does."""

    def __init__(self, client, url, params=None):
        self.client, self.url, self.params = client, url, params or {}

    def get(self, etag=None):
        headers = {} if etag is None else {"HTTP_IF_NONE_MATCH": etag}
        return self.client.get(self.url, self.params, **headers)

    def tag(self):
        response = self.get()
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "private, no-cache"
        return response["ETag"]

    def unchanged(self, etag):
        response = self.get(etag)
        assert response.status_code == 304, response.content
        assert response.content == b""
        assert response["ETag"] == etag
        assert response["Cache-Control"] == "private, no-cache"

    def changed(self, etag):
        """The full body, with a new tag that is current in turn."""
        response = self.get(etag)
        assert response.status_code == 200, response.content
        assert response["ETag"] != etag
        self.unchanged(response["ETag"])
        return response.json()


def by_slug(body):
    return {task["slug"]: task for task in body["tasks"]}


@pytest.fixture
def ctx(process, contributor, corpus_admin, agent, farm, settings):
    return SimpleNamespace(
        process=process,
        contributor=contributor,
        admin=corpus_admin,
        agent=agent,
        farm=farm,
        settings=settings,
        manager=client_for(contributor),
    )


def running(ctx, slug="a", **fields):
    """A task of run 0 held and run by the agent."""
    fields.setdefault("started", timezone.now())
    task = TaskFactory(
        process=ctx.process, slug=slug, state=State.RUNNING, agent=ctx.agent, **fields
    )
    make_run(ctx.process)
    return task


# --- The write paths: (prepare, write, shows). `prepare` builds the state before the first
# --- tag; `write` changes it through the product's own path; `shows` checks the new body.


def prepare_run(ctx):
    ctx.tasks = make_run(ctx.process, a=State.RUNNING, b=State.UNSCHEDULED)
    ctx.tasks["b"].parents.set([ctx.tasks["a"]])
    Task.objects.filter(pk=ctx.tasks["a"].pk).update(agent=ctx.agent, started=timezone.now())


def rename(ctx):
    response = ctx.manager.patch(process_url(ctx.process), {"name": "Renamed"})
    assert response.status_code == 200, response.content


def prepare_unstarted(ctx):
    add_worker_run(ctx.process, slug="reco")


def start(ctx):
    response = ctx.manager.post(
        f"/api/v1/process/{ctx.process.id}/start/",
        # Without worker activities, the tasks are scheduled at once.
        {"farm": str(ctx.farm.id), "worker_activity": False},
    )
    assert response.status_code == 200, response.content


def shows_started(body, ctx):
    assert body["started"] is not None
    assert [task["state"] for task in body["tasks"]] == ["pending"]


def prepare_finished(ctx):
    add_worker_run(ctx.process, slug="reco")
    start(ctx)
    Task.objects.filter(process=ctx.process).update(state=State.FAILED)
    Process.objects.filter(pk=ctx.process.pk).update(state=State.FAILED)


def retry(ctx):
    response = ctx.manager.post(
        f"/api/v1/process/{ctx.process.id}/retry/", {"worker_activity": False}
    )
    assert response.status_code == 200, response.content


def stop_process(ctx):
    response = ctx.manager.patch(process_url(ctx.process), {"state": "stopping"})
    assert response.status_code == 200, response.content


def prepare_pending(ctx):
    ctx.tasks = make_run(ctx.process, c=State.PENDING)


def claim(ctx):
    response = agent_client(ctx.agent).get("/api/v1/agent/actions/")
    assert response.json()["actions"] == [
        {"action": "start_task", "task_id": str(ctx.tasks["c"].id)}
    ]


def shows_claimed(body, ctx):
    # The claim moves the task's `updated` only: the state stays pending.
    assert by_slug(body)["c"]["state"] == "pending"
    assert Task.objects.get(pk=ctx.tasks["c"].pk).agent_id == ctx.agent.pk


def prepare_claimed(ctx):
    prepare_pending(ctx)
    claim(ctx)


def report_running(ctx):
    response = agent_client(ctx.agent).patch(task_url(ctx.tasks["c"]), {"state": "running"})
    assert response.status_code == 200, response.content


def report_completed(ctx):
    response = agent_client(ctx.agent).patch(task_url(ctx.tasks["a"]), {"state": "completed"})
    assert response.status_code == 200, response.content


def shows_completed(body, ctx):
    tasks = by_slug(body)
    assert tasks["a"]["state"] == "completed" and tasks["a"]["finished"] is not None
    assert tasks["b"]["state"] == "pending"


def stop_task(ctx):
    response = ctx.manager.patch(task_url(ctx.tasks["a"]), {"state": "stopping"})
    assert response.status_code == 200, response.content


def create_task(ctx):
    body = {"process_id": str(ctx.process.id), "slug": "follow-up", "image": "alpine:3"}
    response = task_client(Task.objects.get(pk=ctx.tasks["a"].pk)).post("/api/v1/task/", body)
    assert response.status_code == 201, response.content


def prepare_failed(ctx):
    ctx.tasks = make_run(ctx.process, d=State.FAILED)


def restart(ctx):
    response = ctx.manager.post(f"/api/v1/task/{ctx.tasks['d'].id}/restart/")
    assert response.status_code == 201, response.content


def dead_agent_rule(ctx):
    silent = timezone.now() - timedelta(seconds=ctx.settings.PONOS_AGENT_TIMEOUT + 5)
    Agent.objects.filter(pk=ctx.agent.pk).update(last_ping=silent)
    other = AgentFactory(farm=ctx.farm, hostname="other")
    assert agent_client(other).get("/api/v1/agent/actions/").status_code == 200


def prepare_overrun(ctx):
    ctx.tasks = {"a": running(ctx, ttl=60, started=timezone.now() - timedelta(seconds=120))}


def ttl_rule(ctx):
    response = agent_client(ctx.agent).get("/api/v1/agent/actions/")
    assert response.json()["actions"] == [
        {"action": "stop_task", "task_id": str(ctx.tasks["a"].id)}
    ]


def prepare_expired(ctx):
    ctx.tasks = make_run(ctx.process, a=State.COMPLETED, b=State.COMPLETED)
    Task.objects.filter(process=ctx.process).update(expiry=timezone.now() - timedelta(days=1))


def cleanup(ctx):
    call_command("cleanup", stdout=None)


def rename_farm(ctx):
    Farm.objects.filter(pk=ctx.farm.pk).update(name="Renamed farm")


def rename_creator(ctx):
    type(ctx.contributor).objects.filter(pk=ctx.contributor.pk).update(display_name="Dora")


def state_of(slug, state):
    def shows(body, ctx):
        assert by_slug(body)[slug]["state"] == state

    return shows


WRITE_PATHS = {
    "PartialUpdateProcess name": (
        prepare_run,
        rename,
        lambda body, ctx: body["name"] == "Renamed" or pytest.fail(body["name"]),
    ),
    "StartProcess": (prepare_unstarted, start, shows_started),
    "RetryProcess": (
        prepare_finished,
        retry,
        lambda body, ctx: [t["run"] for t in body["tasks"]] == [0, 1] or pytest.fail(body),
    ),
    "StopProcess": (prepare_run, stop_process, state_of("a", "stopping")),
    "claim by an agent": (prepare_pending, claim, shows_claimed),
    "agent reports running": (prepare_claimed, report_running, state_of("c", "running")),
    "agent reports completed": (prepare_run, report_completed, shows_completed),
    "user stops a task": (prepare_run, stop_task, state_of("b", "stopped")),
    "CreateTask": (prepare_run, create_task, state_of("follow-up", "pending")),
    "RestartTask": (prepare_failed, restart, state_of("d_2", "pending")),
    "dead-agent rule": (prepare_run, dead_agent_rule, state_of("a", "error")),
    "ttl rule": (prepare_overrun, ttl_rule, state_of("a", "stopping")),
    "cleanup": (
        prepare_expired,
        cleanup,
        lambda body, ctx: body["tasks"] == [] or pytest.fail(body["tasks"]),
    ),
    "farm renamed": (
        prepare_run,
        rename_farm,
        lambda body, ctx: body["farm"]["name"] == "Renamed farm" or pytest.fail(body),
    ),
    "creator renamed": (
        prepare_run,
        rename_creator,
        lambda body, ctx: body["creator"]["display_name"] == "Dora" or pytest.fail(body),
    ),
}


@pytest.mark.parametrize("path", list(WRITE_PATHS))
def test_every_write_path_changes_the_etag_of_retrieve_process(path, ctx):
    prepare, write, shows = WRITE_PATHS[path]
    prepare(ctx)
    watch = Watch(client_for(ctx.contributor), process_url(ctx.process))
    etag = watch.tag()
    watch.unchanged(etag)

    write(ctx)

    body = watch.changed(etag)
    shows(body, ctx)
    # The full answer and the conditional one agree on the new tag.
    assert watch.get()["ETag"] == watch.get(etag)["ETag"]


@pytest.mark.parametrize("count", [1, 500])
def test_a_304_costs_two_statements_whatever_the_number_of_tasks(
    count, process, contributor, agent, django_assert_num_queries
):
    tasks = Task.objects.bulk_create(
        Task(process=process, run=0, slug=f"t{n:03}", image="i", state=State.PENDING)
        for n in range(count)
    )
    Task.objects.filter(pk=tasks[0].pk).update(agent=agent)
    make_run(process)
    watch = Watch(client_for(contributor), process_url(process))
    etag = watch.tag()

    # 1 the token with its user, 2 the readable process's revision, claimed tasks, farm
    # and creator names.
    with django_assert_num_queries(2):
        watch.unchanged(etag)


def test_the_etag_is_the_same_for_every_reader_and_a_stale_one_gets_the_body(
    process, contributor, guest, corpus_admin
):
    make_run(process, a=State.PENDING)
    tags = {Watch(client_for(user), process_url(process)).tag() for user in [contributor, guest]}
    assert len(tags) == 1
    watch = Watch(client_for(corpus_admin), process_url(process))
    body = watch.changed('"not-the-current-tag"')
    assert body["id"] == str(process.id)
    assert [task["slug"] for task in body["tasks"]] == ["a"]


@pytest.mark.parametrize("user", ["outsider", "farm_guest"])
def test_an_unreadable_process_is_404_even_with_its_etag(user, process, contributor, request):
    make_run(process, a=State.PENDING)
    etag = Watch(client_for(contributor), process_url(process)).tag()
    response = Watch(client_for(request.getfixturevalue(user)), process_url(process)).get(etag)
    assert response.status_code == 404
    assert "ETag" not in response


def test_if_none_match_lists_weak_tags_and_star(process, contributor):
    make_run(process, a=State.PENDING)
    watch = Watch(client_for(contributor), process_url(process))
    etag = watch.tag()
    assert watch.get(f'"other", W/{etag}').status_code == 304
    assert watch.get("*").status_code == 304
    # A malformed header is no condition at all: the full answer.
    response = watch.get("not a list of tags")
    assert response.status_code == 200 and response["ETag"] == etag
    unknown = Watch(
        client_for(contributor), "/api/v1/process/00000000-0000-4000-8000-0000000000a0/"
    )
    assert unknown.get(etag).status_code == 404


def test_a_change_rolled_back_leaves_the_etag_current(process, contributor):
    """A refused change takes the process lock, then rolls back with its revision."""
    make_run(process, a=State.COMPLETED)
    watch = Watch(client_for(contributor), process_url(process))
    etag = watch.tag()
    response = client_for(contributor).patch(process_url(process), {"state": "stopping"})
    assert response.status_code == 400
    watch.unchanged(etag)


# --- RetrieveTask ---------------------------------------------------------------------


def test_retrieve_task_304_and_what_changes_its_etag(ctx, django_assert_num_queries):
    ctx.tasks = make_run(ctx.process, c=State.PENDING)
    task = ctx.tasks["c"]
    watch = Watch(client_for(ctx.contributor), task_url(task))
    etag = watch.tag()
    # 1 the token with its user, 2 the task with its agent and GPU, 3 its parents.
    with django_assert_num_queries(3):
        watch.unchanged(etag)

    claim(ctx)
    body = watch.changed(etag)
    assert body["agent"] == {"id": str(ctx.agent.id), "hostname": ctx.agent.hostname}
    etag = watch.tag()

    report_running(ctx)
    body = watch.changed(etag)
    assert body["state"] == "running"
    etag = watch.tag()

    # The agent uploads its log straight to the storage: the tail is in the body.
    get_storage().put_bytes(
        ctx.settings.PONOS_LOGS_BUCKET, log_key(task.id), b"line 1\n", "text/plain"
    )
    body = watch.changed(etag)
    assert body["logs"] == "line 1\n"
    etag = watch.tag()

    Agent.objects.filter(pk=ctx.agent.pk).update(hostname="renamed-host")
    assert watch.changed(etag)["agent"]["hostname"] == "renamed-host"


def put_log(task, data=b"line 1\n"):
    get_storage().put_bytes(settings.PONOS_LOGS_BUCKET, log_key(task.id), data, "text/plain")


def test_retrieve_task_etag_ignores_the_fresh_signature_of_the_log_url(running_task, contributor):
    put_log(running_task)
    watch = Watch(client_for(contributor), task_url(running_task))
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        first = watch.get()
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        second = watch.get()
        watch.unchanged(first["ETag"])
    assert first.json()["full_log"] != second.json()["full_log"]
    assert first["ETag"] == second["ETag"]


def test_retrieve_task_etag_turns_over_with_the_url_expiry(running_task, contributor, settings):
    """A client revalidating for long keeps a log URL valid at least half the expiry."""
    settings.PONOS_URL_EXPIRY = 600
    put_log(running_task)
    watch = Watch(client_for(contributor), task_url(running_task))
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        etag = watch.tag()
    with time_machine.travel(start + timedelta(seconds=299), tick=False):
        watch.unchanged(etag)
    with time_machine.travel(start + timedelta(seconds=301), tick=False):
        assert watch.changed(etag)["full_log"]


def test_an_unreadable_task_is_404_even_with_its_etag(running_task, contributor, outsider):
    etag = Watch(client_for(contributor), task_url(running_task)).tag()
    assert Watch(client_for(outsider), task_url(running_task)).get(etag).status_code == 404


# --- ListProcesses --------------------------------------------------------------------


def test_list_processes_304_and_what_changes_its_etag(
    process, contributor, corpus, farm, django_assert_num_queries
):
    make_run(process, a=State.PENDING)
    watch = Watch(client_for(contributor), "/api/v1/process/")
    etag = watch.tag()
    # 1 the token with its user, 2 the count, 3 the page's rows.
    with django_assert_num_queries(3):
        watch.unchanged(etag)

    client_for(contributor).patch(process_url(process), {"name": "Renamed"})
    body = watch.changed(etag)
    assert [item["name"] for item in body["results"]] == ["Renamed"]
    etag = watch.tag()

    Task.objects.filter(process=process).update(state=State.RUNNING)
    make_run(process)
    assert watch.changed(etag)["results"][0]["state"] == "running"
    etag = watch.tag()

    ProcessFactory(corpus=corpus, creator=contributor, name="New one")
    body = watch.changed(etag)
    assert body["count"] == 2 and body["results"][0]["name"] == "New one"
    etag = watch.tag()

    Process.objects.filter(name="New one").delete()
    assert watch.changed(etag)["count"] == 1


def test_each_page_and_filter_has_its_own_etag(process, contributor, corpus):
    for n in range(3):
        ProcessFactory(corpus=corpus, creator=contributor, name=f"p{n}")
    client = client_for(contributor)
    first = Watch(client, "/api/v1/process/", {"page_size": 2}).tag()
    second = Watch(client, "/api/v1/process/", {"page_size": 2, "page": 2}).tag()
    named = Watch(client, "/api/v1/process/", {"page_size": 2, "name": "p1"}).tag()
    assert len({first, second, named}) == 3
    # The tag of one page is no condition on another.
    assert (
        Watch(client, "/api/v1/process/", {"page_size": 2, "page": 2}).get(first).status_code == 200
    )


def test_the_schema_documents_conditional_requests(api):
    schema = api.get("/api/v1/openapi/?format=json").json()
    for path in ["/api/v1/process/", "/api/v1/process/{id}/", "/api/v1/task/{id}/"]:
        operation = schema["paths"][path]["get"]
        assert "304" in operation["responses"], path
        assert "ETag" in operation["responses"]["200"]["headers"], path
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["If-None-Match"], path
    # Writes are not conditional.
    assert "304" not in schema["paths"]["/api/v1/process/{id}/"]["patch"]["responses"]


def test_admin_edits_change_the_etag(process, contributor, rf, superuser):
    """The admin's forms write rows directly: they do so under the process lock too."""
    from django.contrib import admin

    tasks = make_run(process, a=State.COMPLETED, b=State.COMPLETED)
    watch = Watch(client_for(contributor), process_url(process))
    request = rf.post("/admin/")
    request.user = superuser

    etag = watch.tag()
    task = Task.objects.get(pk=tasks["a"].pk)
    task.slug = "renamed-task"
    admin.site._registry[Task].save_model(request, task, form=None, change=True)
    assert "renamed-task" in by_slug(watch.changed(etag))

    etag = watch.tag()
    fresh = Process.objects.get(pk=process.pk)
    fresh.name = "Renamed in the admin"
    admin.site._registry[Process].save_model(request, fresh, form=None, change=True)
    assert watch.changed(etag)["name"] == "Renamed in the admin"

    etag = watch.tag()
    admin.site._registry[Task].delete_queryset(request, Task.objects.filter(pk=tasks["b"].pk))
    assert set(by_slug(watch.changed(etag))) == {"renamed-task"}
