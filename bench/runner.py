"""Runs the scenarios against one throwaway database and one gunicorn, prints the tables
and writes bench/results.json."""

import json
import os
import platform
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench import seed
from bench.report import Table
from bench.scenarios import (
    activities,
    assignment,
    cleanup,
    containers,
    list_processes,
    retrieve_process,
    scale,
    task_updates,
)
from bench.server import Gunicorn

RESULTS = Path(__file__).resolve().parent / "results.json"

# Scenario 6 runs first, on the small database it needs to compare with, and empties the
# process and task tables when it is done. Scenario 2 then grows the archive to 100,000
# processes and a million tasks, and every later scenario runs on a database of that size.
ORDER = [
    scale,
    list_processes,
    retrieve_process,
    assignment,
    task_updates,
    cleanup,
    containers,
    activities,
]


@dataclass
class Bench:
    config: object
    cast: seed.Cast
    server: Gunicorn
    session: requests.Session
    dsn: str
    profile: bool = False

    def url(self, path):
        return f"{self.server.url}{path}"


def run(config, only=None, strict=False, profile=False):
    started = time.monotonic()
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmarks need PostgreSQL: set ARKINDEX_DATABASE_URL.")
    print(f"Benchmarks ({config.name} run) on PostgreSQL {connection.pg_version // 10000}")
    call_command("migrate", verbosity=0)
    cast = seed.seed_cast()
    session = requests.Session()
    session.headers["Authorization"] = cast.reader_header
    tables = []
    with Gunicorn(config.gunicorn_workers) as server:
        bench = Bench(config, cast, server, session, settings.ARKINDEX_DATABASE_URL, profile)
        for module in ORDER:
            if only and module.NUMBER not in only:
                continue
            tables.append(run_scenario(module, bench))
            print(tables[-1].render(), "\n", flush=True)
    tables.sort(key=lambda table: table.number)
    elapsed = time.monotonic() - started
    summary(tables, elapsed)
    write(tables, config, elapsed)
    failed = [t for t in tables if t.status == "failed"]
    missed = [c for t in tables for c in t.checks if not c.passed]
    return 1 if failed or (strict and missed) else 0


def run_scenario(module, bench):
    reason = module.missing()
    if reason:
        table = Table(module.NUMBER, module.TITLE, [])
        table.status, table.reason = "unavailable", f"not available yet: {reason}"
        return table
    print(f"-- running {module.NUMBER}. {module.TITLE}", flush=True)
    started = time.monotonic()
    try:
        table = module.run(bench)
    except Exception as error:
        traceback.print_exc()
        table = Table(module.NUMBER, module.TITLE, [])
        table.status, table.reason = "failed", f"{type(error).__name__}: {error}"
        errors = bench.server.errors().strip()
        if errors:
            print("gunicorn's error log (end):\n" + errors, flush=True)
    table.notes.append(f"scenario time: {time.monotonic() - started:.0f} s")
    return table


def summary(tables, elapsed):
    print("=" * 80)
    print("Summary\n")
    for table in tables:
        print(table.render(), "\n")
    checks = [c for t in tables for c in t.checks]
    passed = sum(c.passed for c in checks)
    print(f"{passed}/{len(checks)} targets met; total time {elapsed / 60:.1f} min.")
    for table in tables:
        if table.status != "ok":
            print(f"  {table.heading}: {table.reason}")


def write(tables, config, elapsed):
    data = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.name,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "total_seconds": round(elapsed, 1),
        "scenarios": [table.as_json() for table in tables],
    }
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"Results written to {RESULTS}")
