"""A container agent killed with SIGKILL: its containers live on, and its next life resumes
with its token, adopts the tasks it still holds and ends each of them exactly once."""

import os
import re
import signal
import stat
import subprocess

import yaml

from ponos.agent.config import make_config
from tests.ponos.agent.conftest import AgentThread
from tests.ponos.agent.engine import BUSYBOX_IMAGE
from tests.ponos.agent.fake_api import FakeApi
from tests.ponos.agent.helpers import ROOT, agent_command

COUNT = 'for i in $(seq 1 30); do echo "line $i"; sleep 0.1; done'


def run_container_agent(fake_api, engine, data_dir, log_path):
    config = data_dir.parent / "agent.yml"
    config.write_text(yaml.safe_dump({"executor": "container", "container": {"network": "host"}}))
    return subprocess.Popen(
        agent_command(
            fake_api,
            data_dir,
            "restarted-host",
            "--config",
            str(config),
            "--log-upload-interval",
            "0.1",
            "--stop-grace",
            "2",
        ),
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.url},
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "a"),
    )


def stop_agents(fake_api, engine, *agents):
    """Stop the agent processes still running (None for one never started), and remove every
    container of the fake API's agent."""
    for agent in agents:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
    engine.remove_containers(**{"ponos.agent": fake_api.agent_id})


def test_agent_killed_with_sigkill_adopts_its_containers_and_each_task_ends_once(
    fake_api, engine, tmp_path
):
    counters = [
        fake_api.add_task(COUNT, image=BUSYBOX_IMAGE, slug=f"count{index}") for index in range(2)
    ]
    failing = fake_api.add_task("sleep 3; echo bye; exit 4", image=BUSYBOX_IMAGE, slug="failing")
    given_up = fake_api.add_task("echo 'given up'; sleep 300", image=BUSYBOX_IMAGE, slug="given")
    stopped = fake_api.add_task("echo waiting; sleep 300", image=BUSYBOX_IMAGE, slug="stopped")
    tasks = [*counters, failing, given_up, stopped]
    data_dir = tmp_path / "data"
    log_path = tmp_path / "agent.log"
    first = run_container_agent(fake_api, engine, data_dir, log_path)
    second = None
    try:
        for task in tasks:
            fake_api.wait_for_state(task, "running")
        for task in counters:
            fake_api.wait_for(lambda task=task: "line 3\n" in fake_api.log_of(task), 30, "output")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # Its containers live on; meanwhile the server gave up on one task (it does when an
        # agent stops pinging) and a user asked to stop another
        assert len(engine.containers(**{"ponos.agent": fake_api.agent_id})) == 5
        fake_api.set_state(given_up, "error")
        fake_api.set_state(stopped, "stopping")

        second = run_container_agent(fake_api, engine, data_dir, log_path)
        for task in counters:
            fake_api.wait_for_state(task, "completed")
        fake_api.wait_for_state(failing, "failed")
        fake_api.wait_for_state(stopped, "stopped")
        fake_api.wait_for(
            lambda: not engine.containers(**{"ponos.task": given_up.id}), 20, "the removal"
        )
    finally:
        stop_agents(fake_api, engine, first, second)

    agent_log = log_path.read_text()
    # The second life resumed with the saved token: no registration, nothing given up
    assert len(fake_api.registrations) == 1, agent_log
    token_file = data_dir / "agent-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for task in counters:
        log = fake_api.log_of(task)
        # The whole output, each line once and in order, then the end reported once
        assert re.findall(r"line \d+", log) == [f"line {i}" for i in range(1, 31)], log
        assert log.count(f"[ponos-agent] image: {BUSYBOX_IMAGE}\n") == 1
        assert log.endswith(
            "line 30\n[ponos-agent] the agent restarted while the task ran, and followed it "
            "to its end\n[ponos-agent] exit code 0\n"
        )
        assert task.reports == ["running", "completed"]
        assert task.exit_codes == [None, 0]
    assert fake_api.log_of(failing).endswith("bye\n" + ("[ponos-agent] the agent restarted "
        "while the task ran, and followed it to its end\n[ponos-agent] exit code 4\n"))  # fmt: skip
    assert failing.reports == ["running", "failed"]
    assert stopped.reports == ["running", "stopped"]
    assert fake_api.log_of(stopped).startswith(f"[ponos-agent] image: {BUSYBOX_IMAGE}\n")
    assert "waiting\n" in fake_api.log_of(stopped)
    # Given up by the server: removed without a report
    assert given_up.reports == ["running"]
    assert f"Removing what is left of task {given_up.id} (error)" in agent_log
    assert engine.containers(**{"ponos.agent": fake_api.agent_id}) == []
    assert sorted(path.name for path in data_dir.iterdir()) == [
        "agent-token.json", "agent.pid", "logs"
    ]  # fmt: skip
    assert list((data_dir / "logs").iterdir()) == []


