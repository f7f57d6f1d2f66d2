"""An agent killed in the middle of a task: the server gives up on the task after
PONOS_AGENT_TIMEOUT, and the agent started again (resuming with its saved token) never runs
it a second time."""

import signal
import time

from tests.e2e.helpers import AGENT_TIMEOUT, wait_for
from tests.e2e.stack import LOGS_BUCKET, states, tasks_by_slug
from tests.ponos.agent.helpers import is_alive


def test_a_task_of_a_killed_agent_ends_in_error_and_its_agent_never_runs_it_again(stack, workers):
    # A farm of its own: no other agent can take its tasks
    farm_id, seed = stack.create_farm("Doomed farm")
    agent = stack.start_agent("doomed-agent", farm_id=farm_id, seed=seed)
    process_id = workers.start_process("Killed", [("recorder", [])], farm=farm_id)
    task_id = tasks_by_slug(stack.process(process_id))["recorder"]["id"]
    runs = workers.markers / f"runs-{process_id}"
    wait_for(
        lambda: runs.exists() and runs.read_text(),
        message=lambda: f"the task to start\n{stack.logs()}",
    )
    stack.wait_task(task_id, {"running"})
    [pid] = map(int, runs.read_text().split())
    # Some of its log was sent: the agent dies with part of it on the server
    wait_for(
        lambda: list(stack.storage.list_objects(LOGS_BUCKET, f"{task_id}.log.d/")),
        message=lambda: f"a piece of the log to be sent\n{stack.logs()}",
    )

    agent.stop(signal.SIGKILL)
    killed = time.monotonic()

    # Another agent's poll applies the dead-agent rule once the timeout is over
    task = stack.wait_task(task_id, {"error"}, timeout=AGENT_TIMEOUT + 15)
    assert time.monotonic() - killed >= AGENT_TIMEOUT - 0.5
    assert task["finished"] is not None
    process = stack.process(process_id)
    assert (process["state"], process["finished"] is not None) == ("error", True)
    # What the agent sent of the log before it died becomes the task's log, its pieces gone.
    # The assembly runs after the poll that ended the task committed, so readers may see the
    # error state a moment before the assembled log.
    log = wait_for(
        lambda: stack.read_object(LOGS_BUCKET, f"{task_id}.log"),
        message=lambda: f"the log to be assembled\n{stack.logs()}",
    ).decode()
    task = stack.wait_task(task_id, {"error"})
    assert log.startswith("[ponos-agent] image: ")
    assert task["logs"] == log
    assert task["full_log"] is not None
    wait_for(
        lambda: not list(stack.storage.list_objects(LOGS_BUCKET, f"{task_id}.log.d/")),
        message=lambda: "the assembled pieces to be deleted",
    )
    # The task's own process outlived its agent...
    assert is_alive(pid)

    agent = stack.start_agent("doomed-agent", farm_id=farm_id, seed=seed)

    # ...until the agent started again: it ends what its previous life left running
    wait_for(lambda: not is_alive(pid), message=lambda: f"process {pid} to end\n{stack.logs()}")
    # It resumed with the token it saved: the server already gave up on its task
    wait_for(
        lambda: "Resuming as agent" in agent.output(),
        message=lambda: f"the agent to resume\n{stack.logs()}",
    )
    assert "Registered as agent" not in agent.output()
    # Many polls later, the task was not handed out again
    time.sleep(1.5)
    assert runs.read_text().split() == [str(pid)]
    assert "Starting task" not in agent.output()
    process = stack.process(process_id)
    assert states(process) == {"recorder": "error"}
    assert stack.db.rows(
        "SELECT t.state, a.hostname FROM ponos_task t JOIN ponos_agent a ON a.id = t.agent_id "
        "WHERE t.process_id = %s",
        process_id,
    ) == [("error", "doomed-agent")]
    assert stack.db.rows(
        "SELECT count(*) FROM ponos_agent WHERE farm_id = %s AND hostname = 'doomed-agent'",
        farm_id,
    ) == [(1,)]
    agent.stop()
