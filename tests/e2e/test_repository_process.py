"""A repository process: its import task, the shipped program, adds a task through
CreateTask with the real arkindex-client, and that task runs."""

from tests.e2e.stack import states, tasks_by_slug


def test_the_import_task_adds_its_follow_up_task_through_create_task_and_it_runs(stack):
    process = stack.api.post(
        "process/",
        {
            "mode": "repository",
            "name": "Repository",
            "repository_url": "https://gitlab.example.com/team/documents",
        },
    )
    started = stack.api.post(f"process/{process['id']}/start/", expected=200)
    assert states(started) == {"import": "pending"}

    process = stack.wait_finished(process["id"])

    assert process["state"] == "completed"
    assert states(process) == {"import": "completed", "follow-up": "completed"}
    tasks = tasks_by_slug(process)
    importer = stack.task(tasks["import"]["id"])
    follow_up = stack.task(tasks["follow-up"]["id"])
    assert importer["command"] == "python3 -m process.importer"
    assert (
        f"Created the task follow-up ({follow_up['id']}) in process {process['id']}."
        in importer["logs"]
    )
    assert (follow_up["run"], follow_up["depth"], follow_up["parents"]) == (0, 0, [])
    assert (follow_up["image"], follow_up["command"]) == ("arkindex/import", "echo follow-up task")
    assert "\nfollow-up task\n[ponos-agent] exit code 0\n" in follow_up["logs"]
    # The follow-up task was created by the import task itself, with its own token
    assert stack.db.rows(
        "SELECT slug, state, original_task_id FROM ponos_task WHERE process_id = %s "
        "ORDER BY created",
        process["id"],
    ) == [("import", "completed", None), ("follow-up", "completed", None)]
