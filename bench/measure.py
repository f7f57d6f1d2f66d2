"""Timing and query counting.

Latency is measured over HTTP against gunicorn; queries are counted in-process, through
Django's test client, so that counting never slows the timed requests down.
"""

import statistics
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient


def median_ms(action, runs, warmup=1):
    """Median wall time of `action()` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), samples


def paired_medians(ours, floor, runs, warmup=1):
    """Median wall times in milliseconds of `ours()` and `floor()`, timed in turns: on a
    machine shared with other work, both see the same moments of load."""
    for _ in range(warmup):
        ours()
        floor()
    samples = ([], [])
    for run in range(runs):
        # Alternate which goes first, so that neither always follows the other.
        order = ((0, ours), (1, floor)) if run % 2 == 0 else ((1, floor), (0, ours))
        for index, action in order:
            start = time.perf_counter()
            action()
            samples[index].append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


def client(header):
    """A DRF test client sending this Authorization header."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    return api


def count_queries(call, expected_status=200):
    """(number of queries, the SQL run, response) of one in-process request."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    if response.status_code != expected_status:
        raise RuntimeError(
            f"Expected {expected_status}, got {response.status_code}: {response.content[:500]!r}"
        )
    return len(captured.captured_queries), [q["sql"] for q in captured.captured_queries], response


def noop_latency(session, base_url, runs):
    """Median latency of the do-nothing endpoint over HTTP: the fixed cost of any request."""
    from bench.urls import NOOP_PATH

    return median_ms(lambda: http_get(session, f"{base_url}{NOOP_PATH}"), runs)[0]


def profile(call, name, repeat=5):
    """Profile `call()` (in-process) with pyinstrument; the report goes to
    bench/profiles/<name>.txt and its path is returned."""
    from pathlib import Path

    from pyinstrument import Profiler

    call()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeat):
        call()
    profiler.stop()
    folder = Path(__file__).resolve().parent / "profiles"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return path


def http_get(session, url, expected_status=200):
    """GET, reading the whole body; fails loudly on an unexpected status."""
    response = session.get(url, timeout=120)
    if response.status_code != expected_status:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:500]}")
    return response
