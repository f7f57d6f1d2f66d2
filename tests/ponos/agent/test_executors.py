"""What the executors are given, without an engine: the container's options (GPU, limits,
network, volumes, user), the container: section of the configuration, and resuming."""

import os
import signal
import stat

import pytest

from ponos.agent.config import ConfigError, load_config, make_config
from ponos.agent.executors.base import Executor, TaskError
from ponos.agent.executors.container import container_options
from tests.ponos.agent.helpers import read_pid, wait_until_dead
from tests.ponos.agent.test_cli import run_agent

DEFINITION = {
    "id": "5b0e1c7d-4f3a-4e8b-9a6d-2c1b0a9f8e7d",
    "image": "registry.example.com/worker:2",
    "command": "echo hello",
    "env": {"ARKINDEX_TASK_TOKEN": "task-token", "PONOS_TASK": "5b0e1c7d"},
    "shm_size": "1g",
    "gpu_id": None,
}


def config(tmp_path, **container):
    return make_config(
        {
            "url": "http://api.example.com",
            "farm": "farm",
            "seed": "seed",
            "data_dir": tmp_path,
            "executor": "container",
            "container": container,
        }
    )


def options(tmp_path, definition=DEFINITION, **container):
    env = Executor.task_env(definition, "/data")
    args = Executor.shell_command(definition)
    return container_options(
        config(tmp_path, **container),
        definition["id"],
        definition,
        tmp_path / "t",
        "agent-1",
        42,
        args,
        env,
    )


def test_a_container_gets_its_image_command_env_labels_and_data_only(tmp_path):
    kwargs = options(tmp_path)
    mounts = kwargs.pop("mounts")

    assert kwargs == {
        "image": "registry.example.com/worker:2",
        "command": ["/bin/sh", "-c", "echo hello"],
        "name": f"ponos-task-{DEFINITION['id']}",
        "labels": {
            "ponos.task": DEFINITION["id"],
            "ponos.agent": "agent-1",
            "ponos.log-offset": "42",
        },
        "environment": {
            "ARKINDEX_TASK_TOKEN": "task-token",
            "PONOS_TASK": "5b0e1c7d",
            "PONOS_DATA": "/data",
        },
        "working_dir": "/data",
        "user": f"{os.getuid()}:{os.getgid()}",
        "detach": True,
        "stdin_open": False,
        "tty": False,
        "privileged": False,
        "shm_size": "1g",
    }
    assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in mounts] == [
        ("/data", str(tmp_path / "t"), False)
    ]


def test_the_bound_gpu_alone_is_requested(tmp_path):
    kwargs = options(tmp_path, {**DEFINITION, "gpu_id": "GPU-3"})

    [request] = kwargs["device_requests"]
    assert request == {
        "Driver": "nvidia",
        "Count": 0,
        "DeviceIDs": ["GPU-3"],
        "Capabilities": [["gpu"]],
        "Options": {},
    }
    assert "device_requests" not in options(tmp_path)


def test_container_options_limits_network_volumes_and_user(tmp_path):
    kwargs = options(
        tmp_path,
        network="ponos",
        memory="2g",
        cpus=1.5,
        user="1000:1000",
        volumes=[
            {"source": "/srv/models", "destination": "/models"},
            {"source": "/srv/cache", "destination": "/cache", "read-only": False},
        ],
        gpu_driver="cdi",
    )

    assert (kwargs["network"], kwargs["mem_limit"], kwargs["nano_cpus"]) == (
        "ponos",
        "2g",
        1500000000,
    )
    assert kwargs["user"] == "1000:1000"
    assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in kwargs["mounts"]] == [
        ("/data", str(tmp_path / "t"), False),
        ("/models", "/srv/models", True),
        ("/cache", "/srv/cache", False),
    ]
    assert options(tmp_path, network="host")["network_mode"] == "host"


def test_commands_run_through_a_shell_in_both_executors():
    assert Executor.shell_command({"command": "a; b"}) == ["/bin/sh", "-c", "a; b"]
    assert Executor.shell_command({"command": ["python3", "-c", 1]}) == ["python3", "-c", "1"]
    with pytest.raises(TaskError, match="invalid command None"):
        Executor.shell_command({"command": None})


@pytest.mark.parametrize(
    "section, message",
    [
        ({"pull": "sometimes"}, "container.pull must be one of if-not-present, always, never"),
        ({"memory": "lots"}, "container.memory must be a size such as 512m or 2g"),
        ({"cpus": 0}, "container.cpus must be a positive number"),
        ({"privileged": True}, "Unknown container option 'privileged'"),
        (
            {"volumes": [{"source": "srv", "destination": "/x"}]},
            r"volumes\[0\].source must be an absolute",
        ),
        (
            {"volumes": [{"source": "/srv", "destination": "/data"}]},
            "/data is the task's own directory",
        ),
        ({"registries": [{"registry": "r.example.com"}]}, "must hold exactly registry, username"),
        ("host", "Setting container must be a mapping"),
    ],
)
def test_invalid_container_options_are_refused_with_the_option_to_fix(tmp_path, section, message):
    path = tmp_path / "agent.yml"
    path.write_text(f"executor: container\ncontainer: {section!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match=message):
        load_config(
            [
                "--config",
                str(path),
                "--url",
                "http://x",
                "--farm",
                "f",
                "--seed",
                "s",
                "--data-dir",
                "d",
            ]
        )


def test_executor_flag_takes_local_or_container(tmp_path, capsys):
    base = ["--url", "http://x", "--farm", "f", "--seed", "s", "--data-dir", str(tmp_path)]
    assert load_config(base).executor == "local"
    assert load_config([*base, "--executor", "container"]).executor == "container"
    with pytest.raises(SystemExit):
        load_config([*base, "--executor", "vm"])
    assert "invalid choice: 'vm'" in capsys.readouterr().err


def test_container_agent_without_an_engine_refuses_to_start(fake_api, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    agent = run_agent(fake_api, tmp_path / "data", "--executor", "container")
    _, stderr = agent.communicate(timeout=60)

    assert agent.returncode == 1
    assert (
        "Cannot use the container engine" in stderr or "Cannot reach the container engine" in stderr
    )
    assert fake_api.registrations == []


def test_local_agent_killed_resumes_and_reports_its_lost_task_in_error(fake_api, tmp_path):
    task = fake_api.add_task(
        'echo started; echo $$ > "$OUT/shell.pid"; sleep 300', env={"OUT": str(tmp_path)}
    )
    first = run_agent(fake_api, tmp_path / "data")
    second = None
    try:
        fake_api.wait_for_state(task, "running")
        shell = read_pid(tmp_path / "shell.pid")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = run_agent(fake_api, tmp_path / "data")
        fake_api.wait_for_state(task, "error")
        wait_until_dead(shell)
    finally:
        for agent in (first, second):
            if agent is not None and agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                agent.communicate(timeout=30)

    # Resumed with its saved token, owner-only: the server gave up on nothing
    assert len(fake_api.registrations) == 1
    assert stat.S_IMODE((tmp_path / "data" / "agent-token.json").stat().st_mode) == 0o600
    assert task.reports == ["running", "error"]
    assert fake_api.log_of(task).endswith(
        "started\n[ponos-agent] the agent restarted; the task's processes ended with its "
        "previous life\n"
    )
