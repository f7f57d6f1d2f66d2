"""The rules a poll applies inside its transaction (SPEC §5, §6): the dead-agent rule for
the tasks of every silent agent, the ttl rule for the polling agent's own tasks, and the
claim that follows them, against the real PostgreSQL of the test suite."""

import threading
import time
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ponos.models import Agent, State, Task
from ponos.states import refresh_process
from process.models import Process
from tests.conftest import agent_client
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
    # again; the poll's savepoint released.
    for count in (1, 5):
        process, dead = release(count)
        with django_assert_num_queries(16):
            assert poll(poller) == []
        assert set(process.tasks.values_list("state", "agent_id")) == {
            (State.PENDING, None),
            (State.ERROR, dead.pk),
        }


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
