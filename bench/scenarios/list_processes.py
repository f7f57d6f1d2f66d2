"""2. ListProcesses: a page of 50 over growing numbers of processes of 10 tasks each.

Floor: the equivalent hand-written SQL (the count and the page, with the same rights
filter), run in-process on the same database.
"""

import json

from django.db import connection

from arkindex.corpora.models import Corpus, CorpusMembership
from arkindex.users.models import User
from bench import seed
from bench.measure import (
    client,
    count_queries,
    http_get,
    noop_latency,
    paired_medians,
    profile,
)
from bench.report import Table, ratio, times
from bench.scenarios import missing_route
from ponos.models import Farm, Task
from process.models import Process

NUMBER = 2
TITLE = "ListProcesses (page of 50)"
PATH = "/api/v1/process/"
MAX_QUERIES = 4
MAX_RATIO = 3.0

VARIANTS = [
    ("no filter", {}),
    ("state=running", {"state": "running"}),
    ("with_tasks=true", {"with_tasks": "true"}),
]
# The variants whose latency has a target at the largest size.
TIMED_TARGETS = {"no filter", "state=running"}


def missing():
    return missing_route(PATH, "get", "ListProcesses")


def floor_sql(filters):
    """The count and the page a hand-written query would run for the same answer."""
    table = Process._meta.db_table
    where = [
        "(p.creator_id = %(user)s"
        f" OR p.corpus_id IN (SELECT c.id FROM {Corpus._meta.db_table} c WHERE c.public)"
        f" OR p.corpus_id IN (SELECT m.corpus_id FROM {CorpusMembership._meta.db_table} m"
        " WHERE m.user_id = %(user)s AND m.level >= 10))"
    ]
    if "state" in filters:
        where.append("p.state = %(state)s")
    if "with_tasks" in filters:
        where.append(f"EXISTS (SELECT 1 FROM {Task._meta.db_table} t WHERE t.process_id = p.id)")
    joins = f"{table} p"
    condition = " AND ".join(where)
    count = f"SELECT count(*) FROM {joins} WHERE {condition}"
    page = (
        "SELECT p.id, p.name, p.mode, p.corpus_id, p.state, p.created, p.updated, p.started,"
        " p.finished, f.id, f.name, u.id, u.display_name"
        f" FROM {joins}"
        f" LEFT JOIN {Farm._meta.db_table} f ON f.id = p.farm_id"
        f" JOIN {User._meta.db_table} u ON u.id = p.creator_id"
        f" WHERE {condition} ORDER BY p.created DESC, p.id DESC LIMIT %(limit)s"
    )
    return count, page


def run_floor(filters, params):
    count_sql, page_sql = floor_sql(filters)
    with connection.cursor() as cursor:
        cursor.execute(count_sql, params)
        total = cursor.fetchone()[0]
        cursor.execute(page_sql, params)
        rows = cursor.fetchall()
    return total, [str(row[0]) for row in rows]


def table_indexes(model):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s", [model._meta.db_table]
        )
        return {row[0] for row in cursor.fetchall()}


def plan_scans(sql):
    """The scans of a query's plan: [(node type, relation, index)]."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    scans = []

    def walk(node):
        if "Scan" in node["Node Type"]:
            scans.append((node["Node Type"], node.get("Relation Name"), node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return scans


def run(bench):
    config, cast = bench.config, bench.cast
    table = Table(
        NUMBER,
        TITLE,
        [
            ("processes", "processes"),
            ("variant", "variant"),
            ("count", "matches"),
            ("ms", "ours ms"),
            ("floor_ms", "floor ms"),
            ("ratio", "ratio"),
            ("ratio_target", "target"),
            ("queries", "queries"),
            ("queries_target", "target"),
            ("result", "result"),
        ],
    )
    api = client(cast.reader_header)
    seeded = 0
    largest = config.list_sizes[-1]
    for size in config.list_sizes:
        seed.seed_archive(cast, size - seeded, seed=size)
        seeded = size
        seed.vacuum(Process, Task)
        for variant, filters in VARIANTS:
            query = "&".join(
                f"{k}={v}" for k, v in {**filters, "page_size": config.page_size}.items()
            )
            path = f"{PATH}?{query}"
            queries, sql, response = count_queries(lambda path=path: api.get(path))
            body = response.json()
            params = {"user": str(cast.reader.pk), "limit": config.page_size, **filters}
            total, ids = run_floor(filters, params)
            if total != body["count"] or ids != [item["id"] for item in body["results"]]:
                raise AssertionError(f"The floor of {variant} does not give the API's answer.")
            ours, floor = paired_medians(
                lambda path=path: http_get(bench.session, bench.url(path)),
                lambda f=filters, p=params: run_floor(f, p),
                config.runs,
            )
            value = ratio(ours, floor)
            timed = size == largest and variant in TIMED_TARGETS
            ok_queries = queries <= MAX_QUERIES
            ok_ratio = value <= MAX_RATIO if timed else True
            table.add(
                processes=size,
                variant=variant,
                count=body["count"],
                ms=ours,
                floor_ms=floor,
                ratio=times(value),
                ratio_target=f"<= {MAX_RATIO:.0f}x" if timed else "-",
                queries=queries,
                queries_target=f"<= {MAX_QUERIES}",
                result="PASS" if ok_queries and ok_ratio else "MISS",
            )
            if timed and bench.profile:
                name = "list_processes_" + variant.replace("=", "_")
                report = profile(lambda path=path: api.get(path), name, repeat=20)
                table.notes.append(f"profile: {report}")
            if timed:
                table.check(
                    f"{variant} at {size:,}: ours / floor",
                    times(value),
                    f"<= {MAX_RATIO:.0f}x",
                    ok_ratio,
                )
            if size == largest and variant == "state=running":
                page_sql = next(
                    s
                    for s in sql
                    if Process._meta.db_table in s and "LIMIT" in s and "COUNT(" not in s
                )
                scans = plan_scans(page_sql)
                task_scans = [s for s in scans if s[1] == Task._meta.db_table]
                process_scans = [s for s in scans if s[1] == Process._meta.db_table]
                indexes = sorted({s[2] for s in scans if s[2] in table_indexes(Process)})
                table.notes.append(
                    f"state=running at {size:,}: page plan scans "
                    + ", ".join(
                        kind + (f" on {rel}" if rel else "") + (f" ({idx})" if idx else "")
                        for kind, rel, idx in scans
                    )
                )
                table.check(
                    "state filter uses an index, no scan of tasks",
                    ", ".join(indexes) or "no index on processes",
                    "an index, no task scan",
                    bool(indexes)
                    and not any(kind == "Seq Scan" for kind, *_ in process_scans)
                    and not task_scans,
                )
    worst = max(row["queries"] for row in table.rows)
    table.check(
        "queries at every size and variant",
        f"max {worst}",
        f"<= {MAX_QUERIES}",
        worst <= MAX_QUERIES,
    )
    noop = noop_latency(bench.session, bench.server.url, config.runs)
    table.notes += [
        f"the do-nothing endpoint over HTTP takes {noop:.1f} ms: the fixed cost of a request",
        f"ours: median of {config.runs} GETs over HTTP (gunicorn, one request at a time, timed "
        "in turns with the floor), as a user who is a guest of every corpus (rights filters "
        "apply); queries counted in-process",
        "floor: the same count and page in hand-written SQL (same rights filter, same joins), "
        "in-process, no HTTP",
    ]
    return table
