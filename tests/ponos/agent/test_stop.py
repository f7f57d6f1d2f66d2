"""The agent ends tasks when the server asks, and answers every stop_task."""

import time

from tests.ponos.agent.helpers import is_alive, read_pid, wait_until_dead

# A shell that records its PID and that of a child in the background, then waits for it
SHELL_WITH_CHILD = (
    'echo $$ > "$OUT/shell.pid"; sleep 300 & echo $! > "$OUT/child.pid"; echo waiting; wait'
)


def test_stop_task_kills_the_task_process_group_and_reports_stopped(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task(SHELL_WITH_CHILD, env={"OUT": str(tmp_path)})
    start_agent()
    fake_api.wait_for_state(task, "running")
    shell, child = read_pid(tmp_path / "shell.pid"), read_pid(tmp_path / "child.pid")
    assert is_alive(shell) and is_alive(child)

    fake_api.set_state(task, "stopping")
    fake_api.wait_for_state(task, "stopped")

    wait_until_dead(shell)
    wait_until_dead(child)
    assert task.reports == ["running", "stopped"]
    log = fake_api.log_of(task)
    assert "waiting\n" in log
    assert log.endswith("[ponos-agent] stopped\n")


def test_stop_task_kills_a_task_ignoring_sigterm_after_the_grace_delay(
    fake_api, start_agent, tmp_path
):
    task = fake_api.add_task("trap '' TERM; " + SHELL_WITH_CHILD, env={"OUT": str(tmp_path)})
    start_agent(stop_grace=1.5)
    fake_api.wait_for_state(task, "running")
    shell, child = read_pid(tmp_path / "shell.pid"), read_pid(tmp_path / "child.pid")

    fake_api.set_state(task, "stopping")
    asked = time.monotonic()
    fake_api.wait_for(
        lambda: "stopping the task's processes" in fake_api.log_of(task), message="a SIGTERM"
    )
    # SIGTERM is ignored: both live on during the grace delay
    assert is_alive(shell) and is_alive(child)
    fake_api.wait_for_state(task, "stopped")

    assert time.monotonic() - asked >= 1.5
    wait_until_dead(shell)
    wait_until_dead(child)


def test_processes_left_in_the_background_end_with_the_task(fake_api, start_agent, tmp_path):
    task = fake_api.add_task(
        'sleep 300 > /dev/null 2>&1 & echo $! > "$OUT/child.pid"', env={"OUT": str(tmp_path)}
    )
    start_agent()
    fake_api.wait_for_state(task, "completed")

    wait_until_dead(read_pid(tmp_path / "child.pid"))


def test_stop_task_for_a_task_the_agent_does_not_run_is_answered_stopped(fake_api, start_agent):
    task = fake_api.add_task("true", state="stopping")
    start_agent()
    fake_api.wait_for_state(task, "stopped")

    assert task.reports == ["stopped"]
    assert task.definition_reads == 0


def test_stop_task_for_a_task_that_ended_is_answered_with_its_final_state(fake_api, start_agent):
    task = fake_api.add_task("exit 1")
    # The report of the end is lost to a refusal, leaving the task running on the server
    fake_api.refused_reports.add((task.id, "failed"))
    start_agent()
    fake_api.wait_for(lambda: "failed" in task.reports, message="the failed report")
    with fake_api.lock:
        fake_api.refused_reports.clear()
        task.state = "stopping"
    fake_api.wait_for_state(task, "failed")

    assert task.reports == ["running", "failed", "failed"]


def test_shutdown_stops_the_running_tasks(fake_api, start_agent, tmp_path):
    running = fake_api.add_task(SHELL_WITH_CHILD, env={"OUT": str(tmp_path)})
    agent = start_agent()
    fake_api.wait_for_state(running, "running")
    shell, child = read_pid(tmp_path / "shell.pid"), read_pid(tmp_path / "child.pid")

    agent.stop()

    assert not is_alive(shell) and not is_alive(child)
    # The server refuses `stopped` for a task it did not ask to stop: it gets `error`
    assert running.reports == ["running", "stopped", "error"]
    assert running.state == "error"
    assert "stopped as the agent shuts down" in fake_api.log_of(running)
    assert not agent.agent.groups.groups
