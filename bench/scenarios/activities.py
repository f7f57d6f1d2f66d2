"""7. Worker activities.

Creation: the activities of a start (the background job), for N elements × 3 worker runs
in 3 chunks, against a floor of one bare `INSERT … SELECT` per run from the corpus's
elements (no selection subquery, no chunk dealing, no state changes) into the same table
with the same indexes. Target: ≤ 1.5× the floor.

Claims: StartWorkerActivity over HTTP by 8 concurrent workers (8 tasks of one worker run
and chunk, each with its task token), against 8 connections running the claiming
statement alone in a loop. Target: ≥ 0.25× the floor, at every queue size.
"""

import time

from django.db import connection, transaction

from arkindex.corpora.models import Corpus
from arkindex.documents.elements import create_elements
from arkindex.documents.models import Element, ElementType
from bench.report import Table, ratio, times
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


def seed_process(corpus, farm, creator, count, page_type):
    process = Process.objects.create(
        mode="workers", corpus=corpus, creator=creator, farm=farm, chunks=3, last_run=0
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
        create_elements(
            corpus=corpus, type=page_type, names=[f"p{n}" for n in range(count)], batch_size=5000
        )
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
        claims(bench, table, process, runs[0], count)
        empty()
        Element.objects.filter(corpus=corpus).delete()
    table.notes.append(
        "best of the runs; the job also deals the chunks (a window function), checks the "
        "process under its lock and opens the run's tasks."
    )
    return table


CLAIMERS = 8
CLAIMS_EACH = 150
CLAIM_FLOOR_SQL = """
UPDATE process_workeractivity SET state = 'started', updated = now()
WHERE id = (
    SELECT id FROM process_workeractivity
    WHERE worker_run_id = %s AND chunk = %s AND state = 'queued'
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
) AND state = 'queued'
RETURNING element_id
"""


def claims(bench, table, process, worker_run, count):
    """Claims per second over HTTP and in SQL, on a queue of `count` × 3 activities."""
    from bench import load

    process.refresh_from_db()
    WorkerActivity.objects.filter(process=process).update(state="queued", chunk=1)
    tasks = [
        Task.objects.create(
            process=process,
            run=0,
            slug=f"claimer-{count}-{n}",
            state="running",
            worker_run=worker_run,
            chunk=1,
        )
        for n in range(CLAIMERS)
    ]
    url = bench.url("/api/v1/process/start-activity/")
    _released, ours = load.run_workers(
        load.activity_claimer, [(url, f"Ponos {task.token}", CLAIMS_EACH) for task in tasks]
    )
    WorkerActivity.objects.filter(process=process).update(state="queued")
    _released, floor = load.run_workers(
        load.activity_claim_loop,
        [(bench.dsn, CLAIM_FLOOR_SQL, str(worker_run.pk), CLAIMS_EACH)] * CLAIMERS,
    )
    for results in (ours, floor):
        error = load.first_error(results)
        if error:
            raise RuntimeError(error)
    claimed = [element for result in ours for element in result["claimed"]]
    assert len(claimed) == len(set(claimed)) == CLAIMERS * CLAIMS_EACH, "a claim was doubled"
    ours_rate, floor_rate = load.client_rate(ours), load.client_rate(floor)
    value = ratio(ours_rate, floor_rate)
    table.notes.append(
        f"claims with {count * RUNS:,} activities: {ours_rate:,.0f}/s over HTTP, "
        f"{floor_rate:,.0f}/s in SQL ({times(value)}), {CLAIMERS} workers, none doubled"
    )
    table.check(
        f"claims/s, {count * RUNS:,} activities",
        times(value),
        "≥ 0.25x",
        value is not None and value >= 0.25,
    )
    Task.objects.filter(pk__in=[task.pk for task in tasks]).delete()
