"""5. PartialUpdateTask by agents: each agent reports `running` then `completed` for the
tasks it holds, concurrently with the other agents (which share the processes, hence the
process locks). Floor: the do-nothing authenticated endpoint at the same concurrency.
"""

import statistics

from bench import load, seed
from bench.measure import client, count_queries, profile
from bench.report import Table, runs, times
from bench.scenarios import missing_route
from bench.scenarios.assignment import fail, noop_rate
from ponos.models import Task
from process.models import Process

NUMBER = 5
TITLE = "PartialUpdateTask (agent state reports)"
PATH = "/api/v1/task/{id}/"
MIN_RATIO = 0.25


def missing():
    return missing_route(
        PATH.format(id="00000000-0000-0000-0000-000000000000"), "patch", "PartialUpdateTask"
    )


def report_queries(bench):
    """Queries of each report on a task of a process of 10 tasks and of one of 1,000."""
    cast = bench.cast
    ((agent_id, token),) = seed.seed_agents(cast.queue_farm, 1, 4, prefix="report-query-agent")
    api = client(f"Bearer {token}")
    counts = {}
    for size in (10, 1_000):
        held = seed.seed_held(cast, [agent_id], 1, tasks_per_process=size)
        # The rest of the process: tasks of other agents would do, unheld ones are simpler.
        task_id = held[agent_id][0]
        process_id = Task.objects.get(pk=task_id).process_id
        extra = [
            seed.task_row(str(process_id), f"other-{n}", "unscheduled", seed.now())
            for n in range(size - 1)
        ]
        seed.copy(Task, seed.TASK_FIELDS, extra)
        for state in ("running", "completed"):
            counts[(state, size)] = count_queries(
                lambda s=state, t=task_id: api.patch(PATH.format(id=t), {"state": s}, format="json")
            )[0]
        Task.objects.filter(process_id=process_id).update(state="completed")
    if bench.profile:
        tasks = iter(seed.seed_held(cast, [agent_id], 6)[agent_id])

        def report():
            task = next(tasks)
            for state in ("running", "completed"):
                api.patch(PATH.format(id=task), {"state": state}, format="json")

        counts["profile"] = profile(report, "partial_update_task")
    return counts


def run(bench):
    config, cast = bench.config, bench.cast
    table = Table(
        NUMBER,
        TITLE,
        [
            ("agents", "agents"),
            ("reports", "reports"),
            ("requests_per_s", "reports/s"),
            ("noop", "no-op req/s"),
            ("ratio", "ratio"),
            ("ratio_target", "target"),
            ("errors", "errors"),
            ("result", "result"),
        ],
    )
    counts = report_queries(bench)
    if "profile" in counts:
        table.notes.append(f"profile: {counts.pop('profile')}")
    for agents_count in config.report_agent_counts:
        agents = seed.seed_agents(
            cast.queue_farm, agents_count, 4, prefix=f"reporter{agents_count}"
        )
        per_agent = max(1, config.report_tasks // agents_count)
        rates, noops, ratios, errors = [], [], [], 0
        for run in range(config.report_runs):
            # Paired with a no-op measurement right before or after, alternately.
            if run % 2:
                noops.append(noop_rate(bench, agents, config.noop_seconds))
            held = seed.seed_held(cast, [a for a, _t in agents], per_agent)
            seed.vacuum(Task, Process)
            jobs = [
                (bench.url(PATH), f"Bearer {token}", held[agent_id]) for agent_id, token in agents
            ]
            _released, results = load.run_workers(load.reporting_agent, jobs)
            fail(results)
            errors += sum(r["errors"] for r in results)
            rates.append(load.client_rate(results))
            if not run % 2:
                noops.append(noop_rate(bench, agents, config.noop_seconds))
            ratios.append(rates[-1] / noops[-1])
            left = Task.objects.filter(pk__in=[t for ids in held.values() for t in ids]).exclude(
                state="completed"
            )
            errors += left.count()
        reports_per_s = statistics.median(rates)
        noop = statistics.median(noops)
        value = statistics.median(ratios)
        ok = value >= MIN_RATIO and errors == 0
        table.add(
            agents=agents_count,
            reports=per_agent * agents_count * 2,
            requests_per_s=reports_per_s,
            noop=noop,
            ratio=times(value),
            ratio_target=f">= {MIN_RATIO}x",
            errors=errors,
            result="PASS" if ok else "MISS",
        )
        table.check(
            f"{agents_count} agents: reports/s / no-op req/s", times(value), f">= {MIN_RATIO}x", ok
        )
    constant = all(
        counts[(state, 10)] == counts[(state, 1_000)] for state in ("running", "completed")
    )
    table.check(
        "queries per report, process of 10 vs 1,000 tasks",
        ", ".join(
            f"{state}: {counts[(state, 10)]} vs {counts[(state, 1_000)]}"
            for state in ("running", "completed")
        ),
        "the same",
        constant,
    )
    table.notes += [
        "the URL pattern is formatted per task by the workers; tasks are spread round robin "
        "over the agents inside processes of 10 tasks, so agents contend for process locks",
        f"medians of {runs(config.report_runs)}; ratio: the median over runs of reports/s "
        "divided by the no-op rate measured next to them; one process per agent (multiprocessing), "
        f"gunicorn {config.gunicorn_workers} sync workers, same 2-core machine",
        "errors: non-200 answers, and tasks not completed at the end",
    ]
    return table
