"""1. RetrieveProcess on processes of 10 to 5,000 tasks (chains of 5: ~0.8 parents a task).

Floor: one SQL query fetching the same task fields (parents aggregated per task), and
`json.dumps` of the same payload, in-process.
"""

import json

from django.db import connection

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
from ponos.models import Task

NUMBER = 1
TITLE = "RetrieveProcess"
PATH = "/api/v1/process/{id}/"
MAX_QUERIES = 5
MAX_RATIO = 3.0


def missing():
    return missing_route(
        PATH.format(id="00000000-0000-0000-0000-000000000000"), "get", "RetrieveProcess"
    )


def floor_sql():
    tasks = Task._meta.db_table
    edges = Task.parents.through
    child = edges._meta.get_field("from_task").column
    parent = edges._meta.get_field("to_task").column
    return (
        "SELECT t.id::text, t.run, t.depth, t.slug, t.state, t.requires_gpu,"
        " t.original_task_id::text, t.worker_run_id::text, t.created, t.updated, t.started,"
        f" t.finished, t.expiry, ARRAY(SELECT e.{parent}::text FROM {edges._meta.db_table} e"
        f" WHERE e.{child} = t.id)"
        f" FROM {tasks} t WHERE t.process_id = %s ORDER BY t.run, t.depth, t.slug"
    )


def iso(value):
    # DRF's format for aware datetimes in UTC.
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def floor(process_id, process_fields):
    """The same payload from one query: the process fields are known beforehand."""
    with connection.cursor() as cursor:
        cursor.execute(floor_sql(), [process_id])
        rows = cursor.fetchall()
    tasks = [
        {
            "id": row[0],
            "run": row[1],
            "depth": row[2],
            "slug": row[3],
            "state": row[4],
            "parents": row[13],
            "requires_gpu": row[5],
            "original_task_id": row[6],
            "worker_run_id": row[7],
            "created": iso(row[8]),
            "updated": iso(row[9]),
            "started": iso(row[10]),
            "finished": iso(row[11]),
        }
        for row in rows
    ]
    expiry = max((row[12] for row in rows), default=None)
    payload = {**process_fields, "tasks": tasks, "expiry": iso(expiry)}
    return json.dumps(payload), payload


def comparable(payload):
    tasks = [{**task, "parents": sorted(task["parents"])} for task in payload["tasks"]]
    return {**payload, "tasks": tasks}


def run(bench):
    config, cast = bench.config, bench.cast
    table = Table(
        NUMBER,
        TITLE,
        [
            ("tasks", "tasks"),
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
    largest = config.retrieve_sizes[-1]
    for size in config.retrieve_sizes:
        process_id = seed.seed_dag(cast, size)
        seed.vacuum(Task, Task.parents.through)
        path = PATH.format(id=process_id)
        queries, _sql, response = count_queries(lambda path=path: api.get(path))
        body = response.json()
        process_fields = {k: v for k, v in body.items() if k not in ("tasks", "expiry")}
        _text, payload = floor(process_id, process_fields)
        if comparable(payload) != comparable(body):
            raise AssertionError(f"The floor's payload differs from the API's at {size} tasks.")
        ours, floor_ms = paired_medians(
            lambda path=path: http_get(bench.session, bench.url(path)),
            lambda p=process_id, f=process_fields: floor(p, f),
            config.runs,
        )
        value = ratio(ours, floor_ms)
        timed = size == largest
        ok = queries <= MAX_QUERIES and (value <= MAX_RATIO if timed else True)
        table.add(
            tasks=size,
            ms=ours,
            floor_ms=floor_ms,
            ratio=times(value),
            ratio_target=f"<= {MAX_RATIO:.0f}x" if timed else "-",
            queries=queries,
            queries_target=f"same, <= {MAX_QUERIES}",
            result="PASS" if ok else "MISS",
        )
        if timed and bench.profile:
            report = profile(lambda path=path: api.get(path), f"retrieve_process_{size}")
            table.notes.append(f"profile: {report}")
        if timed:
            table.check(
                f"{size:,} tasks: ours / floor",
                times(value),
                f"<= {MAX_RATIO:.0f}x",
                value <= MAX_RATIO,
            )
    counts = sorted({row["queries"] for row in table.rows})
    table.check(
        "queries at every size",
        " / ".join(str(row["queries"]) for row in table.rows),
        f"the same, <= {MAX_QUERIES}",
        len(counts) == 1 and counts[0] <= MAX_QUERIES,
    )
    noop = noop_latency(bench.session, bench.server.url, config.runs)
    table.notes += [
        f"the do-nothing endpoint over HTTP takes {noop:.1f} ms: the fixed cost of a request",
        f"ours: median of {config.runs} GETs over HTTP (gunicorn), body read whole, as a guest "
        "of the corpus, timed in turns with the floor; queries counted in-process",
        "floor: one SQL query (task fields, parents aggregated per task) + json.dumps of the "
        "same payload (checked equal to the API's), in-process, no HTTP",
    ]
    return table
