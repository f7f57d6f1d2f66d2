"""The agent as operators run it: one per data directory, cleaning up after a previous life,
stopping its tasks on SIGTERM."""

import json
import os
import signal
import subprocess
import sys

import pytest

from ponos.agent.datadir import AlreadyRunning, process_start_time
from ponos.agent.main import Agent
from tests.ponos.agent.helpers import ROOT, agent_command, is_alive, read_pid, wait_until_dead


def run_agent(fake_api, data_dir, *extra):
    return subprocess.Popen(
        agent_command(fake_api, data_dir, "cli-host", *extra),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_agent_imports_nothing_from_django_or_the_project():
    code = (
        "import sys, ponos.agent.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'rest_framework', "
        "'arkindex', 'process'}) + [m for m in sys.modules if m.startswith('ponos.') "
        "and not m.startswith('ponos.agent')])"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_second_agent_on_the_same_data_dir_refuses_to_start(fake_api, start_agent, agent_config):
    first = start_agent()
    fake_api.wait_for(lambda: fake_api.polls, message="a poll")
    pid_file = first.agent.config.data_dir / "agent.pid"

    with pytest.raises(AlreadyRunning, match=rf"Another agent \(PID {os.getpid()}\)"):
        Agent(agent_config(hostname="another-host")).run()
    second = run_agent(fake_api, first.agent.config.data_dir)
    _, stderr = second.communicate(timeout=30)

    assert second.returncode == 1
    assert f"Another agent (PID {os.getpid()}) already runs" in stderr
    assert len(fake_api.registrations) == 1
    # The first agent is unharmed
    assert pid_file.read_text() == f"{os.getpid()}\n"
    polls = len(fake_api.polls)
    fake_api.wait_for(lambda: len(fake_api.polls) > polls, message="another poll")


def test_stale_pid_file_does_not_block_a_start(fake_api, start_agent, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # The PID of a dead agent, or of an unrelated process that got it since
    (data_dir / "agent.pid").write_text("1\n")
    start_agent()
    fake_api.wait_for(lambda: fake_api.polls, message="a poll")

    assert (data_dir / "agent.pid").read_text() == f"{os.getpid()}\n"


def test_agent_kills_the_process_groups_left_by_its_previous_life(fake_api, start_agent, tmp_path):
    leftover = subprocess.Popen(["sleep", "300"], start_new_session=True)
    # A recorded group whose ID now belongs to another process must be left alone
    unrelated = subprocess.Popen(["sleep", "300"], start_new_session=True)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    old_task_dir = data_dir / "0b1a7c56-9e1f-4bb0-8f43-2b8f0f6f2c11"
    (old_task_dir / "current").mkdir(parents=True)
    groups = {
        "leftover": {"pgid": leftover.pid, "start_time": process_start_time(leftover.pid)},
        "reused": {"pgid": unrelated.pid, "start_time": process_start_time(unrelated.pid) - 1},
    }
    (data_dir / "agent-state.json").write_text(json.dumps({"groups": groups}))
    try:
        start_agent()
        fake_api.wait_for(lambda: fake_api.polls, message="a poll")

        assert leftover.wait(timeout=10) == -signal.SIGKILL
        assert unrelated.poll() is None
    finally:
        for process in (leftover, unrelated):
            process.kill()
            process.wait()
    assert json.loads((data_dir / "agent-state.json").read_text()) == {"groups": {}}
    assert not old_task_dir.exists()


def test_agent_records_the_process_groups_of_its_tasks(fake_api, start_agent, tmp_path):
    task = fake_api.add_task('echo $$ > "$OUT/shell.pid"; sleep 300', env={"OUT": str(tmp_path)})
    start_agent()
    fake_api.wait_for_state(task, "running")
    shell = read_pid(tmp_path / "shell.pid")

    state = json.loads((tmp_path / "data" / "agent-state.json").read_text())
    assert state["groups"][task.id]["pgid"] == shell
    assert state["groups"][task.id]["start_time"] == process_start_time(shell)


def test_agent_process_stops_its_tasks_and_exits_on_sigterm(fake_api, tmp_path):
    task = fake_api.add_task('echo $$ > "$OUT/shell.pid"; sleep 300', env={"OUT": str(tmp_path)})
    agent = run_agent(fake_api, tmp_path / "data")
    try:
        fake_api.wait_for_state(task, "running")
        shell = read_pid(tmp_path / "shell.pid")
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()

    assert agent.returncode == 0, stderr
    assert not is_alive(shell)
    assert task.reports == ["running", "stopped", "error"]
    assert "Agent stopped" in stderr
    assert (tmp_path / "data" / "agent.pid").read_text() == ""


def test_agent_process_with_a_wrong_seed_exits_with_an_explanation(fake_api, tmp_path):
    agent = run_agent(fake_api, tmp_path / "data", "--seed", "wrong")
    _, stderr = agent.communicate(timeout=30)

    assert agent.returncode == 1
    assert "Registration was refused with HTTP 403" in stderr
    assert "check --url, --farm and --seed" in stderr


def test_agent_process_without_a_seed_says_what_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ponos.agent", "--url", "http://localhost:8000", "--farm", "f"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 2
    assert "Missing settings: --seed, --data-dir" in result.stderr
    assert not (tmp_path / "data").exists()


def test_processes_left_by_a_killed_agent_are_ended_by_the_next_one(fake_api, tmp_path):
    task = fake_api.add_task('echo $$ > "$OUT/shell.pid"; sleep 300', env={"OUT": str(tmp_path)})
    first = run_agent(fake_api, tmp_path / "data")
    try:
        fake_api.wait_for_state(task, "running")
        shell = read_pid(tmp_path / "shell.pid")
        first.kill()
        first.communicate(timeout=30)
        assert is_alive(shell)

        fake_api.set_state(task, "error")
        second = run_agent(fake_api, tmp_path / "data")
        try:
            wait_until_dead(shell)
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 0
