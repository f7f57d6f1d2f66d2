"""The faults of the cluster run, each timed from its start to the moment the cluster
worked again, and the table the run prints."""

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.helpers import TIMEOUT

# Requests accepted this long before a fault may still be answered by it (a 502 of a
# request that was being served by a killed node)
IN_FLIGHT = 2.0


@dataclass
class Fault:
    name: str
    # Wall-clock time, to compare with the proxy's log
    started: float
    # Seconds after the start: the cluster noticed it, and worked again
    detected: float | None = None
    recovered: float | None = None
    notes: list = field(default_factory=list)

    @property
    def window(self):
        return (self.started - IN_FLIGHT, self.started + (self.recovered or 0) + IN_FLIGHT)


class Clock:
    """Seconds since a fault started."""

    def __init__(self):
        self.start = time.monotonic()

    def __call__(self):
        return round(time.monotonic() - self.start, 1)


def within(moment, faults):
    return any(low <= moment <= high for low, high in (fault.window for fault in faults))


def descendants(pid):
    """PIDs of every process under `pid` (an RQ worker's work horse runs in a group of its
    own, so killing the worker's group does not reach it)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name is in parentheses and may hold spaces: the rest follows it
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_machine(service):
    """kill -9 a service and every process under it, as when its machine is lost."""
    pids = [service.pid, *descendants(service.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    service.process.wait(TIMEOUT)
    return pids


def restart_postgres():
    """`pg_ctl restart` of the throwaway cluster of scripts/with-postgres (same options)."""
    pg_dir = os.environ["PG_DIR"]
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            f"{os.environ['PG_BIN']}/pg_ctl",
            "-D",
            f"{pg_dir}/data",
            "-l",
            f"{pg_dir}/server.log",
            "-m",
            "fast",
            "-w",
            "restart",
        ],  # fmt: skip
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )


def table(rows, headers):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, ["-" * width for width in widths], *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def seconds(value):
    return "-" if value is None else f"{value:.1f} s"


def report(*, tasks, servers, baseline, faults, errors, outside, duration):
    """The table the run prints: tasks run, requests per node, failovers, recoveries.

    `servers` and `baseline` are the proxy's counters at the end and at the start of the
    run; `errors` the 5xx answers of the proxy's log, `outside` those outside any window.
    """

    def delta(name, column):
        return int(servers[name][column]) - int(baseline[name][column])

    out = [
        "",
        "Cluster run: 3 API nodes behind HAProxy, 2 RQ workers, Redis, S3, PostgreSQL,",
        f"3 agent hosts of 2 agents each, 20 processes on 2 farms ({duration:.0f} s)",
        "",
        table([[label, f"{value:,}"] for label, value in tasks], ["tasks", "count"]),
        "",
        table(
            [
                [
                    name,
                    f"{delta(name, 'stot'):,}",
                    delta(name, "hrsp_5xx"),
                    delta(name, "chkdown"),
                    f"{delta(name, 'downtime')} s",
                ]
                for name in servers
            ],
            ["node", "requests", "5xx", "failovers", "time out of the proxy"],
        ),
        "",
        table(
            [
                [
                    f"{number}. {fault.name}",
                    seconds(fault.detected),
                    seconds(fault.recovered),
                    sum(1 for entry in errors if within(entry[0], [fault])),
                    "; ".join(fault.notes),
                ]
                for number, fault in enumerate(faults, start=1)
            ],
            ["fault", "noticed", "recovered", "5xx", "what happened"],
        ),
        "",
        f"5xx answers through the proxy: {len(errors)}, outside the faults' windows: {outside}",
        "",
    ]
    return "\n".join(out)
