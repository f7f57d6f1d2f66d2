"""3. Assignment: agents polling RetrieveAgentActions concurrently over HTTP until a queue of
pending tasks is all handed out.

Each agent (a process of its own) polls as fast as it can; every task it is told to start
is marked completed straight in the database, as if it ran instantly, so its slots free up
and the API sees nothing but polls. Floors, at the same concurrency and on the same
database: a raw `SELECT ... FOR UPDATE SKIP LOCKED` claim loop (tasks/s), and the
do-nothing authenticated endpoint (requests/s).
"""

import statistics
from collections import defaultdict

from django.db import connection

from bench import load, seed
from bench.measure import client, count_queries, profile
from bench.report import Table, ratio, runs, times
from bench.scenarios import missing_route
from bench.urls import NOOP_PATH
from ponos.models import Task
from process.models import Process

NUMBER = 3
TITLE = "Assignment (RetrieveAgentActions)"
PATH = "/api/v1/agent/actions/"
MIN_RATIO = 0.25


def missing():
    return missing_route(PATH, "get", "RetrieveAgentActions")


def finish_queue(farm):
    """Complete every pending task left on the farm (held or not): a clean queue."""
    Task.objects.filter(process__farm=farm, state__in=["pending", "running"]).update(
        state="completed"
    )


def noop_rate(bench, agents, seconds):
    header = f"Bearer {agents[0][1]}"
    jobs = [(bench.url(NOOP_PATH), f"Bearer {token}", seconds) for _id, token in agents]
    _released, results = load.run_workers(load.noop_client, jobs)
    fail(results)
    if sum(r["errors"] for r in results):
        raise RuntimeError(f"The do-nothing endpoint failed for {header[:12]}...")
    return load.client_rate(results)


def fail(results):
    error = load.first_error(results)
    if error:
        raise RuntimeError(f"A load worker failed: {error}")


def polling_run(bench, agents):
    total = bench.config.queue_tasks
    ids = set(seed.seed_queue(bench.cast, total))
    seed.vacuum(Task, Process)
    url = bench.url(PATH)
    jobs = [
        (url, f"Bearer {token}", agent_id, bench.dsn, Task._meta.db_table, total)
        for agent_id, token in agents
    ]
    released, results = load.run_workers(load.polling_agent, jobs)
    fail(results)
    holders = defaultdict(set)
    for (agent_id, _token), result in zip(agents, results, strict=True):
        for task_id in result["announced"]:
            holders[task_id].add(agent_id)
    doubles = sum(len(agents_) > 1 for agents_ in holders.values())
    # Every task was handed to exactly the agent the database says holds it.
    stored = dict(Task.objects.filter(pk__in=ids).values_list("pk", "agent_id"))
    wrong = sum(
        1
        for task_id, agent_id in stored.items()
        if agent_id is None or {str(agent_id)} != holders.get(str(task_id))
    )
    mismatches = sum(r["mismatches"] for r in results)
    done = max(r["done_at"] or 0 for r in results)
    if len(holders) != total or not done:
        raise RuntimeError(f"Only {len(holders)} of {total} tasks were handed out.")
    errors = sum(r["errors"] for r in results)
    requests_per_s = load.client_rate(results)
    finish_queue(bench.cast.queue_farm)
    return {
        "tasks_per_s": total / (done - released),
        "requests_per_s": requests_per_s,
        "doubles": doubles + wrong + mismatches,
        "errors": errors,
        "polls": sum(r["requests"] for r in results),
    }


def claim_run(bench, agents):
    total = bench.config.queue_tasks
    seed.seed_queue(bench.cast, total)
    seed.vacuum(Task, Process)
    jobs = [
        (
            bench.dsn,
            Task._meta.db_table,
            Process._meta.db_table,
            str(bench.cast.queue_farm.pk),
            agent_id,
            bench.config.agent_cores,
            total,
        )
        for agent_id, _token in agents
    ]
    released, results = load.run_workers(load.claim_loop, jobs)
    fail(results)
    claimed = [task for r in results for task in r["announced"]]
    done = max(r["done_at"] or 0 for r in results)
    finish_queue(bench.cast.queue_farm)
    if len(claimed) != total or len(set(claimed)) != total:
        raise RuntimeError(f"The claim loop claimed {len(set(claimed))} of {total} tasks.")
    return {"tasks_per_s": total / (done - released)}


