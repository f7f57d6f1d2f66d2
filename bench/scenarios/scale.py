"""6. The hot paths at scale: the same requests on a small database, then with years of
history, in one run.

Small: the benchmark's users and farms, a queue of 2,000 pending tasks, one process of
5,000 tasks. At scale, added by COPY: 1,000,000 completed tasks over 10,000 processes
(100 of them expired: cleanup's daily share), 100,000 pending tasks over 100 processes on
the two farms, 200 registered agents. Measured at both sizes: a claiming poll and a holding
poll (RetrieveAgentActions), RetrieveProcess of the 5,000-task process (full and 304),
ListProcesses with and without `state`, a /metrics scrape and `cleanup --dry-run`. Every
statement of each request is run again under `EXPLAIN (ANALYZE, BUFFERS)`: none may scan
the task or process tables sequentially at scale.

The scenario runs first and empties the process and task tables when it is done, so that
the other scenarios find the database they expect.
"""

import io
import json
import statistics
import time

from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bench import seed
from bench.measure import client, count_queries, http_get, noop_latency
from bench.report import Table, ratio, times
from ponos.models import Agent, State, Task
from process.models import Process

NUMBER = 6
TITLE = "Hot paths at scale"
TOKEN = "bench-metrics-token"
METRICS = "/metrics"
ACTIONS = "/api/v1/agent/actions/"
SMALL_QUEUE = 2_000
DAG_TASKS = 5_000
HISTORY_PROCESSES = 10_000
HISTORY_TASKS_EACH = 100
EXPIRED_PROCESSES = 100
PENDING_TASKS = 100_000
PENDING_PROCESSES = 100
AGENTS_PER_FARM = 100
AGENT_CORES = 4
PAGE = 50
# The targets
MAX_GROWTH = 1.5
MAX_304_SHARE = 0.1
MAX_304_OVER_NOOP = 2.0
MAX_SCRAPE_MS = 50.0
# The history: no statement may scan it. The process table (10,000 rows at scale) may be
# scanned where the planner finds it cheaper; such scans are listed in the notes.
HISTORY_TABLE = Task._meta.db_table
BIG_TABLES = {Task._meta.db_table, Process._meta.db_table}


def missing():
    from django.conf import settings

    if settings.ARKINDEX_METRICS_TOKEN != TOKEN:
        return "ARKINDEX_METRICS_TOKEN is not the benchmark's"
    return None


