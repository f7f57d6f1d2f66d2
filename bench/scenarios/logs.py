"""8. Logs of long tasks: a chatty task simulated at a fast clock, its log sent by the
agent's own shipper (`ponos.agent.logs`) to the API served by gunicorn, over HTTP.

Two workloads: the equivalent of one hour at 100 KB/s (360 MB, beyond PONOS_LOG_MAX_SIZE)
and of ten hours at 1 KB/s (36 MB, within it). The clock advances one simulated second per
step: the task writes its second of lines (each stamped with its simulated time), the agent
polls `RetrieveAgentActions` every 5 simulated seconds (its default) and learns which tasks
are watched, and the shipper sends what its cadence says. During a window of the run a user
reads the task through `RetrieveTask` every simulated second, which marks it watched, and the
lag of the tail they see is measured in simulated seconds. The task then ends: the shipper
sends what is left, the agent reports `completed`, and the server assembles the log.

The "before" column is what the previous protocol sent for the same log: the whole file at
every upload (every 5 s), computed from the sizes, not measured.
"""

import statistics
import tempfile
from pathlib import Path

from django.conf import settings

from bench import seed
from bench.report import Table
from bench.scenarios import missing_route
from ponos.agent.api import ApiClient
from ponos.agent.config import Config
from ponos.agent.logs import LogShipper
from ponos.models import Task
from ponos.storage import get_storage, log_key

NUMBER = 8
TITLE = "Logs of long tasks (pieces, watched cadence)"
PATH = "/api/v1/task/{id}/log/"
POLL_INTERVAL = 5
UNWATCHED = 30
WATCHED = 3
# The previous protocol's upload interval
BEFORE_INTERVAL = 5
LINE = 100

# (name, bytes per second, simulated seconds, watched window (start, end))
WORKLOADS = [
    ("1 h at 100 KB/s", 100_000, 3_600, (60, 300)),
    ("10 h at 1 KB/s", 1_000, 36_000, (18_000, 18_600)),
]


def missing():
    return missing_route(
        PATH.format(id="00000000-0000-0000-0000-000000000000"), "post", "CreateLogPiece"
    )


