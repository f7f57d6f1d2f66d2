"""The demo's workers, each task in a container of the demo's image, run by a container agent
against the API served by gunicorn (SQLite and the local storage, as `make run`)."""

import pytest
import yaml

from process.bootstrap import DEMO_IMAGE, DEMO_VERSIONS
from tests.e2e.stack import Stack, tasks_by_slug

CONTAINER_AGENT = "e2e-container-agent"
# Tasks outliving it are stopped by the server and land as cancelled
TTL = 15


@pytest.fixture
def container_stack(engine, tmp_path):
    # The demo's image, built from Debian's packages under the name its versions use
    engine.build_python(f"docker.io/library/{DEMO_IMAGE}")
    stack = Stack("sqlite-local", tmp_path)
    stack.env["PONOS_DEFAULT_TTL"] = str(TTL)
    try:
        stack.start()
        farm_id, seed = stack.create_farm("Containers")
        config = tmp_path / "container-agent.yml"
        # The host's network: tasks reach the API on loopback
        config.write_text(yaml.safe_dump({"container": {"network": "host"}}))
        stack.container_farm = farm_id
        stack.container_agent = stack.start_agent(
            CONTAINER_AGENT,
            farm_id=farm_id,
            seed=seed,
            options=["--executor", "container", "--config", str(config)],
            env={"DOCKER_HOST": engine.url},
        )
        yield stack
    finally:
        stack.stop()


def create_versions(api, roles):
    worker = api.post("workers/", {"name": "Demo worker", "slug": "demo", "type": "demo"})
    versions = {}
    for role, command in roles.items():
        version = api.post(
            f"workers/{worker['id']}/versions/", {"docker_image": DEMO_IMAGE, "command": command}
        )
        versions[role] = version["id"]
    return versions


def start_process(stack, corpus, name, runs, versions):
    process = stack.api.post("process/", {"mode": "workers", "corpus": corpus, "name": name})
    worker_runs = []
    for role, parents in runs:
        body = {"version": versions[role], "parents": [worker_runs[i] for i in parents]}
        worker_runs.append(stack.api.post(f"process/{process['id']}/workers/", body)["id"])
    stack.api.post(f"process/{process['id']}/start/", {"farm": stack.container_farm}, expected=200)
    return process["id"]


def test_the_demo_workers_run_in_containers_and_a_task_past_its_ttl_is_cancelled(
    container_stack, engine
):
    stack = container_stack
    corpus = stack.api.post("corpus/", {"name": "Container corpus"})["id"]
    roles = {role: command for role, (_description, command) in DEMO_VERSIONS.items()}
    roles["sleep"] = "echo sleeping; sleep 300"
    versions = create_versions(stack.api, roles)

    demo = start_process(
        stack, corpus, "Demo in containers", [("write", []), ("read", [0])], versions
    )
    overrun = start_process(stack, corpus, "Past its ttl", [("sleep", [])], versions)

    process = stack.wait_finished(demo, timeout=120)
    assert process["state"] == "completed", stack.logs()
    tasks = tasks_by_slug(process)
    assert [task["state"] for task in process["tasks"]] == ["completed", "completed"]
    reader = stack.task(tasks["demo_2"]["id"] if "demo_2" in tasks else process["tasks"][1]["id"])
    log = reader["logs"]
    assert log.startswith(f"[ponos-agent] image: {DEMO_IMAGE}\n")
    assert "container executor" in log and CONTAINER_AGENT in log
    # Python 3 of the image read the writer's artifact through its slug link under /data
    assert "Read " in log and "/greeting.txt: Hello from task " in log
    assert "[ponos-agent] exit code 0\n" in log

    process = stack.wait_finished(overrun, timeout=TTL + 60)
    [task] = process["tasks"]
    assert task["state"] == "cancelled"
    log = stack.task(task["id"])["logs"]
    assert log.endswith("sleeping\n[ponos-agent] stopped\n")
    # Nothing left behind on the engine once the tasks are over
    assert engine.containers(**{"ponos.task": task["id"]}) == []