def timed(action, runs, before=None):
    """Median milliseconds of `action()`, `before()` running untimed ahead of each call."""
    samples = []
    for run in range(runs + 1):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        if run:  # the first call warms up
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def plan_scans(sql):
    """(sequential scans of the big tables, indexes used, execution ms) of one statement,
    run under EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back (claims are UPDATEs)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    if isinstance(plan, str):
        plan = json.loads(plan)
    seq, indexes = set(), set()

    def walk(node):
        relation = node.get("Relation Name")
        if node["Node Type"] == "Seq Scan" and relation in BIG_TABLES:
            seq.add(relation)
        if node.get("Index Name"):
            indexes.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return seq, indexes, plan[0].get("Execution Time", 0.0)


def text_plan(sql):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        lines = [row[0] for row in cursor.fetchall()]
    return "\n    ".join(line if len(line) < 160 else line[:157] + "..." for line in lines)


def explain(statements):
    """(sequential scans, indexes, SQL ms) of a request's statements; each scan comes with
    the plan of its statement, for the report."""
    seq, indexes, sql_ms = set(), set(), 0.0
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH", "DELETE")):
            s, i, ms = plan_scans(sql)
            seq |= {f"{table}:\n    {text_plan(sql)}" for table in s}
            indexes |= i
            sql_ms += ms
    return seq, indexes, sql_ms


class Paths:
    """The measured requests, as the same callers at both sizes."""

    def __init__(self, bench):
        self.bench = bench
        self.cast = bench.cast
        self.dag = str(seed.seed_dag(self.cast, DAG_TASKS))
        ((self.claimer, claimer_token),) = seed.seed_agents(
            self.cast.queue_farm, 1, AGENT_CORES, prefix="scale-claimer"
        )
        ((self.holder, holder_token),) = seed.seed_agents(
            self.cast.queue_farm, 1, AGENT_CORES, prefix="scale-holder"
        )
        self.claimer_header = f"Bearer {claimer_token}"
        self.holder_header = f"Bearer {holder_token}"
        self.sessions = {}

    def session(self, header):
        if header not in self.sessions:
            session = self.bench.session.__class__()
            session.headers["Authorization"] = header
            self.sessions[header] = session
        return self.sessions[header]

    def release_claimer(self):
        """The claimer's tasks done, untimed: its next poll claims again."""
        Task.objects.filter(agent_id=self.claimer, state=State.PENDING).update(
            state=State.COMPLETED
        )

    def fill_holder(self):
        http_get(self.session(self.holder_header), self.bench.url(ACTIONS))
        held = Task.objects.filter(agent_id=self.holder, state=State.PENDING).count()
        if held != AGENT_CORES:
            raise AssertionError(f"The holding agent holds {held} tasks, not {AGENT_CORES}.")

    def requests(self):
        """name -> (header, path, extra headers, expected status, before each call)."""
        dag = f"/api/v1/process/{self.dag}/"
        etag = client(self.cast.reader_header).get(dag)["ETag"]
        reader = self.cast.reader_header
        return {
            "claiming poll": (self.claimer_header, ACTIONS, {}, 200, self.release_claimer),
            "holding poll": (self.holder_header, ACTIONS, {}, 200, None),
            "RetrieveProcess 5,000 tasks": (reader, dag, {}, 200, None),
            "RetrieveProcess 304": (reader, dag, {"If-None-Match": etag}, 304, None),
            "ListProcesses": (reader, f"/api/v1/process/?page_size={PAGE}", {}, 200, None),
            "ListProcesses state=pending": (
                reader,
                f"/api/v1/process/?page_size={PAGE}&state=pending",
                {},
                200,
                None,
            ),
            "/metrics scrape": (f"Bearer {TOKEN}", METRICS, {}, 200, None),
        }

    def measure(self):
        """{name: (ms, statements, seq scans, indexes)} of every path, and cleanup's."""
        self.fill_holder()
        runs = self.bench.config.runs
        figures = {}
        for name, (header, path, headers, status, before) in self.requests().items():
            session = self.session(header)
            url = self.bench.url(path)

            def call(session=session, url=url, headers=headers, status=status):
                response = session.get(url, headers=headers, timeout=120)
                if response.status_code != status:
                    raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
                response.content  # noqa: B018 - the whole body is read

            ms = timed(call, runs, before)
            if before is not None:
                before()
            extra = {
                f"HTTP_{key.upper().replace('-', '_')}": value for key, value in headers.items()
            }
            queries, sql, _ = count_queries(
                lambda path=path, header=header, extra=extra: client(header).get(path, **extra),
                expected_status=status,
            )
            seq, indexes, sql_ms = explain(sql)
            figures[name] = (ms, queries, seq, indexes, sql_ms)
        figures["cleanup --dry-run"] = self.dry_run()
        figures["no-op request"] = (
            noop_latency(self.bench.session, self.bench.server.url, runs),
            None,
            set(),
            set(),
            None,
        )
        return figures

    def dry_run(self):
        out = io.StringIO()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            call_command("cleanup", "--dry-run", stdout=out, stderr=io.StringIO())
            ms = (time.perf_counter() - start) * 1000
        statements = [q["sql"] for q in captured.captured_queries]
        seq, indexes, sql_ms = explain(
            [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
        )
        return ms, len(statements), seq, indexes, sql_ms


def seed_scale(cast):
    seed.seed_history(
        cast, HISTORY_PROCESSES, HISTORY_TASKS_EACH, expired_processes=EXPIRED_PROCESSES
    )
    each = PENDING_TASKS // 2
    per_process = PENDING_TASKS // PENDING_PROCESSES
    seed.seed_queue(cast, each, tasks_per_process=per_process, farm=cast.queue_farm)
    seed.seed_queue(cast, each, tasks_per_process=per_process, farm=cast.archive_farm)
    seed.seed_agents(cast.queue_farm, AGENTS_PER_FARM, 8, "scale-queue")
    seed.seed_agents(cast.archive_farm, AGENTS_PER_FARM, 8, "scale-archive")
    seed.vacuum(Task, Process, Agent)


def empty_tables():
    """Leave the process and task tables (and what hangs on them) and the agents empty."""
    tables = [Process._meta.db_table, Task._meta.db_table, Agent._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def run(bench):
    if Task.objects.exists():
        raise RuntimeError("The scale scenario needs an empty task table: it runs first.")
    paths = Paths(bench)
    seed.seed_queue(bench.cast, SMALL_QUEUE)
    seed.vacuum(Task, Process, Agent)
    small = paths.measure()
    seed_scale(bench.cast)
    large = paths.measure()
    tasks, processes = Task.objects.count(), Process.objects.count()
    empty_tables()
    return report(small, large, tasks, processes)


def report(small, large, tasks, processes):
    table = Table(
        NUMBER,
        TITLE,
        [
            ("path", "path"),
            ("small_ms", "small ms"),
            ("large_ms", "at scale ms"),
            ("growth", "growth"),
            ("queries", "statements (small / scale)"),
            ("sql_ms", "SQL ms at scale"),
            ("indexes", "indexes at scale"),
            ("seq", "seq scans of tasks/processes"),
        ],
    )
    for name in small:
        s_ms, s_q = small[name][:2]
        l_ms, l_q, l_seq, l_indexes, l_sql = large[name]
        table.add(
            path=name,
            small_ms=s_ms,
            large_ms=l_ms,
            growth=times(ratio(l_ms, s_ms)),
            queries="-" if s_q is None else f"{s_q} / {l_q}",
            sql_ms="-" if l_sql is None else round(l_sql, 2),
            indexes=", ".join(sorted(i for i in l_indexes if not i.endswith("_pkey"))) or "-",
            seq=", ".join(sorted({scan.split(":")[0] for scan in l_seq})) or "none",
        )
    for name in [
        "claiming poll",
        "holding poll",
        "ListProcesses",
        "ListProcesses state=pending",
    ]:
        growth = ratio(large[name][0], small[name][0])
        table.check(
            f"{name}: at scale / small", times(growth), f"<= {MAX_GROWTH}x", growth <= MAX_GROWTH
        )
        same = small[name][1] == large[name][1]
        table.check(f"{name}: statements", f"{small[name][1]} / {large[name][1]}", "same", same)
    full, not_modified, noop = (
        large["RetrieveProcess 5,000 tasks"][0],
        large["RetrieveProcess 304"][0],
        large["no-op request"][0],
    )
    share = ratio(not_modified, full)
    table.check(
        "304 / full answer, 5,000 tasks",
        times(share),
        f"<= {MAX_304_SHARE}x",
        share <= MAX_304_SHARE,
    )
    over = ratio(not_modified, noop)
    table.check(
        "304 / no-op request", times(over), f"<= {MAX_304_OVER_NOOP}x", over <= MAX_304_OVER_NOOP
    )
    statements = large["RetrieveProcess 304"][1]
    table.check("304 statements", str(statements), "<= 3", statements <= 3)
    scrape = large["/metrics scrape"][0]
    table.check(
        "/metrics scrape at scale", f"{scrape:.1f} ms", f"< {MAX_SCRAPE_MS:.0f} ms", scrape < 50
    )
    scans = [(name, scan) for name, v in large.items() for scan in sorted(v[2])]
    history = sorted({name for name, scan in scans if scan.startswith(HISTORY_TABLE + ":")})
    found = ", ".join(history) or "none"
    table.check("no sequential scan of the tasks at scale", found, "none", not history)
    table.notes += [f"sequential scan, {name}: {scan}" for name, scan in scans]
    table.notes.append(
        f"at scale: {tasks:,} tasks, {processes:,} processes; both sizes in this run, "
        "then the tables were emptied for the other scenarios"
    )
    return table
