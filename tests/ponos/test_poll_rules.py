"""The rules a poll applies inside its transaction (SPEC §5, §6): the dead-agent rule for
the tasks of every silent agent, the ttl rule for the polling agent's own tasks, and the
claim that follows them, against the real PostgreSQL of the test suite; and polls at once
on SQLite, the embedded default, in a subprocess."""

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ponos.models import GPU, Agent, State, Task
from ponos.states import refresh_process
from process.models import Process
from tests.conftest import agent_client
from tests.e2e.helpers import clean_environ
from tests.factories import AgentFactory, ProcessFactory, TaskFactory

URL = "/api/v1/agent/actions/"


def poll(agent):
    response = agent_client(agent).get(URL)
    assert response.status_code == 200, response.content
    return response.json()["actions"]


def start(*tasks):
    return [{"action": "start_task", "task_id": str(task.id)} for task in tasks]


def stop(*tasks):
    return [{"action": "stop_task", "task_id": str(task.id)} for task in tasks]


def started_process(contributor, corpus, farm, *, age=0):
    """A started process, created `age` seconds ago (processes lock newest first)."""
    process = ProcessFactory(corpus=corpus, creator=contributor, farm=farm)
    Process.objects.filter(pk=process.pk).update(
        last_run=0, started=timezone.now(), created=timezone.now() - timedelta(seconds=age)
    )
    return process


def silent(agent, settings):
    """The agent last pinged longer than PONOS_AGENT_TIMEOUT ago."""
    ping = timezone.now() - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT + 5)
    Agent.objects.filter(pk=agent.pk).update(last_ping=ping)


def overrunning(process, slug, agent, **fields):
    """A running task of `agent` started two minutes ago with a one-minute ttl."""
    started = timezone.now() - timedelta(seconds=120)
    return TaskFactory(
        process=process,
        slug=slug,
        state=State.RUNNING,
        agent=agent,
        ttl=60,
        started=started,
        **fields,
    )


