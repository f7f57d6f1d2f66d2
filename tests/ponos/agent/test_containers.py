"""The container executor on a real engine (Podman's Docker-compatible service): the same
contract as the local executor, each task in a container of its image."""

import os

from tests.ponos.agent.engine import BUSYBOX_IMAGE

LABELS = ("ponos.task", "ponos.agent")


def task_container(engine, task):
    [container] = engine.containers(**{"ponos.task": task.id})
    return container


def test_container_task_runs_in_its_image_with_its_data_at_data(
    fake_api, start_container_agent, engine
):
    command = (
        'echo "to stdout"; echo "to stderr" >&2; echo "data=$PONOS_DATA task=$PONOS_TASK"; '
        'echo "user=$(id -u):$(id -g) cwd=$(pwd)"; mkdir -p current/nested; '
        'echo hello > "$PONOS_DATA/current/nested/hello.txt"; exit 0'
    )
    task = fake_api.add_task(command, image=BUSYBOX_IMAGE, env={"COLOR": "blue"})
    # As the server's definitions have it
    task.env["PONOS_TASK"] = task.id
    start_container_agent()
    fake_api.wait_for_state(task, "completed")

    log = fake_api.log_of(task)
    assert log.startswith(f"[ponos-agent] image: {BUSYBOX_IMAGE}\n")
    assert "container executor" in log
    assert "to stdout\n" in log and "to stderr\n" in log
    assert f"data=/data task={task.id}\n" in log
    assert f"user={os.getuid()}:{os.getgid()} cwd=/data\n" in log
    assert log.endswith("[ponos-agent] exit code 0\n[ponos-agent] uploaded 1 artifact\n")
    assert fake_api.stored_artifact(task, "nested/hello.txt") == (b"hello\n", "text/plain")
    assert task.reports == ["running", "completed"]
    assert task.exit_codes == [None, 0]
    fake_api.wait_for(lambda: not engine.containers(**{"ponos.task": task.id}), 10, "removal")


def test_failing_container_task_is_failed_with_its_exit_code(fake_api, start_container_agent):
    task = fake_api.add_task("echo 'failing on purpose' >&2; exit 3", image=BUSYBOX_IMAGE)
    start_container_agent()
    fake_api.wait_for_state(task, "failed")

    assert "failing on purpose\n[ponos-agent] exit code 3\n" in fake_api.log_of(task)
    assert task.reports == ["running", "failed"]
    assert task.exit_codes == [None, 3]


