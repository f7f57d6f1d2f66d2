"""The agent survives an unavailable server, a revoked token and refused reports."""

import pytest

from ponos.agent.api import Refused
from ponos.agent.main import Agent
from tests.ponos.agent.helpers import read_pid, wait_until_dead


def test_agent_retries_until_the_server_answers(fake_api, start_agent):
    fake_api.failures = 6
    task = fake_api.add_task("echo done")
    start_agent()
    fake_api.wait_for_state(task, "completed")

    assert fake_api.failures == 0
    assert len(fake_api.registrations) == 1
    assert "done\n" in fake_api.log_of(task)


def test_errors_while_a_task_runs_are_retried(fake_api, start_agent):
    task = fake_api.add_task('echo x > "$PONOS_DATA/current/x.txt"')
    fake_api.fail("GET", "/definition/", 2)
    fake_api.fail("PATCH", f"/{task.id}/", 2)
    fake_api.fail("POST", "/artifacts/", 2)
    fake_api.fail("PUT", "/x.txt", 2)
    fake_api.fail("POST", "/log/", 2)
    fake_api.fail("PUT", ".log.d/0000000000000000", 2)
    start_agent()
    fake_api.wait_for_state(task, "completed")

    assert [failure[2] for failure in fake_api.failing] == [0, 0, 0, 0, 0, 0]
    assert fake_api.stored_artifact(task, "x.txt")[0] == b"x\n"
    assert task.artifacts["x.txt"]["size"] == 2
    assert task.reports == ["running", "completed"]
    assert "[ponos-agent] exit code 0" in fake_api.log_of(task)


def test_agent_with_a_wrong_seed_refuses_to_start(agent_config):
    agent = Agent(agent_config(seed="not the seed"))

    with pytest.raises(Refused, match="HTTP 403"):
        agent.run()


def test_agent_registers_again_when_its_token_is_refused(fake_api, start_agent):
    start_agent()
    fake_api.wait_for(lambda: len(fake_api.polls) >= 1, message="a poll")
    fake_api.revoke_token()
    fake_api.wait_for(lambda: len(fake_api.registrations) == 2, message="a new registration")
    polls = len(fake_api.polls)
    fake_api.wait_for(lambda: len(fake_api.polls) > polls + 2, message="polls with the new token")

    assert fake_api.unauthorized == 1
    assert len(fake_api.registrations) == 2


def test_agent_registering_again_abandons_the_tasks_it_ran(fake_api, start_agent, tmp_path):
    task = fake_api.add_task('echo $$ > "$OUT/shell.pid"; sleep 300', env={"OUT": str(tmp_path)})
    start_agent()
    fake_api.wait_for_state(task, "running")
    shell = read_pid(tmp_path / "shell.pid")

    fake_api.revoke_token()
    fake_api.wait_for(lambda: len(fake_api.registrations) == 2, message="a new registration")

    # The server put the task in error when the agent registered again: its process must go,
    # and nothing is reported about it any more
    wait_until_dead(shell)
    assert task.state == "error"
    assert task.reports == ["running"]


def test_refused_report_is_dropped_and_a_task_is_never_started_twice(
    fake_api, start_agent, tmp_path
):
    # The server refuses `running`: the task stays pending and is announced on every poll
    task = fake_api.add_task('echo run >> "$OUT/runs"; sleep 0.5', env={"OUT": str(tmp_path)})
    fake_api.refused_reports.add((task.id, "running"))

    def give_up_when_completed(task, state):
        # Without this, the next poll would hand the still pending task out again
        if state == "completed":
            task.state = "error"

    fake_api.after_report = give_up_when_completed
    start_agent()
    fake_api.wait_for(lambda: len(task.reports) == 2, message="two reports")
    polls = len(fake_api.polls)
    fake_api.wait_for(lambda: len(fake_api.polls) > polls + 3, message="more polls")

    assert task.reports == ["running", "completed"]
    assert task.definition_reads == 1
    assert (tmp_path / "runs").read_text() == "run\n"


def test_log_is_uploaded_while_the_task_runs(fake_api, start_agent, tmp_path):
    task = fake_api.add_task(
        'echo started; while [ ! -e "$OUT/go" ]; do sleep 0.05; done; echo ended',
        env={"OUT": str(tmp_path)},
    )
    start_agent()
    fake_api.wait_for(
        lambda: task.state == "running" and "started\n" in fake_api.log_of(task),
        message="a log upload while running",
    )
    assert "ended" not in fake_api.log_of(task)
    (tmp_path / "go").touch()
    fake_api.wait_for_state(task, "completed")

    assert "ended\n" in fake_api.log_of(task)


def test_a_failed_log_piece_is_sent_again_from_the_same_offset_with_a_fresh_url(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task(
        'echo first; while [ ! -e "$OUT/go" ]; do sleep 0.05; done; echo second',
        env={"OUT": str(tmp_path)},
    )
    # The storage fails the first two uploads of the piece at offset 0
    fake_api.fail("PUT", ".log.d/0000000000000000", 2)
    start_agent()
    fake_api.wait_for(lambda: fake_api.log_uploads, message="a first log piece")
    (tmp_path / "go").touch()
    fake_api.wait_for_state(task, "completed")

    first_offsets = [piece for piece in fake_api.log_pieces if piece[1] == 0]
    # Asked three times, each with a URL of its own; stored once
    assert len(first_offsets) == 3
    assert fake_api.log_uploads[0][0] == f"logs/{task.id}.log.d/0000000000000000"
    assert task.definition_reads == 1
    log = fake_api.log_of(task)
    assert log.index("second\n") > log.index("first\n")
    assert log.endswith("[ponos-agent] exit code 0\n")


def test_a_late_start_task_for_a_task_that_ended_never_runs_it_again(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task('echo run >> "$OUT/runs"', env={"OUT": str(tmp_path)})
    start_agent()
    fake_api.wait_for_state(task, "completed")
    reads = task.definition_reads
    # As a poll answered before the task's end was reported, arriving after it
    fake_api.extra_actions = [{"action": "start_task", "task_id": task.id}]
    polls = len(fake_api.polls)
    fake_api.wait_for(lambda: len(fake_api.polls) > polls + 5, message="more polls")

    assert (tmp_path / "runs").read_text() == "run\n"
    assert task.definition_reads == reads
    assert task.reports == ["running", "completed"]
