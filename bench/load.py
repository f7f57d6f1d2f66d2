"""The load generator: clients in separate processes (spawned), so that on a small machine
they do not share one interpreter lock. This module imports nothing from Django.

Every worker gets ready (session, database connection), waits at a barrier, then runs;
the parent starts the clock when the barrier opens. Clocks are CLOCK_MONOTONIC, shared by
every process of the machine.
"""

import multiprocessing
import queue as queue_module
import time

import psycopg2
import requests

CONTEXT = multiprocessing.get_context("spawn")


def run_workers(target, jobs, timeout=900):
    """Run `target(shared, ready, *job)` in one process per job, all released at once.

    Returns (release time, [result dict per job]). `shared` is a counter every worker sees.
    """
    shared = CONTEXT.Value("q", 0)
    barrier = CONTEXT.Barrier(len(jobs) + 1)
    queue = CONTEXT.Queue()
    processes = [
        CONTEXT.Process(target=_wrap, args=(target, queue, index, shared, barrier, *job))
        for index, job in enumerate(jobs)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    released = time.perf_counter()
    results = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(jobs):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            index, result = queue.get(timeout=min(remaining, 5))
        except queue_module.Empty:
            # Check that the workers are still alive.
            if not any(p.is_alive() for p in processes) and queue.empty():
                break
            continue
        results[index] = result
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    if len(results) < len(jobs):
        raise RuntimeError(f"{len(jobs) - len(results)} load workers gave no result.")
    return released, [results[index] for index in range(len(jobs))]


def _wrap(target, queue, index, shared, barrier, *job):
    try:
        result = target(shared, barrier, *job)
    except Exception as error:  # a failed worker reports instead of hanging the run
        result = {"error": f"{type(error).__name__}: {error}"}
    queue.put((index, result))


def _session(header):
    session = requests.Session()
    session.headers["Authorization"] = header
    return session


def noop_client(shared, barrier, url, header, duration):
    """GET the do-nothing endpoint in a loop for `duration` seconds."""
    session = _session(header)
    session.get(url, timeout=60)
    barrier.wait()
    start = time.perf_counter()
    count = errors = 0
    while time.perf_counter() - start < duration:
        response = session.get(url, timeout=60)
        count += 1
        errors += response.status_code != 200
    return {"requests": count, "errors": errors, "start": start, "end": time.perf_counter()}


def polling_agent(shared, barrier, url, header, agent_id, dsn, table, total):
    """An agent polling RetrieveAgentActions until `total` tasks were handed out overall.

    Each task it is told to start is marked completed straight in the database, as if it
    had run instantly: the API only sees polls, and the agent's slots free up at once.
    """
    session = _session(header)
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    cursor = connection.cursor()
    complete = (
        f"UPDATE {table} SET state = 'completed', started = now(), finished = now() "
        "WHERE id = ANY(%s::uuid[]) AND agent_id = %s AND state = 'pending'"
    )
    announced, polls, errors, mismatches, done_at = [], 0, 0, 0, None
    # Time spent completing tasks in the database rather than polling: not the API's.
    aside = 0.0
    barrier.wait()
    start = time.perf_counter()
    while shared.value < total:
        response = session.get(url, timeout=60)
        polls += 1
        if response.status_code != 200:
            errors += 1
            continue
        starts = [
            action["task_id"]
            for action in response.json()["actions"]
            if action["action"] == "start_task"
        ]
        if not starts:
            continue
        began = time.perf_counter()
        cursor.execute(complete, (starts, agent_id))
        aside += time.perf_counter() - began
        # Fewer rows than announced: a task announced that this agent does not hold.
        mismatches += len(starts) - cursor.rowcount
        announced += starts
        with shared.get_lock():
            shared.value += len(starts)
            if shared.value >= total:
                done_at = time.perf_counter()
    connection.close()
    return {
        "requests": polls,
        "errors": errors,
        "mismatches": mismatches,
        "announced": announced,
        "start": start,
        "end": time.perf_counter(),
        "aside": aside,
        "done_at": done_at,
    }


def claim_loop(shared, barrier, dsn, task_table, process_table, farm_id, agent_id, batch, total):
    """The floor of assignment: SELECT … FOR UPDATE SKIP LOCKED, UPDATE, COMMIT, again."""
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    select = (
        f"SELECT t.id FROM {task_table} t JOIN {process_table} p ON p.id = t.process_id "
        "WHERE t.state = 'pending' AND t.agent_id IS NULL AND p.farm_id = %s "
        "ORDER BY t.priority DESC, t.created, t.id LIMIT %s FOR UPDATE OF t SKIP LOCKED"
    )
    update = f"UPDATE {task_table} SET agent_id = %s, updated = now() WHERE id = ANY(%s::uuid[])"
    claims, claimed, done_at = 0, [], None
    barrier.wait()
    start = time.perf_counter()
    while shared.value < total:
        cursor.execute(select, (farm_id, batch))
        ids = [row[0] for row in cursor.fetchall()]
        if ids:
            cursor.execute(update, (agent_id, ids))
        connection.commit()
        claims += 1
        if ids:
            claimed += [str(pk) for pk in ids]
            with shared.get_lock():
                shared.value += len(ids)
                if shared.value >= total:
                    done_at = time.perf_counter()
    connection.close()
    return {
        "requests": claims,
        "errors": 0,
        "announced": claimed,
        "start": start,
        "end": time.perf_counter(),
        "done_at": done_at,
    }


def reporting_agent(shared, barrier, url_pattern, header, task_ids):
    """PartialUpdateTask as an agent does: `running`, then `completed`, for each task."""
    session = _session(header)
    barrier.wait()
    start = time.perf_counter()
    count = errors = 0
    for task_id in task_ids:
        for state in ("running", "completed"):
            response = session.patch(
                url_pattern.format(id=task_id), json={"state": state}, timeout=60
            )
            count += 1
            errors += response.status_code != 200
    return {"requests": count, "errors": errors, "start": start, "end": time.perf_counter()}


def client_rate(results):
    """The sum of each client's requests per second of its own time spent requesting
    (time a client spends aside, writing to the database, is not the API's)."""
    return sum(r["requests"] / (r["end"] - r["start"] - r.get("aside", 0.0)) for r in results)


def first_error(results):
    return next((r["error"] for r in results if "error" in r), None)


def activity_claimer(shared, barrier, url, header, count):
    """StartWorkerActivity as a worker calls it, `count` times (the queue holds more)."""
    session = _session(header)
    barrier.wait()
    start = time.perf_counter()
    claimed, errors = [], 0
    for _ in range(count):
        response = session.post(url, timeout=60)
        if response.status_code == 200:
            claimed.append(response.json()["id"])
        else:
            errors += 1
    return {
        "requests": count,
        "errors": errors,
        "claimed": claimed,
        "start": start,
        "end": time.perf_counter(),
    }


def activity_claim_loop(shared, barrier, dsn, sql, worker_run_id, count):
    """The floor of StartWorkerActivity: the claiming statement alone, committed each time."""
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    barrier.wait()
    start = time.perf_counter()
    claimed = []
    for _ in range(count):
        cursor.execute(sql, (worker_run_id, 1))
        row = cursor.fetchone()
        connection.commit()
        if row:
            claimed.append(str(row[0]))
    connection.close()
    return {
        "requests": count,
        "errors": 0,
        "claimed": claimed,
        "start": start,
        "end": time.perf_counter(),
    }
