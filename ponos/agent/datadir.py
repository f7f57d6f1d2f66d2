"""What the agent keeps in its data directory about itself: its PID file and the process
groups of the tasks it runs, so that a new life can end those of a previous one."""

import errno
import fcntl
import json
import logging
import os
import signal
import threading

logger = logging.getLogger(__name__)

PID_FILE = "agent.pid"
STATE_FILE = "agent-state.json"
TOKEN_FILE = "agent-token.json"  # noqa: S105 (a file name)


class AlreadyRunning(Exception):
    """Another live agent holds the PID file of this data directory."""


class PidFile:
    """An exclusive lock on `<data dir>/agent.pid`, holding the agent's PID.

    The lock is an advisory `flock` on the open file: the kernel drops it when the process
    dies, however it dies, so a stale file left by a crash never blocks a new start and a
    PID reused by an unrelated process is never mistaken for a live agent.
    """

    def __init__(self, data_dir):
        self.path = data_dir / PID_FILE
        self.file = None

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Kept open for the agent's whole life: closing it would drop the lock
        file = open(self.path, "a+")  # noqa: SIM115
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            file.seek(0)
            pid = file.read().strip() or "unknown"
            file.close()
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(
                    f"Another agent (PID {pid}) already runs with the data directory "
                    f"{self.path.parent}; stop it first"
                ) from e
            raise
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self.file = file

    def release(self):
        if self.file is None:
            return
        # Emptied rather than removed: removing it would let two agents lock two files
        self.file.seek(0)
        self.file.truncate()
        self.file.close()
        self.file = None


def process_start_time(pid):
    """Start time of a process in clock ticks since boot, or None if it does not exist.

    Together with the PID it names one process: PIDs are reused, start times are not.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: fields are counted after it
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


class ChildGroups:
    """The process groups of running tasks, mirrored in `<data dir>/agent-state.json`."""

    def __init__(self, data_dir):
        self.path = data_dir / STATE_FILE
        self.groups = {}
        self.lock = threading.Lock()

    def add(self, task_id, pgid):
        with self.lock:
            self.groups[str(task_id)] = {"pgid": pgid, "start_time": process_start_time(pgid)}
            self.save()

    def remove(self, task_id):
        with self.lock:
            if self.groups.pop(str(task_id), None) is not None:
                self.save()

    def save(self):
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"groups": self.groups}, indent=2))
        # Atomic: a crash never leaves a half-written state for the next life
        os.replace(temporary, self.path)

    def read(self):
        try:
            state = json.loads(self.path.read_text())
            return {str(task_id): group for task_id, group in dict(state["groups"]).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("Ignoring the unreadable state file %s: %s", self.path, e)
            return {}

    def recorded(self):
        """The IDs of the tasks whose process groups the file records."""
        return list(self.read())

    def kill_leftovers(self):
        """Kill the process groups recorded by a previous life of the agent."""
        groups = self.read()
        if not groups:
            return []
        killed = []
        for task_id, group in groups.items():
            try:
                pgid, start_time = int(group["pgid"]), group.get("start_time")
            except (KeyError, TypeError, ValueError):
                continue
            if pgid <= 1:
                continue
            if not is_same_group(pgid, start_time):
                continue
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            except PermissionError:
                logger.warning("Not allowed to kill process group %d of task %s", pgid, task_id)
                continue
            logger.warning(
                "Killed process group %d left by task %s of a previous run", pgid, task_id
            )
            killed.append(pgid)
        with self.lock:
            self.save()
        return killed


def is_same_group(pgid, start_time):
    """Whether the process group `pgid` can still be the one recorded.

    Linux never hands out a PID that is still used as a process group ID. So either the
    group leader still lives, and its start time tells whether it is the recorded process, or
    it is gone, and whatever processes remain in that group are left from the recorded one.
    """
    if start_time is None or not os.path.isdir("/proc"):
        return True
    current = process_start_time(pgid)
    return current is None or current == start_time


class TokenFile:
    """The agent's ID and token, in `<data dir>/agent-token.json`, readable by its owner only.

    A new life of the agent resumes with them, keeping the tasks it holds, instead of
    registering again (which makes the server give up on those tasks).
    """

    def __init__(self, data_dir):
        self.path = data_dir / TOKEN_FILE

    def save(self, identity, agent_id, token):
        temporary = self.path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        # Created owner-only: the token is the agent's whole identity on the server
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            json.dump({**identity, "id": agent_id, "token": token}, f)
        os.replace(temporary, self.path)

    def load(self, identity):
        """(agent ID, token) saved for the same server, farm and host name, or None."""
        try:
            saved = json.loads(self.path.read_text())
            if {key: saved.get(key) for key in identity} != identity:
                return None
            return str(saved["id"]), str(saved["token"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("Ignoring the unreadable token file %s: %s", self.path, e)
            return None
