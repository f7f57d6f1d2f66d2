"""The agent runs the tasks it is given: environment, log, artifacts and reported states."""

import os


def test_agent_registers_with_its_resources_and_reports_its_loads(fake_api, start_agent):
    start_agent(fake_gpu=2)
    fake_api.wait_for(lambda: len(fake_api.polls) >= 2, message="two polls")

    [registration] = fake_api.registrations
    assert registration["farm"] == fake_api.farm
    assert registration["seed"] == fake_api.seed
    assert registration["hostname"] == "test-host"
    assert registration["cpu_cores"] >= 1
    assert registration["cpu_frequency"] >= 0
    assert registration["ram_total"] > 1024**2
    assert registration["gpus"] == [
        {"id": "fake-gpu-0", "name": "Fake GPU 0", "index": 0, "ram_total": 8 * 1024**3},
        {"id": "fake-gpu-1", "name": "Fake GPU 1", "index": 1, "ram_total": 8 * 1024**3},
    ]
    poll = fake_api.polls[0]
    assert float(poll["cpu_load"]) >= 0
    assert 0 <= float(poll["ram_load"]) <= 1


def test_agent_runs_a_command_and_uploads_its_log_and_artifacts(fake_api, start_agent):
    task = fake_api.add_task(
        'echo "hello from $GREETING"; echo oops >&2; '
        'mkdir -p "$PONOS_DATA/current/sub"; '
        'printf "{}" > "$PONOS_DATA/current/result.json"; '
        'printf "abc" > "$PONOS_DATA/current/sub/page.txt"; '
        ': > "$PONOS_DATA/current/empty.bin"; '
        'gzip -c "$PONOS_DATA/current/sub/page.txt" > "$PONOS_DATA/current/page.txt.gz"',
        env={"GREETING": "the task"},
        image="registry.example.com/worker:1.2",
    )
    start_agent()
    fake_api.wait_for_state(task, "completed")

    assert task.reports == ["running", "completed"]
    log = fake_api.log_of(task)
    assert log.splitlines()[0] == "[ponos-agent] image: registry.example.com/worker:1.2"
    assert "hello from the task\n" in log
    assert "oops\n" in log
    assert "[ponos-agent] exit code 0" in log
    # Sent in pieces, each as text
    pieces = [key for key in fake_api.storage if key.startswith(f"logs/{task.id}.log.d/")]
    assert pieces
    assert {fake_api.storage[key][1] for key in pieces} == {"text/plain"}

    assert sorted(task.artifacts) == ["empty.bin", "page.txt.gz", "result.json", "sub/page.txt"]
    assert task.artifacts["sub/page.txt"] == {
        "path": "sub/page.txt",
        "size": 3,
        "content_type": "text/plain",
    }
    assert task.artifacts["result.json"]["content_type"] == "application/json"
    assert task.artifacts["page.txt.gz"]["content_type"] == "application/gzip"
    assert task.artifacts["empty.bin"]["size"] == 0
    # Uploaded with the content type the artifact was declared with
    assert fake_api.stored_artifact(task, "sub/page.txt") == (b"abc", "text/plain")
    assert fake_api.stored_artifact(task, "result.json") == (b"{}", "application/json")
    assert fake_api.stored_artifact(task, "empty.bin")[0] == b""


def test_task_environment_holds_only_its_env_path_home_and_data_dir(
    fake_api, start_agent, tmp_path, monkeypatch
):
    monkeypatch.setenv("AGENT_SECRET", "must not leak")
    task = fake_api.add_task(
        'env > "$PONOS_DATA/current/env.txt"; pwd > "$PONOS_DATA/current/pwd.txt"',
        env={"ARKINDEX_TASK_TOKEN": "task-token", "ARKINDEX_PROCESS_ID": "42"},
    )
    start_agent()
    fake_api.wait_for_state(task, "completed")

    env = dict(
        line.split("=", 1)
        for line in fake_api.stored_artifact(task, "env.txt")[0].decode().splitlines()
    )
    data = str(tmp_path / "data" / task.id)
    # The shell itself may add PWD, SHLVL and "_"
    assert set(env) - {"PWD", "SHLVL", "_"} == {
        "ARKINDEX_TASK_TOKEN",
        "ARKINDEX_PROCESS_ID",
        "PATH",
        "HOME",
        "PONOS_DATA",
    }
    assert env["ARKINDEX_TASK_TOKEN"] == "task-token"
    assert env["PONOS_DATA"] == data
    assert env["PATH"] == os.environ["PATH"]
    assert fake_api.stored_artifact(task, "pwd.txt")[0].decode().strip() == data


def test_task_with_a_failing_command_is_failed_and_still_uploads_artifacts(fake_api, start_agent):
    task = fake_api.add_task('echo partial > "$PONOS_DATA/current/partial.txt"; exit 3')
    start_agent()
    fake_api.wait_for_state(task, "failed")

    assert task.reports == ["running", "failed"]
    assert "[ponos-agent] exit code 3" in fake_api.log_of(task)
    assert fake_api.stored_artifact(task, "partial.txt")[0] == b"partial\n"


def test_task_whose_command_cannot_start_is_in_error_with_the_reason_in_its_log(
    fake_api, start_agent
):
    # A NUL byte cannot go into an environment variable: the process cannot be created
    task = fake_api.add_task("true", env={"BROKEN": "a\x00b"})
    start_agent()
    fake_api.wait_for_state(task, "error")

    assert task.reports == ["error"]
    log = fake_api.log_of(task)
    assert "[ponos-agent] Cannot start the command: embedded null byte" in log