def waiters():
    """How many connections wait on a lock (pg_locks, unlike pg_stat_activity, is read
    afresh at each query of a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def queue_order(task):
    return (-task.priority, task.created, str(task.pk))


def in_thread(call):
    """Run `call` in a thread with its own connection; returns (thread, results)."""
    results = []

    def run():
        try:
            results.append(call())
        except Exception as error:  # reported by the test's assertions
            results.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def waiting(count):
    """Wait until `count` other connections wait on a lock."""
    deadline = time.monotonic() + 10
    while waiters() < count:
        assert time.monotonic() < deadline, f"Never {count} connections waiting on a lock"
        time.sleep(0.02)


@pytest.mark.postgresql  # reads pg_locks to order the two transactions
@pytest.mark.django_db(transaction=True)
def test_a_poll_applying_both_rules_never_deadlocks_with_a_registration(
    api, contributor, corpus, farm, settings
):
    """An agent restarting registers again: the state machine releases what it held, process
    by process, newest first, in the registration's transaction. A poll that releases a
    dead agent's task in an older process and stops its own overrun in a newer one must not
    hold the older process while it waits for the newer one, or each waits for the other
    until PostgreSQL aborts the poll."""
    older = started_process(contributor, corpus, farm, age=60)
    newer = started_process(contributor, corpus, farm)
    restarting = AgentFactory(farm=farm, hostname="restarting", last_ping=timezone.now())
    dead = AgentFactory(farm=farm, hostname="dead")
    poller = AgentFactory(farm=farm, hostname="poller")
    silent(dead, settings)
    held_newer = TaskFactory(process=newer, slug="held", state=State.PENDING, agent=restarting)
    held_older = TaskFactory(process=older, slug="held", state=State.PENDING, agent=restarting)
    lost = TaskFactory(process=older, slug="lost", state=State.PENDING, agent=dead)
    slow = overrunning(newer, "slow", poller)
    registration = {
        "farm": str(farm.id),
        "seed": farm.seed,
        "hostname": "restarting",
        "cpu_cores": 4,
        "cpu_frequency": 2_000_000_000,
        "ram_total": 16 * 1024**3,
        "gpus": [],
    }

    with transaction.atomic():
        # Hold the registration between its two processes: it locked the newer process and
        # waits for this task of it.
        Task.objects.select_for_update().get(pk=held_newer.pk)
        registering, registered = in_thread(
            lambda: api.post("/api/v1/agent/", registration, format="json")
        )
        waiting(1)
        polling, polled = in_thread(lambda: agent_client(poller).get(URL))
        waiting(2)
    for thread in (registering, polling):
        thread.join(timeout=30)
        assert not thread.is_alive()

    for name, [response], code in (("registration", registered, 200), ("poll", polled, 200)):
        assert not isinstance(response, Exception), (name, response)
        assert response.status_code == code, (name, response.content)
    slow.refresh_from_db()
    assert (slow.state, slow.ttl_exceeded) == (State.STOPPING, True)
    # The poll waited for the registration, which put back in the queue everything the
    # restarting agent held; the dead agent's task went back too, and the poller, with
    # three free slots, took all three.
    requeued = Task.objects.filter(pk__in=[held_newer.pk, held_older.pk, lost.pk])
    assert {(task.state, task.agent_id) for task in requeued} == {(State.PENDING, poller.pk)}
    assert polled[0].json()["actions"] == start(*sorted(requeued, key=queue_order)) + stop(slow)


@pytest.mark.django_db
def test_another_agents_poll_releases_a_dead_agents_tasks_by_their_state(
    contributor, corpus, farm, settings
):
    process = started_process(contributor, corpus, farm)
    dead = AgentFactory(farm=farm, hostname="dead")
    dead_gpu = GPU.objects.create(agent=dead, gpu_id="GPU-0", name="T4", index=0, ram_total=1)
    poller = AgentFactory(farm=farm, hostname="poller", cpu_cores=2)
    poller_gpu = GPU.objects.create(agent=poller, gpu_id="GPU-0", name="T4", index=0, ram_total=1)
    silent(dead, settings)
    held = TaskFactory(
        process=process,
        slug="held",
        state=State.PENDING,
        agent=dead,
        requires_gpu=True,
        gpu=dead_gpu,
    )
    running = TaskFactory(process=process, slug="running", state=State.RUNNING, agent=dead)
    stopping = TaskFactory(process=process, slug="stopping", state=State.STOPPING, agent=dead)
    overran = TaskFactory(
        process=process, slug="overran", state=State.STOPPING, agent=dead, ttl_exceeded=True
    )
    done = TaskFactory(process=process, slug="done", state=State.COMPLETED, agent=dead)
    refresh_process(process.pk)

    # The requeued GPU task leaves the dead agent's GPU, and the poller binds it to its own.
    assert poll(poller) == start(held)
    rows = {task.slug: task for task in Task.objects.filter(process=process)}
    assert (rows["held"].state, rows["held"].agent_id, rows["held"].gpu_id) == (
        State.PENDING,
        poller.pk,
        poller_gpu.pk,
    )
    assert rows["running"].state == State.ERROR
    assert rows["stopping"].state == State.STOPPED
    # A task the backend was stopping for its ttl lands cancelled, as if the agent had
    # reported it stopped.
    assert rows["overran"].state == State.CANCELLED
    for slug in ("running", "stopping", "overran"):
        assert rows[slug].finished is not None
        assert rows[slug].agent_id == dead.pk
    assert (rows["done"].state, rows["done"].updated) == (State.COMPLETED, done.updated)
    # The process summary follows its tasks, in the poll's transaction.
    process.refresh_from_db()
    assert (process.state, process.finished) == (State.ERROR, None)
    # Nothing is left to release: the next poll only announces what the poller holds.
    assert poll(poller) == start(held)
    assert {running.pk, stopping.pk, overran.pk}.isdisjoint(
        Task.objects.filter(agent=poller).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_poll_releases_many_tasks_of_a_process_in_the_same_queries_as_one(
    contributor, corpus, farm, settings, django_assert_num_queries
):
    poller = AgentFactory(farm=farm, hostname="poller", cpu_cores=1)
    # Keep the poller full: the claim's queries are counted elsewhere.
    busy = started_process(contributor, corpus, farm)
    TaskFactory(process=busy, slug="busy", state=State.RUNNING, agent=poller)

    def release(count):
        process = started_process(contributor, corpus, farm)
        dead = AgentFactory(farm=farm)
        silent(dead, settings)
        for n in range(count):
            TaskFactory(process=process, slug=f"held-{n}", state=State.PENDING, agent=dead)
            TaskFactory(process=process, slug=f"running-{n}", state=State.RUNNING, agent=dead)
        return process, dead

    # Agent token; savepoint; ping; the active tasks of the poller and of dead agents; the
    # processes to lock, in order; then the state machine for the one process: the tasks
    # still held by dead agents, its savepoint, its lock, its tasks' locks, one UPDATE per
    # outcome, its summary and its update, its savepoint's release; the poller's tasks read
    # again; the poll's savepoint released; the UPDATE turning the worker activities the
    # errored tasks left started to error (SPEC §11).
    for count in (1, 5):
        process, dead = release(count)
        with django_assert_num_queries(17):
            assert poll(poller) == []
        assert set(process.tasks.values_list("state", "agent_id")) == {
            (State.PENDING, None),
            (State.ERROR, dead.pk),
        }


@pytest.mark.django_db
def test_a_poll_stops_the_overruns_of_its_own_agent_only(contributor, corpus, farm):
    process = started_process(contributor, corpus, farm)
    poller = AgentFactory(farm=farm, hostname="poller", cpu_cores=3)
    other = AgentFactory(farm=farm, hostname="other", last_ping=timezone.now())
    mine = overrunning(process, "mine", poller)
    theirs = overrunning(process, "theirs", other)
    long_ago = timezone.now() - timedelta(days=1)
    # Only running tasks overrun: neither a held pending task nor a stopping one, whatever
    # their ttl and start; nor a task without ttl.
    held = TaskFactory(process=process, slug="held", state=State.PENDING, agent=poller, ttl=60)
    stopping = TaskFactory(
        process=process,
        slug="stopping",
        state=State.STOPPING,
        agent=poller,
        ttl=60,
        started=long_ago,
    )
    endless = TaskFactory(
        process=process, slug="endless", state=State.RUNNING, agent=other, started=long_ago
    )
    waiting = TaskFactory(process=process, slug="waiting", state=State.PENDING)

    # The stopped overrun still counts against the poller's cores: nothing new is taken.
    assert poll(poller) == start(held) + stop(*sorted([mine, stopping], key=queue_order))
    states = dict(Task.objects.values_list("slug", "state"))
    assert states == {
        "mine": State.STOPPING,
        "theirs": State.RUNNING,
        "held": State.PENDING,
        "stopping": State.STOPPING,
        "endless": State.RUNNING,
        "waiting": State.PENDING,
    }
    mine.refresh_from_db()
    stopping.refresh_from_db()
    assert (mine.ttl_exceeded, stopping.ttl_exceeded) == (True, False)
    assert Task.objects.get(pk=waiting.pk).agent_id is None
    # The other agent's overrun is stopped at its own poll, which has room for the waiting
    # task.
    assert poll(other) == start(waiting) + stop(theirs)
    assert Task.objects.get(pk=endless.pk).state == State.RUNNING


ROUNDS = 3
POLLERS = 16


@pytest.mark.django_db(transaction=True)
def test_many_polls_at_once_apply_both_rules_once_and_never_fail(
    contributor, corpus, farm, settings
):
    """Each poller has an overrun in two processes; dead agents held tasks in the older one.
    Polls that release them and stop their overruns run next to polls that found nothing to
    release: none fails, each released task is handled once and taken by one poller."""
    for round_ in range(ROUNDS):
        older = started_process(contributor, corpus, farm, age=60)
        newer = started_process(contributor, corpus, farm)
        pollers = [
            AgentFactory(
                farm=farm, hostname=f"poller-{round_}-{n}", cpu_cores=3, last_ping=timezone.now()
            )
            for n in range(POLLERS)
        ]
        for poller in pollers:
            overrunning(older, f"old-{poller.hostname}", poller)
            overrunning(newer, f"new-{poller.hostname}", poller)
        lost = []
        for n in range(4):
            dead = AgentFactory(farm=farm, hostname=f"dead-{round_}-{n}")
            silent(dead, settings)
            lost.append(
                TaskFactory(process=older, slug=f"lost-{n}", state=State.PENDING, agent=dead)
            )
            TaskFactory(process=older, slug=f"crashed-{n}", state=State.RUNNING, agent=dead)
        refresh_process(older.pk)
        refresh_process(newer.pk)

        barrier = threading.Barrier(POLLERS)

        def poll_together(agent, barrier=barrier):
            barrier.wait(timeout=10)
            return agent_client(agent).get(URL)

        threads = [in_thread(partial(poll_together, poller)) for poller in pollers]
        answers = {}
        for poller, (thread, results) in zip(pollers, threads, strict=True):
            thread.join(timeout=60)
            [response] = results
            assert not isinstance(response, Exception), response
            assert response.status_code == 200, response.content
            answers[poller.pk] = response.json()["actions"]

        started = [a["task_id"] for actions in answers.values() for a in actions]
        started = [task_id for task_id in started if task_id in {str(t.pk) for t in lost}]
        # Each lost task went back to the queue once and to one poller at most.
        assert len(started) == len(set(started))
        holders = dict(
            Task.objects.filter(pk__in=[t.pk for t in lost]).values_list("pk", "agent_id")
        )
        assert {str(pk) for pk, agent in holders.items() if agent is not None} == set(started)
        assert set(holders.values()) <= {None, *(p.pk for p in pollers)}
        assert set(
            older.tasks.filter(slug__startswith="crashed").values_list("state", flat=True)
        ) == {State.ERROR}
        for poller in pollers:
            mine = Task.objects.filter(agent=poller, state=State.STOPPING, ttl_exceeded=True)
            assert mine.count() == 2
            assert [a for a in answers[poller.pk] if a["action"] == "stop_task"] == stop(
                *sorted(mine, key=queue_order)
            )
        # Each summary follows its tasks: every overrun stops, the crashed tasks errored.
        older.refresh_from_db()
        newer.refresh_from_db()
        assert (older.state, newer.state) == (State.ERROR, State.STOPPING)


@pytest.mark.postgresql  # a PL/pgSQL trigger plays the other claimer
@pytest.mark.django_db
def test_a_claim_that_misses_a_candidate_announces_only_what_the_agent_got(process, agent):
    """Neither PostgreSQL (candidates are read locked) nor SQLite (immediate transactions
    serialize polls) lets a candidate go between the read and the claim. Should one ever,
    the conditional claim leaves it, and the poll announces only what it really got. A
    trigger stands for the other claimer: it leaves one candidate's row untouched."""
    agent.cpu_cores = 3
    agent.save()
    gpu = GPU.objects.create(agent=agent, gpu_id="GPU-0", name="T4", index=0, ram_total=1)
    first = TaskFactory(process=process, slug="first", state=State.PENDING, priority=30)
    contested = TaskFactory(process=process, slug="contested", state=State.PENDING, priority=20)
    on_gpu = TaskFactory(
        process=process, slug="on-gpu", state=State.PENDING, priority=10, requires_gpu=True
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION claimed_elsewhere() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF OLD.slug = 'contested' AND NEW.agent_id IS NOT NULL THEN
                    RETURN NULL;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER claimed_elsewhere BEFORE UPDATE ON ponos_task
                FOR EACH ROW EXECUTE FUNCTION claimed_elsewhere();
            """
        )
    assert poll(agent) == start(first, on_gpu)
    rows = {task.slug: (task.agent_id, task.gpu_id) for task in Task.objects.all()}
    assert rows == {
        "first": (agent.pk, None),
        "contested": (None, None),
        "on-gpu": (agent.pk, gpu.pk),
    }
    # The missed task waits for the next poll, which has a free slot for it.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER claimed_elsewhere ON ponos_task")
    assert poll(agent) == start(first, contested, on_gpu)


# Run in a subprocess on a SQLite database: migrate, then many polls at once through the
# API. SQLite has no row locks; its immediate transactions serialize the polls instead.
SQLITE_POLLS = """
import json, threading
from datetime import timedelta

import django

django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

call_command("migrate", verbosity=0)

from ponos.agents import register_agent
from ponos.models import Agent, Farm, State, Task
from tests.factories import ProcessFactory, TaskFactory

AGENTS, GPU_AGENTS, CORES = 12, 3, 3
farm = Farm.objects.create(name="farm")
user = get_user_model().objects.create_user("owner@example.com")
process = ProcessFactory(creator=user, farm=farm, mode="repository", last_run=0)
agents = {}
for n in range(AGENTS):
    gpus = [{"gpu_id": "GPU-0", "name": "T4", "index": 0, "ram_total": 1}] if n < GPU_AGENTS else []
    agent, token, _ = register_agent(
        farm.id, farm.seed, f"host-{n}", cpu_cores=CORES, cpu_frequency=1, ram_total=1, gpus=gpus
    )
    agents[str(agent.pk)] = token
    TaskFactory(
        process=process, slug=f"slow-{n}", state=State.RUNNING, agent=agent, ttl=60,
        started=timezone.now() - timedelta(seconds=120),
    )
dead, _token, _ = register_agent(
    farm.id, farm.seed, "dead", cpu_cores=1, cpu_frequency=1, ram_total=1
)
Agent.objects.filter(pk=dead.pk).update(last_ping=timezone.now() - timedelta(days=1))
TaskFactory(process=process, slug="lost", state=State.PENDING, agent=dead, priority=99)
TaskFactory(process=process, slug="crashed", state=State.RUNNING, agent=dead)
for n in range(40):
    TaskFactory(process=process, slug=f"cpu-{n}", state=State.PENDING)
for n in range(5):
    TaskFactory(
        process=process, slug=f"gpu-{n}", state=State.PENDING, requires_gpu=True, priority=50
    )

barrier = threading.Barrier(AGENTS)
answers, errors = {}, []

def run(agent_id, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    try:
        barrier.wait(timeout=30)
        response = client.get("/api/v1/agent/actions/")
        assert response.status_code == 200, response.content
        answers[agent_id] = response.json()["actions"]
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

threads = [threading.Thread(target=run, args=item) for item in agents.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
tasks = Task.objects.values_list(
    "pk", "slug", "state", "agent_id", "gpu_id", "gpu__agent_id", "ttl_exceeded"
)
print(json.dumps({
    "answers": answers,
    "errors": errors,
    "tasks": [[str(value) if value is not None else None for value in row] for row in tasks],
}))
"""


TASK_COLUMNS = ("slug", "state", "agent_id", "gpu", "gpu_agent", "ttl_exceeded")
# Where the subprocess finds the project's modules
ROOT = Path(__file__).resolve().parents[2]


def test_polls_at_once_on_sqlite_share_no_task(tmp_path):
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="tests.settings",
        ARKINDEX_DATABASE_URL=f"sqlite:///{tmp_path / 'arkindex.sqlite3'}",
        ARKINDEX_STORAGE_DIR=tmp_path / "storage",
    )
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_POLLS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["errors"] == []
    assert len(out["answers"]) == 12
    tasks = {pk: dict(zip(TASK_COLUMNS, row, strict=True)) for pk, *row in out["tasks"]}

    announced = {}
    for agent_id, actions in out["answers"].items():
        for action in actions:
            if action["action"] == "start_task":
                assert action["task_id"] not in announced, "A task was given to two agents"
                announced[action["task_id"]] = agent_id
                # What is announced is held, pending, by that agent.
                assert tasks[action["task_id"]]["agent_id"] == agent_id
                assert tasks[action["task_id"]]["state"] == State.PENDING
            else:
                # Each agent is told to stop its own overrun.
                assert tasks[action["task_id"]]["agent_id"] == agent_id
                assert tasks[action["task_id"]]["slug"].startswith("slow-")
        # Its overrun still takes one of its three cores: two new tasks each.
        assert len([a for a in actions if a["action"] == "start_task"]) == 2
        assert len([a for a in actions if a["action"] == "stop_task"]) == 1
    held = {pk for pk, task in tasks.items() if task["state"] == State.PENDING and task["agent_id"]}
    assert held == set(announced)
    by_slug = {task["slug"]: task for task in tasks.values()}
    # The dead agent's pending task went back to the queue and, first in it, was taken.
    assert by_slug["lost"]["agent_id"] in out["answers"]
    assert by_slug["crashed"]["state"] == State.ERROR
    for slug, task in by_slug.items():
        if slug.startswith("slow-"):
            assert (task["state"], task["ttl_exceeded"]) == (State.STOPPING, "True")
    gpu_tasks = [task for slug, task in by_slug.items() if slug.startswith("gpu-") and task["gpu"]]
    # The first GPU tasks in the queue went to the three GPU agents, each bound to its own
    # agent's GPU, one per GPU; the other GPU tasks wait, unheld.
    assert len(gpu_tasks) == 3
    assert all(
        task["agent_id"] is None
        for slug, task in by_slug.items()
        if slug.startswith("gpu-") and not task["gpu"]
    )
    assert all(task["gpu_agent"] == task["agent_id"] for task in gpu_tasks)
    assert len({task["gpu"] for task in gpu_tasks}) == len(gpu_tasks)