def lines_for(second, rate):
    """`rate` bytes of lines stamped with their simulated second."""
    count = max(rate // LINE, 1)
    line = f"t={second:08d} ".ljust(LINE - 1, "x") + "\n"
    return (line * count).encode()


def last_stamp(tail):
    for line in reversed(tail.splitlines()):
        if line.startswith("t=") and len(line) == LINE - 1:
            return int(line[2:10])
    return None


def simulate(bench, name, rate, duration, window, directory):
    prefix = f"logs-agent-{rate}"
    ((agent_id, token),) = seed.seed_agents(bench.cast.queue_farm, 1, 4, prefix=prefix)
    [task_id] = seed.seed_held(bench.cast, [agent_id], 1)[agent_id]
    Task.objects.filter(pk=task_id).update(state="running", started=seed.now())
    config = Config(
        url=bench.server.url,
        farm=str(bench.cast.queue_farm.pk),
        seed="unused",
        data_dir=Path(directory),
        poll_interval=POLL_INTERVAL,
        log_upload_interval=UNWATCHED,
        log_watched_interval=WATCHED,
        retry_delay=0.05,
        retry_max_delay=0.5,
    )
    client = ApiClient(config)
    client.credentials = (1, token)
    path = Path(directory) / f"{task_id}.log"
    path.write_bytes(b"")
    shipper = LogShipper(task_id, path, client, config)
    reader = bench.session
    pieces = {"watched": 0, "unwatched": 0}
    seconds = {"watched": 0, "unwatched": 0}
    lags = []
    size = 0
    before = 0
    with open(path, "ab") as log:
        for second in range(1, duration + 1):
            data = lines_for(second, rate)
            log.write(data)
            log.flush()
            size += len(data)
            if second % BEFORE_INTERVAL == 0:
                before += size
            reading = window[0] <= second < window[1]
            if reading:
                answer = reader.get(bench.url(f"/api/v1/task/{task_id}/"), timeout=30)
                answer.raise_for_status()
                stamp = last_stamp(answer.json()["logs"])
                # Steady state: once the agent heard of it at a poll, and sent once since
                steady = second >= window[0] + POLL_INTERVAL + WATCHED
                if steady and shipper.sent < shipper.head_limit:
                    lags.append(second - (stamp or 0))
            if second % POLL_INTERVAL == 0:
                actions = client.actions({})
                shipper.watched = task_id in actions.get("watched", [])
            phase = "watched" if shipper.watched else "unwatched"
            sent_before = shipper.pieces
            shipper.tick(now=float(second))
            pieces[phase] += shipper.pieces - sent_before
            seconds[phase] += 1
    shipper.finish()
    client.update_state(task_id, "completed")
    final = get_storage().head(settings.PONOS_LOGS_BUCKET, log_key(task_id))
    path.unlink()
    bound = settings.PONOS_LOG_MAX_SIZE
    return {
        "workload": name,
        "written": size,
        "final": final.size if final else 0,
        "sent": shipper.bytes_sent,
        "ratio": shipper.bytes_sent / final.size if final else None,
        "bound_ratio": shipper.bytes_sent / bound,
        "before": before,
        "unwatched_per_min": 60 * pieces["unwatched"] / max(seconds["unwatched"], 1),
        "watched_per_min": 60 * pieces["watched"] / max(seconds["watched"], 1),
        "lag_median": statistics.median(lags) if lags else None,
        "lag_max": max(lags) if lags else None,
        "beyond_bound": size > bound,
    }


def mb(value):
    return f"{value / 1e6:.1f} MB"


def run(bench):
    table = Table(
        NUMBER,
        TITLE,
        [
            ("workload", "simulated task"),
            ("written", "written"),
            ("final", "<task id>.log"),
            ("sent", "bytes sent"),
            ("ratio", "sent / final"),
            ("before", "before (whole log every 5 s)"),
            ("unwatched", "uploads/min unwatched"),
            ("watched", "uploads/min watched"),
            ("lag", "tail lag watched (median / max)"),
        ],
    )
    bound = settings.PONOS_LOG_MAX_SIZE
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as directory:
        for name, rate, duration, window in WORKLOADS:
            result = simulate(bench, name, rate, duration, window, directory)
            lag = (
                f"{result['lag_median']:.0f} s / {result['lag_max']:.0f} s"
                if result["lag_max"] is not None
                else "—"
            )
            table.add(
                workload=name,
                written=mb(result["written"]),
                final=mb(result["final"]),
                sent=mb(result["sent"]),
                ratio=f"{result['ratio']:.3f}",
                before=mb(result["before"]),
                unwatched=f"{result['unwatched_per_min']:.1f}",
                watched=f"{result['watched_per_min']:.1f}",
                lag=lag,
            )
            if result["beyond_bound"]:
                table.check(
                    f"{name}: bytes sent / PONOS_LOG_MAX_SIZE",
                    f"{result['bound_ratio']:.2f}",
                    "≤ 2",
                    result["bound_ratio"] <= 2,
                )
            else:
                table.check(
                    f"{name}: bytes sent / final size",
                    f"{result['ratio']:.3f}",
                    "≤ 2",
                    result["ratio"] <= 2,
                )
            if result["lag_max"] is not None:
                table.check(
                    f"{name}: tail lag while watched (max)",
                    f"{result['lag_max']:.0f} s",
                    f"≤ {2 * WATCHED} s",
                    result["lag_max"] <= 2 * WATCHED,
                )
    table.notes.append(
        f"PONOS_LOG_MAX_SIZE {bound / 2**20:.0f} MiB; agent cadence {UNWATCHED} s unwatched, "
        f"{WATCHED} s watched, polls every {POLL_INTERVAL} s; one simulated second per step, "
        "the user reading every simulated second during the watched window"
    )
    return table