def test_task_gets_the_artifacts_of_its_parents_by_id_and_by_slug(fake_api, start_agent):
    parent = fake_api.add_task("true", slug="parent", state="completed")
    fake_api.add_artifact(parent, "pages/page 1.txt", b"first page", "text/plain")
    fake_api.add_artifact(parent, "model.bin", b"\x00\x01\x02")
    other = fake_api.add_task("true", slug="other", state="completed")
    task = fake_api.add_task(
        'cd "$PONOS_DATA"; '
        f'cat "{parent.id}/pages/page 1.txt" "parent/pages/page 1.txt" > current/pages.txt; '
        "cp parent/model.bin current/; ls other > current/other.txt",
        slug="child",
        parents=[parent, other],
    )
    start_agent()
    fake_api.wait_for_state(task, "completed")

    assert fake_api.stored_artifact(task, "pages.txt")[0] == b"first pagefirst page"
    assert fake_api.stored_artifact(task, "model.bin")[0] == b"\x00\x01\x02"
    assert fake_api.stored_artifact(task, "other.txt")[0] == b""
    assert f"fetched 2 artifacts of parent parent ({parent.id})" in fake_api.log_of(task)


def test_task_whose_parent_artifact_is_missing_is_in_error(fake_api, start_agent):
    parent = fake_api.add_task("true", slug="parent", state="completed")
    fake_api.add_artifact(parent, "gone.txt", b"data")
    del fake_api.storage[f"artifacts/{parent.id}/gone.txt"]
    task = fake_api.add_task("echo should not run", parents=[parent])
    start_agent()
    fake_api.wait_for_state(task, "error")

    assert task.reports == ["error"]
    log = fake_api.log_of(task)
    assert f"Cannot fetch the artifacts of parent {parent.id}" in log
    assert "should not run" not in log


def test_agent_runs_several_tasks_at_once_in_separate_directories(fake_api, start_agent, tmp_path):
    # Each task waits for the other one to have started: they can only end if concurrent
    first = fake_api.add_task(
        'echo 1 > "$PONOS_DATA/current/out.txt"; touch "$SYNC/first"; '
        'while [ ! -e "$SYNC/second" ]; do sleep 0.05; done',
        slug="first",
        env={"SYNC": str(tmp_path)},
    )
    second = fake_api.add_task(
        'echo 2 > "$PONOS_DATA/current/out.txt"; touch "$SYNC/second"; '
        'while [ ! -e "$SYNC/first" ]; do sleep 0.05; done',
        slug="second",
        env={"SYNC": str(tmp_path)},
    )
    start_agent()
    fake_api.wait_for_state(first, "completed")
    fake_api.wait_for_state(second, "completed")

    assert fake_api.stored_artifact(first, "out.txt")[0] == b"1\n"
    assert fake_api.stored_artifact(second, "out.txt")[0] == b"2\n"


def test_task_data_is_removed_once_the_task_is_over(fake_api, start_agent, tmp_path):
    task = fake_api.add_task('echo x > "$PONOS_DATA/current/x.txt"')
    start_agent()
    fake_api.wait_for_state(task, "completed")
    fake_api.wait_for(lambda: not (tmp_path / "data" / task.id).exists(), message="cleanup")

    assert not (tmp_path / "data" / "logs" / f"{task.id}.log").exists()


def test_task_data_is_kept_on_request(fake_api, start_agent, tmp_path):
    task = fake_api.add_task('echo x > "$PONOS_DATA/current/x.txt"')
    start_agent(keep_task_data=True)
    fake_api.wait_for_state(task, "completed")

    assert (tmp_path / "data" / task.id / "current" / "x.txt").read_text() == "x\n"
    assert (tmp_path / "data" / "logs" / f"{task.id}.log").exists()


def test_parent_artifact_path_climbing_out_of_the_data_dir_is_refused(
    fake_api, start_agent, tmp_path
):
    parent = fake_api.add_task("true", slug="parent", state="completed")
    fake_api.add_artifact(parent, "../../escaped.txt", b"data")
    task = fake_api.add_task("true", parents=[parent])
    start_agent()
    fake_api.wait_for_state(task, "error")

    assert "Refusing the path '../../escaped.txt'" in fake_api.log_of(task)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_malformed_actions_are_ignored(fake_api, start_agent, tmp_path):
    fake_api.extra_actions = [
        {"action": "start_task", "task_id": "../outside"},
        {"action": "start_task"},
        {"action": "reboot", "task_id": "2f9d3f0e-2b7a-4d0b-a0a5-3f7e6c1d2b3a"},
        "start_task",
    ]
    task = fake_api.add_task("echo fine")
    start_agent()
    fake_api.wait_for_state(task, "completed")

    assert (tmp_path / "data").exists()
    assert not (tmp_path / "outside").exists()


def test_a_task_finished_by_the_server_gets_no_more_log_pieces_and_the_agent_carries_on(
    fake_api, start_agent
):
    # The server ended the task meanwhile (its agent was thought dead): it signs no more log
    # pieces for it, and the agent goes on with its other work.
    task = fake_api.add_task("echo first; sleep 1.5; echo second")
    start_agent(log_upload_interval=0.2)
    fake_api.wait_for(lambda: task.reports == ["running"], message="the task to start")
    fake_api.wait_for(lambda: "first" in fake_api.log_of(task), message="a first upload")
    fake_api.set_state(task, "error")
    pieces = len(fake_api.log_pieces)

    fake_api.wait_for(lambda: len(task.reports) == 2, message="the final report")
    later = fake_api.add_task("echo later", slug="later")
    fake_api.wait_for_state(later, "completed")

    assert task.state == "error"
    # No piece was signed for it once it ended: the only new ones are the later task's
    assert {piece[0] for piece in fake_api.log_pieces[pieces:]} <= {later.id}
    assert "second" not in fake_api.log_of(task)
    assert "later" in fake_api.log_of(later)
