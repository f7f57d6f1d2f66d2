"""The task state machine of SPEC §5, function by function."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from ponos import states
from ponos.models import State, Task
from ponos.states import TransitionError, summarize
from tests.factories import AgentFactory, TaskFactory

ALL_STATES = list(State)


def make_run(process, *, run=0, **slug_states):
    """Tasks of one run by slug, with their states; parents wired by `link`."""
    tasks = {
        slug: TaskFactory(process=process, run=run, slug=slug, state=state)
        for slug, state in slug_states.items()
    }
    process.last_run = run
    process.save(update_fields=["last_run"])
    return tasks


def link(child, *parents):
    child.parents.add(*parents)


def state_of(task):
    task.refresh_from_db()
    return task.state


@pytest.mark.parametrize(
    ("task_states", "expected"),
    [
        ([], None),
        (["completed", "completed"], "completed"),
        (["unscheduled"], "unscheduled"),
        (["completed", "running", "failed"], "running"),
        (["completed", "failed", "unscheduled"], "failed"),
        (["error", "cancelled"], "error"),
        (["cancelled", "stopped", "completed"], "cancelled"),
        (["stopping", "stopped"], "stopping"),
        (["stopped", "pending", "completed"], "stopped"),
        (["pending", "unscheduled", "completed"], "pending"),
        (["unscheduled", "completed"], "unscheduled"),
    ],
)
def test_summary_takes_the_common_state_or_the_first_in_priority_order(task_states, expected):
    assert summarize(task_states) == expected


class TestAgentReports:
    @pytest.fixture
    def task(self, process, agent):
        task = make_run(process, only=State.PENDING)["only"]
        task.agent = agent
        task.save(update_fields=["agent"])
        return task

    @pytest.mark.parametrize("current", ALL_STATES)
    @pytest.mark.parametrize("requested", ALL_STATES)
    def test_agent_transition_table(self, task, agent, current, requested):
        Task.objects.filter(pk=task.pk).update(state=current)
        allowed = states.AGENT_TRANSITIONS.get(current, set())
        if requested == current and current in states.AGENT_REACHABLE:
            result = states.report_state(task.pk, requested, agent=agent)
            assert result.state == current
        elif requested in allowed:
            result = states.report_state(task.pk, requested, agent=agent)
            assert result.state == requested
        else:
            with pytest.raises(TransitionError) as error:
                states.report_state(task.pk, requested, agent=agent)
            assert error.value.detail["state"][0].code == "invalid_transition"
            assert state_of(task) == current

    def test_running_stamps_started_and_completed_stamps_finished(self, task, agent, process):
        states.report_state(task.pk, State.RUNNING, agent=agent)
        task.refresh_from_db()
        assert task.started is not None and task.finished is None
        process.refresh_from_db()
        assert process.state == State.RUNNING and process.finished is None
        states.report_state(task.pk, State.COMPLETED, agent=agent)
        task.refresh_from_db()
        process.refresh_from_db()
        assert task.finished is not None
        assert process.state == State.COMPLETED
        assert process.finished == task.finished

    def test_a_repeated_report_changes_nothing(self, task, agent):
        first = states.report_state(task.pk, State.RUNNING, agent=agent)
        again = states.report_state(task.pk, State.RUNNING, agent=agent)
        assert again.started == first.started

    def test_agent_cannot_report_on_a_task_it_does_not_hold(self, task, other_agent):
        with pytest.raises(TransitionError, match="no longer held"):
            states.report_state(task.pk, State.RUNNING, agent=other_agent)
        assert state_of(task) == State.PENDING

    def test_the_agent_report_wins_over_a_pending_stop(self, task, agent, process):
        states.report_state(task.pk, State.RUNNING, agent=agent)
        states.user_set_state(task.pk, State.STOPPING)
        assert state_of(task) == State.STOPPING
        states.report_state(task.pk, State.COMPLETED, agent=agent)
        assert state_of(task) == State.COMPLETED
        process.refresh_from_db()
        assert process.state == State.COMPLETED


class TestScheduling:
    def test_a_child_becomes_pending_only_when_all_its_parents_completed(self, process, agent):
        tasks = make_run(process, a=State.RUNNING, b=State.RUNNING, c=State.UNSCHEDULED)
        link(tasks["c"], tasks["a"], tasks["b"])
        Task.objects.filter(slug__in=["a", "b"]).update(agent=agent)
        states.report_state(tasks["a"].pk, State.COMPLETED, agent=agent)
        assert state_of(tasks["c"]) == State.UNSCHEDULED
        states.report_state(tasks["b"].pk, State.COMPLETED, agent=agent)
        assert state_of(tasks["c"]) == State.PENDING
        process.refresh_from_db()
        assert process.state == State.PENDING

    def test_a_failed_parent_leaves_the_process_failed_and_not_active(self, process, agent):
        tasks = make_run(process, a=State.RUNNING, b=State.UNSCHEDULED)
        link(tasks["b"], tasks["a"])
        Task.objects.filter(pk=tasks["a"].pk).update(agent=agent)
        states.report_state(tasks["a"].pk, State.FAILED, agent=agent)
        process.refresh_from_db()
        assert state_of(tasks["b"]) == State.UNSCHEDULED
        assert process.state == State.FAILED
        assert process.finished is not None

    def test_only_the_last_run_counts(self, process):
        make_run(process, run=0, old=State.FAILED)
        make_run(process, run=1, new=State.COMPLETED)
        states.refresh_process(process.pk)
        process.refresh_from_db()
        assert process.state == State.COMPLETED

    def test_a_process_whose_tasks_were_removed_keeps_its_state(self, process):
        make_run(process, only=State.FAILED)
        states.refresh_process(process.pk)
        Task.objects.filter(process=process).delete()
        states.refresh_process(process.pk)
        process.refresh_from_db()
        assert process.state == State.FAILED

    @pytest.mark.django_db(transaction=True)
    def test_two_parents_completing_at_once_schedule_the_child_once(
        self, process, agent, other_agent
    ):
        tasks = make_run(process, a=State.RUNNING, b=State.RUNNING, c=State.UNSCHEDULED)
        link(tasks["c"], tasks["a"], tasks["b"])
        other_agent.farm = agent.farm
        other_agent.save()
        Task.objects.filter(pk=tasks["a"].pk).update(agent=agent)
        Task.objects.filter(pk=tasks["b"].pk).update(agent=other_agent)
        barrier = threading.Barrier(2)
        errors = []

        def complete(task, holder):
            try:
                barrier.wait()
                states.report_state(task.pk, State.COMPLETED, agent=holder)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=complete, args=(tasks["a"], agent)),
            threading.Thread(target=complete, args=(tasks["b"], other_agent)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        child = Task.objects.get(pk=tasks["c"].pk)
        assert child.state == State.PENDING
        process.refresh_from_db()
        assert process.state == State.PENDING


class TestUserStops:
    def test_stopping_a_task_stops_its_unscheduled_descendants(self, process, agent):
        tasks = make_run(
            process, a=State.RUNNING, b=State.UNSCHEDULED, c=State.UNSCHEDULED, d=State.PENDING
        )
        link(tasks["b"], tasks["a"])
        link(tasks["c"], tasks["b"])
        Task.objects.filter(pk=tasks["a"].pk).update(agent=agent)
        states.user_set_state(tasks["a"].pk, State.STOPPING)
        assert state_of(tasks["a"]) == State.STOPPING
        assert state_of(tasks["b"]) == State.STOPPED
        assert state_of(tasks["c"]) == State.STOPPED
        assert state_of(tasks["d"]) == State.PENDING

    def test_an_unheld_pending_task_stops_at_once(self, process):
        task = make_run(process, a=State.PENDING)["a"]
        states.user_set_state(task.pk, State.STOPPING)
        task.refresh_from_db()
        assert task.state == State.STOPPED and task.finished is not None

    @pytest.mark.parametrize("final", sorted(states.FINAL_STATES - {State.STOPPED}))
    def test_a_final_task_cannot_be_stopped(self, process, final):
        task = make_run(process, a=final)["a"]
        with pytest.raises(TransitionError, match="cannot be stopped"):
            states.user_set_state(task.pk, State.STOPPING)

    def test_users_only_send_stopping(self, process):
        task = make_run(process, a=State.PENDING)["a"]
        with pytest.raises(TransitionError, match="only set the state to stopping"):
            states.user_set_state(task.pk, State.COMPLETED)
        assert state_of(task) == State.PENDING

    def test_stopping_a_process_stops_each_task_of_its_last_run(self, process, agent):
        old = make_run(process, run=0, old=State.UNSCHEDULED)["old"]
        tasks = make_run(
            process,
            run=1,
            running=State.RUNNING,
            held=State.PENDING,
            queued=State.PENDING,
            waiting=State.UNSCHEDULED,
            done=State.COMPLETED,
        )
        Task.objects.filter(slug__in=["running", "held"]).update(agent=agent)
        states.refresh_process(process.pk)
        result = states.stop_process(process.pk)
        assert result.state == State.STOPPING
        assert state_of(tasks["running"]) == State.STOPPING
        assert state_of(tasks["held"]) == State.STOPPING
        assert state_of(tasks["queued"]) == State.STOPPED
        assert state_of(tasks["waiting"]) == State.STOPPED
        assert state_of(tasks["done"]) == State.COMPLETED
        assert state_of(old) == State.UNSCHEDULED
        # Stopping again is a no-op.
        assert states.stop_process(process.pk).state == State.STOPPING

    def test_stopping_again_a_process_whose_summary_reads_failed_is_a_no_op(self, process, agent):
        tasks = make_run(process, running=State.RUNNING, broken=State.FAILED)
        Task.objects.filter(pk=tasks["running"].pk).update(agent=agent)
        states.refresh_process(process.pk)
        first = states.stop_process(process.pk)
        # The failed task outranks the stopping one in the summary.
        assert first.state == State.FAILED
        again = states.stop_process(process.pk)
        assert again.state == State.FAILED
        assert state_of(tasks["running"]) == State.STOPPING

    def test_a_process_that_is_not_active_cannot_be_stopped(self, process):
        make_run(process, a=State.COMPLETED)
        states.refresh_process(process.pk)
        with pytest.raises(TransitionError, match="Only an active process"):
            states.stop_process(process.pk)


class TestBackendRules:
    def test_a_task_past_its_ttl_is_stopped_and_lands_cancelled(self, process, agent):
        task = make_run(process, a=State.RUNNING)["a"]
        Task.objects.filter(pk=task.pk).update(
            agent=agent, ttl=60, started=timezone.now() - timedelta(seconds=61)
        )
        assert states.stop_overruns() == 1
        task.refresh_from_db()
        assert task.state == State.STOPPING and task.ttl_exceeded
        states.report_state(task.pk, State.STOPPED, agent=agent)
        assert state_of(task) == State.CANCELLED
        # The agent's retried report is a no-op.
        assert states.report_state(task.pk, State.STOPPED, agent=agent).state == State.CANCELLED
        process.refresh_from_db()
        assert process.state == State.CANCELLED

    def test_a_task_within_its_ttl_keeps_running(self, process, agent):
        task = make_run(process, a=State.RUNNING)["a"]
        Task.objects.filter(pk=task.pk).update(agent=agent, ttl=60, started=timezone.now())
        assert states.stop_overruns() == 0
        assert state_of(task) == State.RUNNING

    def test_the_dead_agent_rule(self, process, farm):
        agent = AgentFactory(farm=farm)
        tasks = make_run(
            process, held=State.PENDING, running=State.RUNNING, stopping=State.STOPPING
        )
        Task.objects.filter(process=process).update(agent=agent)
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            agent.last_ping = timezone.now()
            agent.save(update_fields=["last_ping"])
            assert states.release_dead_agents() == 0
            traveller.shift(timedelta(seconds=121))
            assert states.release_dead_agents() == 3
        held = Task.objects.get(pk=tasks["held"].pk)
        assert held.state == State.PENDING and held.agent is None
        assert state_of(tasks["running"]) == State.ERROR
        assert state_of(tasks["stopping"]) == State.STOPPED
        process.refresh_from_db()
        assert process.state == State.ERROR
