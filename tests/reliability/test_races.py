"""Races on real PostgreSQL: requests sent at the same moment from threads, each on its own
database connection, through the whole HTTP stack. Whatever the interleaving, the outcome
is one of the consistent ones, and the process state agrees with its tasks.

Each race runs several rounds on fresh objects, to meet more than one interleaving.
Races tested elsewhere, listed in the README: two agents registering one hostname
(tests/ponos/test_create_agent_api.py), two parents completing at once
(tests/ponos/test_state_machine.py), two starts and two retries of one process
(tests/process/test_builder.py), many agents polling at once
(tests/ponos/test_assignment_concurrency.py).
"""

import threading
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from ponos.models import ACTIVE_STATES, Agent, State, Task
from ponos.states import refresh_process, summarize
from process.models import Process
from tests.conftest import agent_client, client_for, task_client
from tests.factories import AgentFactory, ProcessFactory, TaskFactory
from tests.ponos.storage.fixtures import use_local_storage

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 4


def race(*calls):
    """Run every call in its own thread, released together; their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # reported by the caller's assertions
            results[index] = error
        finally:
            # Each thread has its own connection: close it before the test flushes tables.
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "A request never finished"
    return results


def request(client, method, path, body=None):
    """A request for `race` to send from one of its threads."""
    return partial(getattr(client, method), path, body, format="json")


def status(result):
    assert not isinstance(result, Exception), result
    return result.status_code


def started_process(contributor, corpus, farm, **tasks):
    """A started process whose run 0 holds `tasks` ({slug: fields}), state refreshed."""
    process = ProcessFactory(corpus=corpus, creator=contributor, farm=farm)
    made = {
        slug: TaskFactory(process=process, slug=slug, **fields) for slug, fields in tasks.items()
    }
    Process.objects.filter(pk=process.pk).update(last_run=0, started=timezone.now())
    refresh_process(process.pk)
    return process, made


def assert_consistent(process):
    """The stored process state is the summary of its last run, and `finished` is set
    exactly when that run is no longer active."""
    process.refresh_from_db()
    states = set(
        Task.objects.filter(process=process, run=process.last_run, restarts__isnull=True)
        .order_by()
        .values_list("state", flat=True)
    )
    assert process.state == summarize(states), (process.state, states)
    assert (process.finished is None) is bool(states & ACTIVE_STATES), (process.finished, states)


def alive(*agents):
    Agent.objects.filter(pk__in=[agent.pk for agent in agents]).update(last_ping=timezone.now())


def test_a_stop_racing_an_assignment_and_a_completed_report_has_one_outcome(
    contributor, corpus, farm
):
    for round_ in range(ROUNDS):
        runner = AgentFactory(farm=farm, hostname=f"runner-{round_}", cpu_cores=4)
        poller = AgentFactory(farm=farm, hostname=f"poller-{round_}", cpu_cores=4)
        alive(runner, poller)
        process, tasks = started_process(
            contributor,
            corpus,
            farm,
            a={"state": State.RUNNING, "agent": runner, "started": timezone.now()},
            b={"state": State.PENDING},
            c={"state": State.UNSCHEDULED},
        )
        tasks["c"].parents.add(tasks["a"])

        stop, poll, report = race(
            request(
                client_for(contributor),
                "patch",
                f"/api/v1/process/{process.id}/",
                {"state": "stopping"},
            ),
            request(agent_client(poller), "get", "/api/v1/agent/actions/"),
            request(
                agent_client(runner),
                "patch",
                f"/api/v1/task/{tasks['a'].id}/",
                {"state": "completed"},
            ),
        )

        assert (status(stop), status(poll), status(report)) == (200, 200, 200)
        final = {task.slug: task for task in Task.objects.filter(process=process)}
        # The agent's report wins over the stop: the task had ended.
        assert final["a"].state == State.COMPLETED
        # b was assigned then stopped, or stopped before anyone took it; c, scheduled by
        # a's completion or not, was stopped either way (or assigned in between, then
        # stopped): nothing of the run can start any more.
        for slug in ("b", "c"):
            task = final[slug]
            assert (task.state, task.agent_id) in {
                (State.STOPPING, poller.id),
                (State.STOPPED, None),
            }, (slug, task.state, task.agent_id)
        assert_consistent(process)
        # The poller is told to stop what it holds, and given nothing new.
        actions = agent_client(poller).get("/api/v1/agent/actions/").json()["actions"]
        held = [str(task.id) for task in final.values() if task.agent_id == poller.id]
        assert sorted((action["action"], action["task_id"]) for action in actions) == sorted(
            ("stop_task", pk) for pk in held
        )


def test_create_task_racing_a_stop_never_leaves_a_task_that_can_start(
    contributor, corpus, farm, agent
):
    outcomes = set()
    for round_ in range(ROUNDS):
        alive(agent)
        process, tasks = started_process(
            contributor,
            corpus,
            farm,
            main={"state": State.RUNNING, "agent": agent, "started": timezone.now()},
        )
        create, stop = race(
            request(
                task_client(tasks["main"]),
                "post",
                "/api/v1/task/",
                {"process_id": str(process.id), "slug": f"new-{round_}", "image": "alpine"},
            ),
            request(
                client_for(contributor),
                "patch",
                f"/api/v1/process/{process.id}/",
                {"state": "stopping"},
            ),
        )

        assert status(stop) == 200
        created = Task.objects.filter(process=process, slug=f"new-{round_}").first()
        if status(create) == 201:
            # Created before the stop, which stopped it (nobody held it yet).
            assert created.state == State.STOPPED
            outcomes.add("created, then stopped")
        else:
            assert status(create) == 400, create.content
            assert "stopping" in create.json()["errors"][0]["detail"]
            assert created is None
            outcomes.add("refused")
        assert Task.objects.get(pk=tasks["main"].pk).state == State.STOPPING
        assert not Task.objects.filter(
            process=process, state__in=[State.PENDING, State.UNSCHEDULED]
        ).exists()
        assert_consistent(process)
    assert outcomes


def test_two_restarts_of_one_task_at_once_make_one_copy(contributor, corpus, farm):
    for _round in range(ROUNDS):
        process, tasks = started_process(
            contributor,
            corpus,
            farm,
            ok={"state": State.COMPLETED},
            broken={"state": State.FAILED, "finished": timezone.now()},
            child={"state": State.UNSCHEDULED},
        )
        tasks["child"].parents.add(tasks["broken"])
        url = f"/api/v1/task/{tasks['broken'].id}/restart/"

        results = race(*[request(client_for(contributor), "post", url) for _ in range(2)])

        assert sorted(status(result) for result in results) == [201, 400]
        refused = next(result for result in results if result.status_code == 400)
        assert "already restarted" in refused.json()["errors"][0]["detail"]
        copies = Task.objects.filter(original_task=tasks["broken"])
        assert [copy.slug for copy in copies] == ["broken_2"]
        assert copies[0].state == State.PENDING
        # The child waits for the copy, once.
        assert list(tasks["child"].parents.values_list("slug", flat=True)) == ["broken_2"]
        assert_consistent(process)
        assert Process.objects.get(pk=process.pk).state == State.PENDING


def lose_to_the_timeout(agent, settings):
    """The agent has not pinged for longer than PONOS_AGENT_TIMEOUT."""
    silent = timezone.now() - timedelta(seconds=settings.PONOS_AGENT_TIMEOUT + 5)
    Agent.objects.filter(pk=agent.pk).update(last_ping=silent)


def test_a_report_for_a_task_lost_to_the_timeout_is_refused(contributor, corpus, farm, settings):
    late = AgentFactory(farm=farm, hostname="late")
    other = AgentFactory(farm=farm, hostname="other")
    alive(late, other)
    process, tasks = started_process(
        contributor,
        corpus,
        farm,
        running={"state": State.RUNNING, "agent": late, "started": timezone.now()},
        held={"state": State.PENDING, "agent": late},
    )
    lose_to_the_timeout(late, settings)

    # Another agent's poll applies the dead-agent rule, and takes the requeued task.
    actions = agent_client(other).get("/api/v1/agent/actions/").json()["actions"]
    assert actions == [{"action": "start_task", "task_id": str(tasks["held"].id)}]

    late_client = agent_client(late)
    report = late_client.patch(
        f"/api/v1/task/{tasks['running'].id}/", {"state": "completed"}, format="json"
    )
    assert report.status_code == 400
    assert report.json()["errors"][0]["attr"] == ["state"]
    # The requeued task is another agent's now: the late agent cannot even see it.
    report = late_client.patch(
        f"/api/v1/task/{tasks['held'].id}/", {"state": "running"}, format="json"
    )
    assert report.status_code == 404
    running, held = (Task.objects.get(pk=tasks[slug].pk) for slug in ("running", "held"))
    assert running.state == State.ERROR
    assert (held.state, held.agent_id) == (State.PENDING, other.id)
    assert_consistent(process)


def test_a_late_report_racing_the_timeout_rule_has_one_outcome(contributor, corpus, farm, settings):
    outcomes = set()
    for round_ in range(ROUNDS):
        late = AgentFactory(farm=farm, hostname=f"late-{round_}")
        other = AgentFactory(farm=farm, hostname=f"other-{round_}")
        alive(late, other)
        process, tasks = started_process(
            contributor,
            corpus,
            farm,
            main={"state": State.RUNNING, "agent": late, "started": timezone.now()},
        )
        lose_to_the_timeout(late, settings)

        report, poll = race(
            request(
                agent_client(late),
                "patch",
                f"/api/v1/task/{tasks['main'].id}/",
                {"state": "completed"},
            ),
            request(agent_client(other), "get", "/api/v1/agent/actions/"),
        )

        assert status(poll) == 200
        state = Task.objects.get(pk=tasks["main"].pk).state
        # The report came first and the rule found nothing to do, or the rule came first
        # and the report was refused: never both applied.
        if status(report) == 200:
            assert state == State.COMPLETED
            outcomes.add("reported")
        else:
            assert status(report) == 400, report.content
            assert state == State.ERROR
            outcomes.add("refused")
        assert_consistent(process)
    assert outcomes


def test_two_assemblers_of_one_log_run_one_after_the_other(
    contributor, corpus, farm, settings, tmp_path
):
    """The task's own job and cleanup (on another node) assembling the same log: the second
    waits for the first's claim on the pieces, then finds nothing left to do, and never
    writes the log again from pieces the first was deleting."""
    from django.db import transaction

    from ponos.logs import assemble_log
    from ponos.models import LogPiece
    from ponos.storage import log_key, log_piece_key

    storage = use_local_storage(settings, tmp_path / "storage", "http://testserver")
    process, tasks = started_process(contributor, corpus, farm, a={"state": State.FAILED})
    task = tasks["a"]
    for offset, data in ((0, b"first\n"), (6, b"second\n")):
        LogPiece.objects.create(task=task, offset=offset, size=len(data))
        storage.put_bytes(storage.logs_bucket, log_piece_key(task.id, offset), data, "text/plain")
    claimed, release, results = threading.Event(), threading.Event(), {}

    def first():
        # An assembler that holds the claim until the second one is waiting for it
        try:
            with transaction.atomic():
                list(LogPiece.objects.select_for_update().filter(task=task))
                claimed.set()
                assert release.wait(timeout=10)
                results["first"] = assemble_log(task.id)
        finally:
            connection.close()

    def second():
        try:
            results["second"] = assemble_log(task.id)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert claimed.wait(timeout=10)
    threads[1].start()
    # The second assembler waits on the claim (it would be done in milliseconds otherwise)
    threads[1].join(timeout=0.5)
    assert threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    assert results == {"first": 2, "second": 0}
    assert sorted(info.key for info in storage.list_objects(storage.logs_bucket)) == [
        log_key(task.id)
    ]
    assert storage.read_tail(storage.logs_bucket, log_key(task.id), 100) == b"first\nsecond\n"
    assert not LogPiece.objects.filter(task=task).exists()
