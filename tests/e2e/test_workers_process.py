"""Workers processes run by a real agent against the API served by gunicorn, on PostgreSQL
with S3 and on SQLite with the local storage."""

import time

from tests.e2e.helpers import wait_for
from tests.e2e.stack import AGENT_HOSTNAME, ARTIFACTS_BUCKET, LOGS_BUCKET, states, tasks_by_slug


def artifact_rows(stack, task_ids):
    return {
        task_id: sorted(
            stack.db.rows(
                "SELECT path, size, content_type FROM ponos_artifact WHERE task_id = %s", task_id
            )
        )
        for task_id in task_ids
    }


def test_a_three_task_dag_runs_to_completed_and_each_child_reads_its_parents_artifacts(
    stack, workers
):
    process_id = workers.start_process(
        "Three tasks",
        [("writer", []), ("reader", [0]), ("reader", [0, 1], {"second": True})],
    )

    process = stack.wait_finished(process_id)

    assert process["state"] == "completed"
    tasks = tasks_by_slug(process)
    assert [(task["slug"], task["depth"], task["state"]) for task in process["tasks"]] == [
        ("writer", 0, "completed"),
        ("reader", 1, "completed"),
        ("reader_2", 2, "completed"),
    ]
    writer, reader, reader_2 = tasks["writer"], tasks["reader"], tasks["reader_2"]
    assert sorted(reader_2["parents"]) == sorted([writer["id"], reader["id"]])
    greeting = f"hello from {writer['id']}\n".encode()

    # The writer's files became artifacts, in the API, in the storage and in the database
    assert sorted(
        (a["path"], a["size"], a["content_type"])
        for a in stack.api.get(f"task/{writer['id']}/artifacts/")
    ) == [
        ("greeting.txt", len(greeting), "text/plain"),
        ("nested/data.json", len(f'{{"task": "{writer["id"]}"}}'), "application/json"),
    ]
    assert stack.read_object(ARTIFACTS_BUCKET, f"{writer['id']}/greeting.txt") == greeting
    # Each reader copied what it found under its parents' slugs: the second one read the
    # writer's artifacts directly, and through the first reader's copies
    assert stack.api.download_artifact(reader["id"], "writer/greeting.txt") == greeting
    assert stack.api.download_artifact(reader_2["id"], "reader/writer/greeting.txt") == greeting
    assert stack.read_object(ARTIFACTS_BUCKET, f"{reader_2['id']}/writer/greeting.txt") == greeting
    rows = artifact_rows(stack, [writer["id"], reader["id"], reader_2["id"]])
    assert [len(rows[task["id"]]) for task in (writer, reader, reader_2)] == [2, 2, 4]
    data = f'{{"task": "{writer["id"]}"}}'
    assert ("reader/writer/nested/data.json", len(data), "application/json") in rows[reader_2["id"]]

    # Logs: the tail in RetrieveTask, the whole log through its signed URL and in storage
    detail = stack.task(reader_2["id"])
    assert detail["logs"].startswith("[ponos-agent] image: tests/reader:1\n")
    assert "fetched 2 artifacts of parent writer" in detail["logs"]
    assert "fetched 2 artifacts of parent reader" in detail["logs"]
    assert "copied the artifacts of reader\ncopied the artifacts of writer\n" in detail["logs"]
    assert "[ponos-agent] exit code 0\n" in detail["logs"]
    # Assembled just after the final report committed: readers may see the state first
    full_log = wait_for(
        lambda: stack.read_object(LOGS_BUCKET, f"{reader_2['id']}.log"),
        message=lambda: f"the log to be assembled\n{stack.logs()}",
    )
    assert stack.api.session.get(detail["full_log"], timeout=10).content == full_log
    assert full_log.decode() == detail["logs"]
    assert detail["agent"]["hostname"] == AGENT_HOSTNAME

    assert stack.db.rows(
        "SELECT t.slug, t.state, a.hostname FROM ponos_task t JOIN ponos_agent a "
        "ON a.id = t.agent_id WHERE t.process_id = %s ORDER BY t.depth",
        process_id,
    ) == [
        ("writer", "completed", AGENT_HOSTNAME),
        ("reader", "completed", AGENT_HOSTNAME),
        ("reader_2", "completed", AGENT_HOSTNAME),
    ]


