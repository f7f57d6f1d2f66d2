"""The interface between the task runner and the engines that run commands.

The runner prepares a task's data directory and its log file, then asks its executor to
`start` the command. The executor writes the task's whole output (stdout and stderr) to the
end of the log file and answers through the `Execution` it returns: `poll()` gives the exit
code once the command ended, `terminate()` asks it to end, `kill()` ends it at once, and
`release()` frees what it held. Whatever the system (not the task) gets wrong is raised as
`TaskError`, whose message goes in the task's log before the task is reported `error`.

A new life of the agent asks its executor for the `leftovers()` of the previous one: the
tasks that were running, each with an `Execution` that either goes on (containers) or can
only tell why it cannot (local processes die with the agent).
"""


class TaskError(Exception):
    """The task cannot go on because of the system (state `error`); the message goes in its
    log."""


class ExecutorError(Exception):
    """The executor cannot work at all (an unreachable engine): the agent cannot start."""


class Execution:
    """One task's command, running or ended."""

    task_id = None
    # Whether the agent may write lines of its own in the log while the command runs
    # (a container's output is counted in bytes, to go on with it after a restart)
    live_notes = False

    def begin(self):
        """Start following a leftover the agent adopts (started ones are followed already)."""

    def poll(self):
        """The exit code once the command ended and its output is in the log, else None.

        Raises TaskError when the command can no longer be followed."""
        raise NotImplementedError

    def terminate(self):
        """Ask the command to end (SIGTERM); `kill()` follows after the stop grace."""
        raise NotImplementedError

    def kill(self):
        """End the command at once."""
        raise NotImplementedError

    def release(self):
        """Free what the command held, once it ended or was given up on."""
        raise NotImplementedError

    def discard(self):
        """End a leftover of a previous life that the server no longer counts on."""
        self.kill()
        self.release()


class LostExecution(Execution):
    """A task of a previous life that cannot go on: its end is an error with `reason`."""

    def __init__(self, task_id, reason):
        self.task_id = task_id
        self.reason = reason

    def poll(self):
        raise TaskError(self.reason)

    def terminate(self):
        pass

    def kill(self):
        pass

    def release(self):
        pass


class Executor:
    """Starts tasks' commands. `kind` names it in the configuration and in logs."""

    kind = None

    def check(self):
        """Raise ExecutorError when the executor cannot work at all."""

    def start(self, task_id, definition, data, log_path, agent_id):
        """Start a task's command with its data directory `data`, appending its output to
        `log_path`; returns its Execution or raises TaskError."""
        raise NotImplementedError

    def leftovers(self, agent_id):
        """The Executions of tasks a previous life of this agent left, by task ID."""
        raise NotImplementedError

    @staticmethod
    def shell_command(definition):
        """One rule for every executor: a string runs through `/bin/sh -c`."""
        command = definition.get("command")
        if isinstance(command, str):
            return ["/bin/sh", "-c", command]
        if isinstance(command, list) and command:
            return [str(arg) for arg in command]
        raise TaskError(f"Cannot start the task: invalid command {command!r}")

    @staticmethod
    def task_env(definition, data_path):
        """The definition's env (the server sets PONOS_TASK), and where the data is."""
        env = {str(key): str(value) for key, value in (definition.get("env") or {}).items()}
        env["PONOS_DATA"] = str(data_path)
        return env
