import os
import signal
import sys
import time
from pathlib import Path

# Where `python -m ponos.agent` runs from
ROOT = Path(__file__).resolve().parents[3]


def agent_command(fake_api, data_dir, hostname, *extra):
    """The command line of an agent of the fake API with tiny delays, `extra` last."""
    return [
        sys.executable,
        "-m",
        "ponos.agent",
        "--url",
        fake_api.url,
        "--farm",
        fake_api.farm,
        "--seed",
        fake_api.seed,
        "--data-dir",
        str(data_dir),
        "--hostname",
        hostname,
        "--poll-interval",
        "0.05",
        "--retry-delay",
        "0.01",
        *extra,
    ]


def read_pid(path, timeout=10):
    """The PID a task wrote to a file, once it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"No PID in {path}")


def is_alive(pid):
    """Whether a process runs; a zombie waiting for its parent counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until_dead(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return
        time.sleep(0.02)
    # Leave no stray process behind a failed test
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"Process {pid} is still alive")
