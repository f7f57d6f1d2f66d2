"""9. Worker activities.

Creation: the activities of a start (the background job), for N elements × 3 worker runs
in 3 chunks, against a floor of one bare `INSERT … SELECT` per run from the corpus's
elements (no selection subquery, no chunk dealing, no state changes) into the same table
with the same indexes. Target: ≤ 1.5× the floor.

Claims: StartWorkerActivity over HTTP by 8 concurrent workers (8 tasks of one worker run
and chunk, each with its task token), on a table of 10,000 and of 1,000,000 activities
claimed right after the job created them (as a start does, before autovacuum analyzes the
table). Two floors at the same concurrency: 8 connections running the claiming statement
alone in a loop (target: ≥ 0.25×), and the do-nothing endpoint of the assignment scenario
called with the same task tokens (what one request through gunicorn, the middleware, DRF
and the token's lookup costs on this machine). Flat: the claim rate at the largest table
within 20 % of the smallest's.

Selection: ListProcessElements (pages of 500, as base-worker asks) on a folder of 100,000
descendants, the pages directly under it (depth 1) or 10 folders down (depth 10), each in
a corpus of its own: statements and latency the same at both depths.
"""

import os
import statistics
import time

from django.db import connection, transaction

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.documents.elements import create_element, create_elements
from arkindex.documents.models import Element, ElementPath, ElementType
from bench import load, seed
from bench.measure import client, count_queries, http_get, paired_medians
from bench.report import Table, grid, ratio, runs, times
from bench.urls import NOOP_PATH
from ponos.models import Task
from process.jobs import create_activities
from process.models import (
    ActivityState,
    Process,
    Worker,
    WorkerActivity,
    WorkerRun,
    WorkerVersion,
)

NUMBER = 9
TITLE = "Worker activity creation (StartProcess's background job)"
MAX_RATIO = 1.5
RUNS = 3

FLOOR_SQL = """
INSERT INTO process_workeractivity
    (process_id, worker_run_id, element_id, state, chunk, created, updated)
SELECT %s, %s, id, 'queued', 1, now(), now() FROM documents_element WHERE corpus_id = %s
"""


def missing():
    return None


def sizes(bench):
    return (10_000, 100_000) if bench.config.name == "full" else (2_000, 10_000)


