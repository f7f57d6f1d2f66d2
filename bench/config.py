"""Sizes and repetitions: the full run of the issue, and a quick smoke run."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    name: str
    # Timed repetitions of each latency figure (after one warm-up), median reported.
    runs: int
    gunicorn_workers: int
    # 1. RetrieveProcess
    retrieve_sizes: tuple
    # 2. ListProcesses
    list_sizes: tuple
    page_size: int
    # 3. Assignment
    queue_tasks: int
    agent_counts: tuple
    agent_cores: int
    load_runs: int
    noop_seconds: float
    # 4. Cleanup
    cleanup_sizes: tuple
    cleanup_runs: int
    artifacts_per_task: int
    # 5. PartialUpdateTask
    report_agent_counts: tuple
    report_tasks: int
    report_runs: int


FULL = Config(
    name="full",
    runs=7,
    gunicorn_workers=4,
    retrieve_sizes=(10, 100, 1_000, 5_000),
    list_sizes=(1_000, 10_000, 100_000),
    page_size=50,
    queue_tasks=2_000,
    agent_counts=(1, 4, 16),
    agent_cores=4,
    load_runs=3,
    noop_seconds=2.0,
    cleanup_sizes=(2_000, 20_000),
    cleanup_runs=3,
    artifacts_per_task=3,
    report_agent_counts=(4, 16),
    report_tasks=160,
    report_runs=5,
)

QUICK = Config(
    name="quick",
    runs=3,
    gunicorn_workers=4,
    retrieve_sizes=(10, 100, 500),
    list_sizes=(200, 2_000),
    page_size=50,
    queue_tasks=200,
    agent_counts=(1, 4),
    agent_cores=4,
    load_runs=1,
    noop_seconds=1.0,
    cleanup_sizes=(200, 1_000),
    cleanup_runs=1,
    artifacts_per_task=3,
    report_agent_counts=(4,),
    report_tasks=40,
    report_runs=1,
)