def test_a_failing_task_fails_the_process_its_child_stays_unscheduled_and_a_retry_runs_run_1(
    stack, workers
):
    process_id = workers.start_process(
        "Failing", [("writer", []), ("failer", [0]), ("reader", [1])]
    )

    process = stack.wait_finished(process_id)

    assert process["state"] == "failed"
    assert states(process) == {"writer": "completed", "failer": "failed", "reader": "unscheduled"}
    run_0 = tasks_by_slug(process)
    assert run_0["reader"]["started"] is None
    failer = stack.task(run_0["failer"]["id"])
    assert "failing on purpose\n[ponos-agent] exit code 3\n" in failer["logs"]
    assert stack.api.get(f"task/{failer['id']}/artifacts/") == []

    retried = stack.api.post(f"process/{process_id}/retry/", expected=200)
    assert retried["finished"] is None
    assert states(retried, run=1) == {
        "writer": "pending",
        "failer": "unscheduled",
        "reader": "unscheduled",
    }

    process = stack.wait_finished(process_id)

    assert process["state"] == "failed"
    assert states(process, run=1) == {
        "writer": "completed",
        "failer": "failed",
        "reader": "unscheduled",
    }
    # Run 0 kept its tasks as they were
    assert [task for task in process["tasks"] if task["run"] == 0] == [
        task for task in retried["tasks"] if task["run"] == 0
    ]
    run_1 = {task["slug"]: task for task in process["tasks"] if task["run"] == 1}
    assert {
        artifact["path"] for artifact in stack.api.get(f"task/{run_1['writer']['id']}/artifacts/")
    } == {"greeting.txt", "nested/data.json"}
    assert stack.db.rows(
        "SELECT run, count(*) FROM ponos_task WHERE process_id = %s GROUP BY run ORDER BY run",
        process_id,
    ) == [(0, 3), (1, 3)]


def test_a_long_task_is_stopped_through_partial_update_process(stack, workers):
    process_id = workers.start_process("Stopped", [("sleeper", []), ("reader", [0])])
    sleeper_id = tasks_by_slug(stack.process(process_id))["sleeper"]["id"]
    stack.wait_task(sleeper_id, {"running"})
    # Its log reaches the API while it runs
    wait_for(
        lambda: "sleeping" in stack.task(sleeper_id)["logs"],
        message=lambda: f"the log of the running task\n{stack.logs()}",
    )

    asked = time.monotonic()
    body = stack.api.patch(f"process/{process_id}/", {"state": "stopping"})
    assert body["state"] == "stopping"
    assert states(body) == {"sleeper": "stopping", "reader": "stopped"}

    process = stack.wait_finished(process_id)

    # The agent ended it with SIGTERM, well before the end of its sleep
    assert time.monotonic() - asked < 15
    assert process["state"] == "stopped"
    assert states(process) == {"sleeper": "stopped", "reader": "stopped"}
    sleeper = stack.task(sleeper_id)
    assert "[ponos-agent] stopping the task's processes\n[ponos-agent] stopped\n" in sleeper["logs"]
    assert sleeper["finished"] is not None


def test_restart_task_reruns_a_failed_task_and_its_child_then_runs(stack, workers):
    process_id = workers.start_process(
        "Restarted", [("writer", []), ("flaky", [0]), ("reader", [1])]
    )
    process = stack.wait_finished(process_id)
    assert states(process) == {"writer": "completed", "flaky": "failed", "reader": "unscheduled"}
    flaky = tasks_by_slug(process)["flaky"]

    restarted = stack.api.post(f"task/{flaky['id']}/restart/", expected=201)

    assert (restarted["slug"], restarted["state"], restarted["original_task_id"]) == (
        "flaky_2",
        "pending",
        flaky["id"],
    )
    process = stack.wait_finished(process_id)
    assert process["state"] == "completed"
    assert states(process) == {
        "writer": "completed",
        "flaky": "failed",
        "flaky_2": "completed",
        "reader": "completed",
    }
    tasks = tasks_by_slug(process)
    assert tasks["reader"]["parents"] == [restarted["id"]]
    assert "second try: success" in stack.task(restarted["id"])["logs"]
    assert "first try: failure" in stack.task(flaky["id"])["logs"]
    # The child ran after the new task, with the new task's slug as its parent's link
    assert tasks["reader"]["started"] > tasks["flaky_2"]["finished"]
    assert "fetched 0 artifacts of parent flaky_2" in stack.task(tasks["reader"]["id"])["logs"]