def seed_elements(corpus, type, names, parent=None):
    """Elements in transactions of at most 50,000, the tables analyzed after a first 1,000.

    A scenario empties these tables before the next one fills them, and the statistics a
    vacuum leaves then count next to no row: the foreign keys checked when one large
    transaction commits are then planned as if the table were empty, through an index
    whose first column is not the key, which reads the whole index for each row.
    """
    created, start = [], 0
    for size in (1_000, *([50_000] * (len(names) // 50_000 + 1))):
        if start >= len(names):
            break
        created += create_elements(
            corpus=corpus,
            type=type,
            names=names[start : start + size],
            parent=parent,
            batch_size=5000,
        )
        start += size
        if size == 1_000:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE documents_element, documents_elementpath")
    return created


def seed_process(corpus, farm, creator, count, page_type, chunks=3):
    process = Process.objects.create(
        mode="workers", corpus=corpus, creator=creator, farm=farm, chunks=chunks, last_run=0
    )
    worker = Worker.objects.create(name="Bench", slug=f"bench-{process.pk}", type="bench")
    version = WorkerVersion.objects.create(worker=worker, version=1, docker_image="x")
    runs = []
    for n in range(RUNS):
        run = WorkerRun.objects.create(process=process, version=version, configuration={"n": n})
        if runs:
            run.parents.set([runs[-1]])
        runs.append(run)
    return process, runs


def timed(action):
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(bench):
    cast = bench.cast
    table = Table(
        NUMBER,
        TITLE,
        [
            ("elements", "elements"),
            ("rows", "activities"),
            ("ours", "job (s)"),
            ("floor", "INSERT…SELECT (s)"),
            ("ratio", "ratio"),
        ],
    )
    farm = cast.queue_farm
    for count in sizes(bench):
        corpus = Corpus.objects.create(name=f"Activities {count}")
        page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
        seed_elements(corpus, page_type, [f"p{n}" for n in range(count)])
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE documents_element")
        process, runs = seed_process(corpus, farm, cast.reader, count, page_type)

        def ours(process=process):
            Process.objects.filter(pk=process.pk).update(activity_state=ActivityState.PENDING)
            create_activities(str(process.pk), 0)

        def floor(process=process, runs=runs, corpus=corpus):
            with transaction.atomic(), connection.cursor() as cursor:
                for run_ in runs:
                    cursor.execute(FLOOR_SQL, [process.pk, run_.pk, corpus.pk])

        def empty(process=process):
            WorkerActivity.objects.filter(process=process).delete()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE process_workeractivity")

        results = {"ours": [], "floor": []}
        for _ in range(bench.config.runs if bench.config.name == "full" else 1):
            for name, action in (("floor", floor), ("ours", ours)):
                empty()
                results[name].append(timed(action))
        rows = WorkerActivity.objects.filter(process=process).count()
        assert rows == count * RUNS, rows
        ours_s, floor_s = min(results["ours"]), min(results["floor"])
        value = ratio(ours_s, floor_s)
        table.add(elements=count, rows=rows, ours=ours_s, floor=floor_s, ratio=times(value))
        table.check(
            f"creation, {count:,} elements × {RUNS} runs",
            times(value),
            f"≤ {MAX_RATIO}x",
            value is not None and value <= MAX_RATIO,
        )
        empty()
        Element.objects.filter(corpus=corpus).delete()
    table.notes.append(
        "creation: best of the runs; the job also deals the chunks (a window function), "
        "checks the process under its lock and opens the run's tasks."
    )
    claims(bench, table)
    selection(bench, table)
    return table


CLAIMERS = 8
CLAIMS_EACH = 150
CLAIM_MIN_RATIO = 0.25
FLAT = 0.8
# The claiming statement of StartWorkerActivity on PostgreSQL (process.activities.claim_sql),
# committed alone on each of 8 connections.
CLAIM_FLOOR_SQL = """
UPDATE process_workeractivity SET state = 'started', updated = now()
WHERE id = (
    SELECT id FROM process_workeractivity
    WHERE worker_run_id = %s AND chunk = %s AND state = 'queued'
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING element_id
"""


def claim_sizes(bench):
    """Activities in the table (3 worker runs of a third as many elements each)."""
    return (10_000, 1_000_000) if bench.config.name == "full" else (6_000, 30_000)


def requeue(worker_run):
    """The claimed activities of the run queued again, for the next measurement."""
    WorkerActivity.objects.filter(
        process_id=worker_run.process_id, worker_run=worker_run, state="started"
    ).update(state="queued")


def claim_round(bench, worker_run, tasks):
    """(no-op req/s, claims/s over HTTP, claims/s in SQL) with 8 workers, measured in turns."""
    headers = [f"Ponos {task.token}" for task in tasks]
    _released, noops = load.run_workers(
        load.noop_client,
        [(bench.url(NOOP_PATH), header, bench.config.noop_seconds) for header in headers],
    )
    url = bench.url("/api/v1/process/start-activity/")
    _released, ours = load.run_workers(
        load.activity_claimer, [(url, header, CLAIMS_EACH) for header in headers]
    )
    requeue(worker_run)
    _released, floor = load.run_workers(
        load.activity_claim_loop,
        [(bench.dsn, CLAIM_FLOOR_SQL, str(worker_run.pk), CLAIMS_EACH)] * CLAIMERS,
    )
    requeue(worker_run)
    for results in (noops, ours, floor):
        error = load.first_error(results)
        if error:
            raise RuntimeError(error)
    if sum(r["errors"] for r in noops + ours):
        raise RuntimeError("A do-nothing request or a claim failed.")
    for results in (ours, floor):
        claimed = [element for result in results for element in result["claimed"]]
        if not len(claimed) == len(set(claimed)) == CLAIMERS * CLAIMS_EACH:
            raise RuntimeError(f"{len(claimed) - len(set(claimed))} claims were doubled.")
    return load.client_rate(noops), load.client_rate(ours), load.client_rate(floor)


def claims(bench, table):
    """Claims per second over HTTP, against the SQL claim loop and the do-nothing request."""
    farm = bench.cast.queue_farm
    rows = []
    for count in claim_sizes(bench):
        elements = -(-count // RUNS)
        corpus = Corpus.objects.create(name=f"Claims {count}")
        page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
        seed_elements(corpus, page_type, [f"p{n}" for n in range(elements)])
        # One chunk: the 8 workers claim from the same queue, the hardest case for a claim.
        process, worker_runs = seed_process(corpus, farm, bench.cast.reader, elements, page_type, 1)
        Process.objects.filter(pk=process.pk).update(activity_state=ActivityState.PENDING)
        create_activities(str(process.pk), 0)
        total = WorkerActivity.objects.filter(process=process).count()
        assert total == elements * RUNS, total
        tasks = [
            Task.objects.create(
                process=process,
                run=0,
                slug=f"claimer-{count}-{n}",
                state="running",
                worker_run=worker_runs[0],
                chunk=1,
            )
            for n in range(CLAIMERS)
        ]
        rounds = [claim_round(bench, worker_runs[0], tasks) for _ in range(bench.config.load_runs)]
        noop, ours, floor = (statistics.median(values) for values in zip(*rounds, strict=True))
        rows.append(
            {
                "activities": total,
                "ours": ours,
                "floor": floor,
                "noop": noop,
                "share": statistics.median(r[1] / r[0] for r in rounds),
            }
        )
        Task.objects.filter(pk__in=[task.pk for task in tasks]).delete()
        WorkerActivity.objects.filter(process=process).delete()
        Element.objects.filter(corpus=corpus).delete()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE process_workeractivity")
    cells = [["activities", "claims/s", "SQL claims/s", "ratio", "no-op req/s", "claims / no-op"]]
    for row in rows:
        value = ratio(row["ours"], row["floor"])
        cells.append(
            [
                f"{row['activities']:,}",
                f"{row['ours']:,.0f}",
                f"{row['floor']:,.0f}",
                times(value),
                f"{row['noop']:,.0f}",
                times(row["share"]),
            ]
        )
        table.check(
            f"claims/s / SQL claims/s, {row['activities']:,} activities",
            times(value),
            f"≥ {CLAIM_MIN_RATIO}x",
            value is not None and value >= CLAIM_MIN_RATIO,
        )
    flat = ratio(rows[-1]["ours"], rows[0]["ours"])
    table.check(
        f"claims/s, {rows[-1]['activities']:,} / {rows[0]['activities']:,} activities",
        times(flat),
        f"≥ {FLAT}x (flat)",
        flat is not None and flat >= FLAT,
    )
    best_noop = max(row["noop"] for row in rows)
    lowest_target = CLAIM_MIN_RATIO * min(row["floor"] for row in rows)
    table.notes += [
        f"claims ({CLAIMERS} workers, {CLAIMS_EACH} claims each, one chunk; medians of "
        f"{runs(bench.config.load_runs)}, each measuring the no-op, the claims and the SQL loop "
        "in turn; none doubled):",
        *(f"  {line}" for line in grid(cells)),
        f"0.25x the SQL loop is at least {lowest_target:,.0f} requests/s, more than "
        f"the do-nothing endpoint answers ({best_noop:,.0f}/s, the same task tokens, "
        f"{bench.config.gunicorn_workers} gunicorn workers on {os.cpu_count()} cores): "
        "no request through this stack reaches it; claims / no-op is what the claim adds.",
    ]


SELECTION_DEPTHS = (1, 10)
PAGE_SIZE = 500
SELECTION_FLAT = 1.25


def selection_size(bench):
    return 100_000 if bench.config.name == "full" else 10_000


def folder_chain(corpus, folder_type, depth, label):
    """A folder and depth - 1 folders nested under it: (top, deepest)."""
    top = parent = create_element(corpus=corpus, type=folder_type, name=f"{label} depth {depth}")
    for level in range(1, depth):
        parent = create_element(
            corpus=corpus, type=folder_type, name=f"{label} level {level}", parent=parent
        )
    return top, parent


def selection(bench, table):
    """ListProcessElements on a folder of N descendants at depth 1 and 10, each in a corpus
    of its own (the same size), timed in turns so that both see the same load."""
    cast, count = bench.cast, selection_size(bench)
    api = client(cast.reader_header)
    shapes = []
    for depth in SELECTION_DEPTHS:
        corpus = Corpus.objects.create(name=f"Selection depth {depth}")
        CorpusMembership.objects.create(corpus=corpus, user=cast.reader, level=Level.GUEST)
        folder_type = ElementType.objects.create(
            corpus=corpus, slug="folder", display_name="Folder", folder=True
        )
        page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
        top, deepest = folder_chain(corpus, folder_type, depth, "Folder")
        seed_elements(corpus, page_type, [f"p{n}" for n in range(count)], parent=deepest)
        process = Process.objects.create(
            mode="workers", corpus=corpus, creator=cast.reader, element=top, load_children=True
        )
        # The folder itself and its subfolders are selected too.
        shapes.append((depth, corpus, process, count + depth))
    seed.vacuum(Element, ElementPath)
    cells = [["depth", "descendants", "statements", "first page ms", "last page ms"]]
    rows = []
    for depth, _corpus, process, descendants in shapes:
        path = f"/api/v1/process/{process.pk}/elements/?page_size={PAGE_SIZE}"
        queries, _sql, response = count_queries(lambda path=path: api.get(path))
        assert response.json()["count"] == descendants, response.json()["count"]
        last = f"{path}&page={-(-descendants // PAGE_SIZE)}"
        rows.append({"depth": depth, "n": descendants, "queries": queries, "urls": (path, last)})
    shallow, deep = rows

    def getter(path):
        return lambda: http_get(bench.session, bench.url(path))

    for index, key in ((0, "first"), (1, "last")):
        deep[key], shallow[key] = paired_medians(
            getter(deep["urls"][index]), getter(shallow["urls"][index]), bench.config.runs
        )
    for row in rows:
        cells.append(
            [
                str(row["depth"]),
                f"{row['n']:,}",
                str(row["queries"]),
                f"{row['first']:.1f}",
                f"{row['last']:.1f}",
            ]
        )
    table.check(
        "ListProcessElements statements, depth 1 / 10",
        f"{shallow['queries']} / {deep['queries']}",
        "the same",
        shallow["queries"] == deep["queries"],
    )
    for key, label in (("first", "first"), ("last", "last")):
        growth = ratio(deep[key], shallow[key])
        table.check(
            f"ListProcessElements {label} page ms, depth 10 / depth 1",
            times(growth),
            f"≤ {SELECTION_FLAT}x (flat)",
            growth is not None and growth <= SELECTION_FLAT,
        )
    table.notes += [
        f"ListProcessElements on a folder of {count:,} pages (pages of {PAGE_SIZE}; the reader "
        f"over HTTP; medians of {runs(bench.config.runs)}, the two depths in turns):",
        *(f"  {line}" for line in grid(cells)),
    ]
    for _depth, corpus, _process, _n in shapes:
        Process.objects.filter(corpus=corpus).delete()
        Element.objects.filter(corpus=corpus).delete()
