"""The local executor: a task's command runs as a process group of the agent's host, with
the agent's own user and rights. Its processes die with the agent: a new life kills what
the previous one left and the server is told those tasks are in error."""

import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path

from ponos.agent.executors.base import Execution, Executor, LostExecution, TaskError

logger = logging.getLogger(__name__)


def kill_group(pgid, sig):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class LocalExecution(Execution):
    live_notes = True

    def __init__(self, task_id, process, groups):
        self.task_id = task_id
        self.process = process
        self.groups = groups

    def poll(self):
        pid = self.process.pid
        # WNOWAIT leaves the process a zombie: its PID, and so its process group ID,
        # cannot be reused until `release()`, which makes `killpg` safe until then
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            return None
        # Whatever the command left running in the background ends with it
        kill_group(pid, signal.SIGKILL)
        return self.process.wait()

    def terminate(self):
        kill_group(self.process.pid, signal.SIGTERM)

    def kill(self):
        kill_group(self.process.pid, signal.SIGKILL)

    def release(self):
        if self.process.returncode is None:
            kill_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.groups.remove(self.task_id)


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, config, groups):
        self.config = config
        self.groups = groups

    def start(self, task_id, definition, data, log_path, agent_id):
        """Start the command in a process group of its own, in `data`, writing to the log."""
        env = self.task_env(definition, data)
        env.setdefault("PATH", os.environ.get("PATH", os.defpath))
        env.setdefault("HOME", os.environ.get("HOME", str(Path.home())))
        args = self.shell_command(definition)
        try:
            with open(log_path, "ab") as log:
                # Running the server's commands is the agent's very purpose
                process = subprocess.Popen(  # noqa: S603
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=data,
                    # Its own session and process group, so that stopping the task ends
                    # every process it started, and a Ctrl-C on the agent reaches none
                    start_new_session=True,
                )
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            raise TaskError(f"Cannot start the command: {e}") from e
        logger.info("Task %s started as process %d", task_id, process.pid)
        self.groups.add(task_id, process.pid)
        return LocalExecution(task_id, process, self.groups)

    def leftovers(self, agent_id):
        """Kill the process groups of the previous life; their tasks cannot go on."""
        task_ids = self.groups.recorded()
        self.groups.kill_leftovers()
        reason = "the agent restarted; the task's processes ended with its previous life"
        return {task_id: LostExecution(task_id, reason) for task_id in task_ids}