def poll_queries(bench):
    """Queries of one poll that claims a full batch, over a short and a long queue, and of
    a poll that only announces what the agent already holds."""
    ((agent_id, token),) = seed.seed_agents(
        bench.cast.queue_farm, 1, bench.config.agent_cores, prefix="query-agent"
    )
    api = client(f"Bearer {token}")
    counts = {}
    for label, queue in (("short", 50), ("long", bench.config.queue_tasks)):
        seed.seed_queue(bench.cast, queue)
        seed.vacuum(Task, Process)
        counts[f"claims {bench.config.agent_cores} of {queue:,} pending"] = count_queries(
            lambda: api.get(PATH)
        )[0]
        counts[f"holds {bench.config.agent_cores}, claims none ({label} queue)"] = count_queries(
            lambda: api.get(PATH)
        )[0]
        if bench.profile and label == "long":
            counts["profile"] = profile(lambda: api.get(PATH), "agent_actions")
        Task.objects.filter(agent_id=agent_id).update(state="completed")
        finish_queue(bench.cast.queue_farm)
    return counts


def run(bench):
    config = bench.config
    table = Table(
        NUMBER,
        TITLE,
        [
            ("agents", "agents"),
            ("tasks_per_s", "tasks/s"),
            ("floor_tasks", "claim-loop tasks/s"),
            ("task_ratio", "ratio"),
            ("requests_per_s", "polls/s"),
            ("noop", "no-op req/s"),
            ("ratio", "ratio"),
            ("ratio_target", "target"),
            ("doubles", "double assignments"),
            ("result", "result"),
        ],
    )
    pool = seed.seed_agents(
        bench.cast.queue_farm, max(config.agent_counts), config.agent_cores, prefix="poller"
    )
    counts = poll_queries(bench)
    if "profile" in counts:
        table.notes.append(f"profile: {counts.pop('profile')}")
    for agents_count in config.agent_counts:
        agents = pool[:agents_count]
        polls, claims, noops, ratios = [], [], [], []
        for run in range(config.load_runs):
            # Each run's polls are paired with a no-op measurement right before or after
            # (alternately), so that both see the same load of the shared machine.
            if run % 2:
                noops.append(noop_rate(bench, agents, config.noop_seconds))
            polls.append(polling_run(bench, agents))
            if not run % 2:
                noops.append(noop_rate(bench, agents, config.noop_seconds))
            ratios.append(polls[-1]["requests_per_s"] / noops[-1])
            claims.append(claim_run(bench, agents))
        tasks_per_s = statistics.median(p["tasks_per_s"] for p in polls)
        requests_per_s = statistics.median(p["requests_per_s"] for p in polls)
        floor_tasks = statistics.median(c["tasks_per_s"] for c in claims)
        noop = statistics.median(noops)
        doubles = sum(p["doubles"] for p in polls)
        errors = sum(p["errors"] for p in polls)
        value = statistics.median(ratios)
        ok = value >= MIN_RATIO and doubles == 0 and errors == 0
        table.add(
            agents=agents_count,
            tasks_per_s=tasks_per_s,
            floor_tasks=floor_tasks,
            task_ratio=times(ratio(tasks_per_s, floor_tasks)),
            requests_per_s=requests_per_s,
            noop=noop,
            ratio=times(value),
            ratio_target=f">= {MIN_RATIO}x",
            doubles=doubles,
            result="PASS" if ok else "MISS",
        )
        table.check(
            f"{agents_count} agent(s): polls/s / no-op req/s",
            times(value),
            f">= {MIN_RATIO}x",
            value >= MIN_RATIO,
        )
        table.check(f"{agents_count} agent(s): double assignments", str(doubles), "0", doubles == 0)
        if errors:
            table.notes.append(f"{agents_count} agents: {errors} polls failed")
    claim = [value for label, value in counts.items() if label.startswith("claims")]
    hold = [value for label, value in counts.items() if label.startswith("holds")]
    table.check(
        "queries per poll, short / long queue",
        f"claiming {' / '.join(map(str, claim))}; holding {' / '.join(map(str, hold))}",
        "the same at every queue length",
        len(set(claim)) == 1 and len(set(hold)) == 1,
    )
    table.notes.append(
        "queries per poll: " + "; ".join(f"{label}: {value}" for label, value in counts.items())
    )
    table.notes += [
        f"{config.queue_tasks:,} pending tasks per run, agents of {config.agent_cores} cores; "
        f"medians of {runs(config.load_runs)}; gunicorn {config.gunicorn_workers} sync workers",
        "ratio: the median over runs of polls/s divided by the no-op rate measured next to them",
        "rates: the sum over clients of requests per second of each client's time spent "
        "requesting (not the instant completions it writes to the database)",
        "load generator: one process per agent (multiprocessing, no shared interpreter lock), "
        "on the same 2-core machine as gunicorn and PostgreSQL",
        "double assignments: tasks announced to two agents, or held by another agent than the "
        "one told to start them",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Task._meta.db_table}")
        table.notes.append(f"tasks in the database: {cursor.fetchone()[0]:,}")
    return table
