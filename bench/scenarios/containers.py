"""7. The container executor: from the `start_task` of a trivial task to its end (its final
report), run by the agent in a container, against the engine's own run of the same image
(create, start, wait, logs, remove) measured in the same run, on Podman's Docker-compatible
service started for the scenario. The agent talks to a small fake of the API (the agent's
test double), so that only the agent and the engine are measured; the local executor's
figure is given for reference.
"""

import os
import shutil
import statistics
import tempfile
import time

from bench.report import Table, times

NUMBER = 7
TITLE = "Container executor: a trivial task, agent vs the engine's own run"
COMMAND = "echo hello"
TARGET = 1.3


def missing():
    if shutil.which("podman") is None:
        return "Podman is not installed (scripts/system-packages installs it)"
    return None


def engine_runs(engine, image, count):
    """Seconds of the engine's own run of the image, through its API, as `docker run --rm`."""
    durations = []
    for _ in range(count):
        started = time.monotonic()
        output = engine.client.containers.run(
            image, ["/bin/sh", "-c", COMMAND], remove=True, network_mode="host"
        )
        durations.append(time.monotonic() - started)
        assert output == b"hello\n", output
    return durations


def agent_runs(api, config, image, count):
    """Seconds from the poll announcing each task to its final report, one task at a time."""
    from tests.ponos.agent.conftest import AgentThread

    agent = AgentThread(config).start()
    durations = []
    try:
        for _ in range(count):
            task = api.add_task(COMMAND, image=image)
            api.wait_for_state(task, "completed", timeout=60)
            durations.append(task.ended_at - task.announced_at)
            assert "hello\n" in api.log_of(task)
    finally:
        agent.stop()
    return durations


def run(bench):
    from ponos.agent.config import make_config
    from tests.ponos.agent.engine import BUSYBOX_IMAGE, Engine
    from tests.ponos.agent.fake_api import FakeApi

    count = max(bench.config.runs * 3, 10)
    table = Table(
        NUMBER,
        TITLE,
        [
            ("what", "what"),
            ("runs", "runs"),
            ("median", "median s"),
            ("p90", "p90 s"),
            ("ratio", "vs engine"),
        ],
    )
    root = tempfile.mkdtemp(prefix="ponos-bench-engine-")
    engine = Engine(root).start()
    api = FakeApi().start()
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.url
    try:
        values = {
            "url": api.url,
            "farm": api.farm,
            "seed": api.seed,
            "hostname": "bench-host",
            "poll_interval": 0.05,
            "log_upload_interval": 5,
            "container": {"network": "host"},
        }
        # One warm-up of each, so that no figure pays for a first image lookup
        engine_runs(engine, BUSYBOX_IMAGE, 1)
        figures = {"engine": engine_runs(engine, BUSYBOX_IMAGE, count)}
        for executor in ("container", "local"):
            config = make_config(
                {**values, "executor": executor, "data_dir": f"{root}/agent-{executor}"}
            )
            agent_runs(api, config, BUSYBOX_IMAGE, 1)
            figures[executor] = agent_runs(api, config, BUSYBOX_IMAGE, count)
    finally:
        api.stop()
        engine.stop()
        shutil.rmtree(root, ignore_errors=True)
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous
    engine_median = statistics.median(figures["engine"])
    labels = {
        "engine": "engine's own run (create, start, wait, logs, remove)",
        "container": "agent, container executor (start_task to final report)",
        "local": "agent, local executor (reference)",
    }
    for key in ("engine", "container", "local"):
        durations = sorted(figures[key])
        median = statistics.median(durations)
        table.add(
            what=labels[key],
            runs=len(durations),
            median=median,
            p90=durations[int(0.9 * (len(durations) - 1))],
            ratio=times(median / engine_median),
        )
    ratio = statistics.median(figures["container"]) / engine_median
    table.check("container task vs engine run", times(ratio), f"<= {TARGET}x", ratio <= TARGET)
    table.notes.append(
        "the agent's figure also holds reading the definition, preparing the data directory, "
        "uploading the log and reporting running and completed to the API"
    )
    return table