def test_container_gets_only_its_data_env_and_labels_and_stops_through_the_engine(
    fake_api, start_container_agent, engine
):
    task = fake_api.add_task("echo started; sleep 300", image=BUSYBOX_IMAGE, env={"A": "1"})
    agent = start_container_agent()
    fake_api.wait_for(lambda: "started" in fake_api.log_of(task), message="the task's output")
    container = task_container(engine, task)
    attrs = container.attrs

    assert {key: attrs["Config"]["Labels"][key] for key in LABELS} == {
        "ponos.task": task.id,
        "ponos.agent": fake_api.agent_id,
    }
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert env["A"] == "1" and env["PONOS_DATA"] == "/data"
    # The agent's own credentials never reach a task
    assert fake_api.seed not in str(attrs) and fake_api.token not in str(attrs)
    assert [(m["Destination"], m["Source"]) for m in attrs["Mounts"]] == [
        ("/data", str(agent.agent.config.data_dir / task.id))
    ]
    assert attrs["HostConfig"]["Privileged"] is False
    assert attrs["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
    assert attrs["Config"]["Cmd"] == ["/bin/sh", "-c", "echo started; sleep 300"]

    # As when a user stops the task, or the server when it outlived its ttl
    fake_api.set_state(task, "stopping")
    fake_api.wait_for_state(task, "stopped", timeout=20)

    assert fake_api.log_of(task).endswith("started\n[ponos-agent] stopped\n")
    assert task.reports == ["running", "stopped"]
    # The shell is the container's PID 1 and ignores SIGTERM: the engine killed it
    assert task.exit_codes[-1] == 137
    fake_api.wait_for(lambda: not engine.containers(**{"ponos.task": task.id}), 10, "removal")


def test_parents_artifacts_are_under_data(fake_api, start_container_agent):
    parent = fake_api.add_task("true", slug="parent", state="completed")
    fake_api.add_artifact(parent, "dir/greeting.txt", b"hello from the parent\n", "text/plain")
    command = (
        'cat "/data/parent/dir/greeting.txt"; '
        f'cp "/data/{parent.id}/dir/greeting.txt" /data/current/copy.txt'
    )
    task = fake_api.add_task(command, parents=[parent], image=BUSYBOX_IMAGE)
    start_container_agent()
    fake_api.wait_for_state(task, "completed")

    assert "hello from the parent\n[ponos-agent] exit code 0\n" in fake_api.log_of(task)
    assert fake_api.stored_artifact(task, "copy.txt")[0] == b"hello from the parent\n"


def test_image_is_pulled_with_the_credentials_of_its_registry(
    fake_api, start_container_agent, engine
):
    image = engine.push_private("pulled:1")
    task = fake_api.add_task("echo pulled", image=image)
    registries = [{"registry": engine.registry, "username": "ponos", "password": "registry-secret"}]
    start_container_agent({"registries": registries})
    fake_api.wait_for_state(task, "completed")

    assert "pulled\n[ponos-agent] exit code 0\n" in fake_api.log_of(task)
    assert engine.has_image(image)


def test_a_refused_pull_is_an_error_with_the_engines_reason(
    fake_api, start_container_agent, engine
):
    image = engine.push_private("refused:1")
    task = fake_api.add_task("echo never", image=image)
    registries = [{"registry": engine.registry, "username": "ponos", "password": "wrong"}]
    start_container_agent({"registries": registries})
    fake_api.wait_for_state(task, "error")

    log = fake_api.log_of(task)
    assert f"[ponos-agent] Cannot pull the image {image}: " in log
    assert "unauthorized" in log.lower() or "authentication required" in log.lower()
    assert "never" not in log.split("Cannot pull")[1]
    assert task.reports == ["error"]
    assert task.exit_codes == [None]


def test_a_missing_image_is_an_error_naming_it(fake_api, start_container_agent, engine):
    image = f"{engine.registry}/ponos-test/missing:1"
    task = fake_api.add_task("true", image=image)
    start_container_agent(
        {
            "registries": [
                {"registry": engine.registry, "username": "ponos", "password": "registry-secret"}
            ]
        }
    )
    fake_api.wait_for_state(task, "error")

    log = fake_api.log_of(task)
    assert f"[ponos-agent] Cannot pull the image {image}: " in log
    assert "manifest unknown" in log.lower() or "not found" in log.lower()


def test_pull_policy_never_uses_only_the_images_on_the_host(fake_api, start_container_agent):
    missing = fake_api.add_task("true", image="localhost/ponos-test/absent:1", slug="missing")
    present = fake_api.add_task("echo here", image=BUSYBOX_IMAGE, slug="present")
    start_container_agent({"pull": "never"})
    fake_api.wait_for_state(missing, "error")
    fake_api.wait_for_state(present, "completed")

    assert (
        "[ponos-agent] The image localhost/ponos-test/absent:1 is not on this host, and the "
        "agent's pull policy is never\n" in fake_api.log_of(missing)
    )


def test_a_container_removed_under_the_task_is_an_error(fake_api, start_container_agent, engine):
    task = fake_api.add_task("echo started; sleep 300", image=BUSYBOX_IMAGE)
    start_container_agent()
    fake_api.wait_for(lambda: "started" in fake_api.log_of(task), message="the task's output")
    task_container(engine, task).remove(force=True)
    fake_api.wait_for_state(task, "error")

    assert fake_api.log_of(task).endswith(
        "started\n[ponos-agent] the task's container vanished while it ran\n"
    )
    assert task.reports == ["running", "error"]


def test_a_container_left_by_an_earlier_attempt_does_not_block_the_task(
    fake_api, start_container_agent, engine
):
    task = fake_api.add_task("echo second attempt", image=BUSYBOX_IMAGE)
    engine.client.containers.create(
        BUSYBOX_IMAGE, ["true"], name=f"ponos-task-{task.id}", labels={"ponos.task": task.id}
    )
    start_container_agent()
    fake_api.wait_for_state(task, "completed")

    assert "second attempt\n[ponos-agent] exit code 0\n" in fake_api.log_of(task)
    fake_api.wait_for(lambda: not engine.containers(**{"ponos.task": task.id}), 10, "removal")


def test_a_task_runs_as_the_configured_user_in_a_directory_it_may_write(
    fake_api, start_container_agent
):
    task = fake_api.add_task(
        'echo "user=$(id -u):$(id -g)"; echo written > /data/current/out.txt', image=BUSYBOX_IMAGE
    )
    start_container_agent({"user": "1000:1000"})
    fake_api.wait_for_state(task, "completed")

    assert "user=1000:1000\n" in fake_api.log_of(task)
    assert fake_api.stored_artifact(task, "out.txt")[0] == b"written\n"