def test_two_agents_on_one_engine_leave_each_other_s_containers_alone(
    fake_api, container_config, engine, tmp_path
):
    other_api = FakeApi(farm="6f1d2c3b-0a9e-4b8d-8c7f-5e4d3c2b1a09", seed="other-seed").start()
    agents = []
    try:
        mine = fake_api.add_task("echo mine; sleep 300", image=BUSYBOX_IMAGE)
        theirs = other_api.add_task("echo theirs; sleep 300", image=BUSYBOX_IMAGE)
        agents.append(AgentThread(container_config()).start())
        fake_api.wait_for_state(mine, "running")
        other_config = make_config(
            {
                **{f: getattr(container_config(), f) for f in ("poll_interval", "stop_grace")},
                "url": other_api.url,
                "farm": other_api.farm,
                "seed": other_api.seed,
                "data_dir": tmp_path / "other",
                "hostname": "other-host",
                "executor": "container",
                "container": {"network": "host"},
                "log_upload_interval": 0.1,
            }
        )
        # Each start looks for its previous life's containers: by its own agent ID only
        agents.append(AgentThread(other_config).start())
        other_api.wait_for_state(theirs, "running")
        agents[1].stop()
        # Stopped at shutdown: reported stopped, then error when refused (as from running)
        assert theirs.reports == ["running", "stopped", "error"]
        assert other_api.log_of(theirs).endswith("[ponos-agent] stopped as the agent shuts down\n")
        agents[1] = AgentThread(other_config).start()
        other_api.wait_for(lambda: len(other_api.polls) > 2, message="polls of the other agent")

        assert mine.state == "running"
        [container] = engine.containers(**{"ponos.task": mine.id})
        assert container.status == "running"
        assert container.labels["ponos.agent"] == fake_api.agent_id != other_api.agent_id
        fake_api.set_state(mine, "stopping")
        fake_api.wait_for_state(mine, "stopped")
        assert "mine\n" in fake_api.log_of(mine) and "theirs\n" in other_api.log_of(theirs)
    finally:
        for agent in agents:
            agent.stop()
        other_api.stop()
        for api in (fake_api, other_api):
            left = engine.containers(**{"ponos.agent": api.agent_id})
            engine.remove_containers(**{"ponos.agent": api.agent_id})
            assert left == []


def test_a_container_that_ended_while_its_agent_was_dead_is_reported_by_the_next_life(
    fake_api, engine, tmp_path
):
    task = fake_api.add_task("echo begun; sleep 1; echo done; exit 5", image=BUSYBOX_IMAGE)
    data_dir = tmp_path / "data"
    log_path = tmp_path / "agent.log"
    first = run_container_agent(fake_api, engine, data_dir, log_path)
    second = None
    try:
        fake_api.wait_for_state(task, "running")
        first.send_signal(signal.SIGSTOP)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        [container] = engine.containers(**{"ponos.task": task.id})
        container.wait(timeout=30)
        second = run_container_agent(fake_api, engine, data_dir, log_path)
        fake_api.wait_for_state(task, "failed")
    finally:
        stop_agents(fake_api, engine, first, second)

    assert "begun\ndone\n" in fake_api.log_of(task), log_path.read_text()
    assert fake_api.log_of(task).endswith("[ponos-agent] exit code 5\n")
    assert task.reports == ["running", "failed"]
    assert task.exit_codes == [None, 5]
