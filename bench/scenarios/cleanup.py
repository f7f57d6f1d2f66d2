"""4. `manage.py cleanup` of expired tasks with artifacts and a log each, against moto's S3
server (in a process of its own, counting the DeleteObjects requests it answers).

The command runs as a child of a small launcher (`bench.rusage`), which reads its peak
memory with `getrusage(RUSAGE_CHILDREN)`: spawned from the benchmark itself, whose pages a
child shares until it execs, it would look as big as the benchmark. Floor:
`bench.cleanup_floor`, a raw boto3 `delete_objects` loop over the same keys plus one SQL
DELETE, also a child process, timed the same way (interpreter start-up included in both).
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from django.conf import settings
from django.core.management import get_commands

from bench import seed
from bench.report import Table, ratio, runs, times
from bench.server import ROOT, MotoS3
from ponos.models import Artifact, Task
from ponos.storage.s3 import S3Storage
from process.models import Process

NUMBER = 4
TITLE = "cleanup (expired tasks, S3)"
MAX_CALLS_PER_1000 = 1.1
MIN_RATIO = 0.7
MAX_PEAK_MB = 200
# "Flat": ten times the tasks may cost at most this much more peak memory.
MAX_GROWTH = 0.10


def missing():
    if "cleanup" not in get_commands():
        return "the cleanup management command does not exist"
    return None


def s3_environment(moto):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "arkindex.settings",
        "ARKINDEX_STORAGE": "s3",
        "ARKINDEX_S3_ENDPOINT": moto.url,
        "ARKINDEX_S3_REGION": "us-east-1",
        "ARKINDEX_S3_ACCESS_KEY": "bench",
        "ARKINDEX_S3_SECRET_KEY": "bench",
    }


def run_child(command, env):
    """Run a command to its end through bench.rusage: (seconds, exit code, peak RSS in MB,
    output)."""
    with tempfile.TemporaryFile() as output, tempfile.NamedTemporaryFile("r") as peak:
        launcher = [sys.executable, "-m", "bench.rusage", peak.name, *command]
        start = time.perf_counter()
        code = subprocess.call(launcher, cwd=ROOT, env=env, stdout=output, stderr=output)
        elapsed = time.perf_counter() - start
        output.seek(0)
        text = output.read().decode(errors="replace")
        # ru_maxrss is in kilobytes on Linux.
        peak_mb = int(peak.read() or 0) / 1024
    return elapsed, code, peak_mb, text


def prepare(bench, moto, size):
    """Expired tasks with artifacts, their objects in S3; returns (process ids, keys)."""
    processes, layout = seed.seed_expired(bench.cast, size, bench.config.artifacts_per_task)
    seed.vacuum(Process, Task, Artifact)
    artifact_keys = [f"{task}/{path}" for task, paths in layout for path in paths]
    log_keys = [f"{task}.log" for task, _paths in layout]
    moto.seed(settings.PONOS_ARTIFACTS_BUCKET, artifact_keys)
    moto.seed(settings.PONOS_LOGS_BUCKET, log_keys)
    moto.reset()
    # The fewest DeleteObjects calls possible: one per bucket and per 1,000 keys.
    fewest = math.ceil(len(artifact_keys) / 1000) + math.ceil(len(log_keys) / 1000)
    return processes, len(artifact_keys) + len(log_keys), fewest


def buckets():
    return [settings.PONOS_ARTIFACTS_BUCKET, settings.PONOS_LOGS_BUCKET]


def stored_objects(moto):
    return sum(moto.counts(buckets())["objects"].values())


def cleanup_run(bench, moto, size):
    processes, keys, fewest = prepare(bench, moto, size)
    before = stored_objects(moto)
    command = [sys.executable, "manage.py", "cleanup"]
    elapsed, code, peak, output = run_child(command, s3_environment(moto))
    if code != 0:
        raise RuntimeError(f"manage.py cleanup exited with {code}:\n{output[-3000:]}")
    counts = moto.counts(buckets())
    after = sum(counts["objects"].values())
    left = Task.objects.filter(process_id__in=processes).count()
    kept = Process.objects.filter(pk__in=processes).count()
    if left or kept != len(processes):
        raise RuntimeError(f"cleanup left {left} tasks, kept {kept}/{len(processes)} processes")
    deleted = before - after
    if deleted < keys:
        raise RuntimeError(f"cleanup deleted {deleted} of {keys} objects:\n{output[-3000:]}")
    return {
        "seconds": elapsed,
        "objects_per_s": deleted / elapsed,
        "calls_per_1000": counts["delete_objects"] / (deleted / 1000),
        # Below 1,000 keys a bucket still needs its call: the target allows the fewest.
        "allowed_per_1000": max(MAX_CALLS_PER_1000, fewest / (keys / 1000)),
        "peak_mb": peak,
        "deleted": deleted,
    }


def floor_run(bench, moto, size):
    processes, keys, _fewest = prepare(bench, moto, size)
    edges = Task.parents.through
    spec = {
        "dsn": bench.dsn,
        "endpoint": moto.url,
        "artifacts_bucket": settings.PONOS_ARTIFACTS_BUCKET,
        "logs_bucket": settings.PONOS_LOGS_BUCKET,
        "processes": processes,
        "tables": {
            "task": Task._meta.db_table,
            "artifact": Artifact._meta.db_table,
            "parents": edges._meta.db_table,
            "child": edges._meta.get_field("from_task").column,
            "parent": edges._meta.get_field("to_task").column,
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(spec, file)
        file.flush()
        command = [sys.executable, "-m", "bench.cleanup_floor", file.name]
        elapsed, code, peak, output = run_child(command, dict(os.environ))
    if code != 0:
        raise RuntimeError(f"The cleanup floor failed:\n{output[-3000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    if result["deleted_objects"] != keys:
        raise RuntimeError(f"The floor deleted {result['deleted_objects']} of {keys} objects.")
    return {"seconds": elapsed, "objects_per_s": keys / elapsed, "peak_mb": peak}


def run(bench):
    config = bench.config
    table = Table(
        NUMBER,
        TITLE,
        [
            ("tasks", "tasks"),
            ("objects", "objects"),
            ("seconds", "ours s"),
            ("objects_per_s", "ours obj/s"),
            ("floor_per_s", "floor obj/s"),
            ("ratio", "ratio"),
            ("ratio_target", "target"),
            ("calls", "DeleteObjects /1k keys"),
            ("peak_mb", "peak MB"),
            ("floor_peak_mb", "floor peak MB"),
            ("result", "result"),
        ],
    )
    with MotoS3() as moto:
        S3Storage(
            artifacts_bucket=settings.PONOS_ARTIFACTS_BUCKET,
            logs_bucket=settings.PONOS_LOGS_BUCKET,
            endpoint=moto.url,
            region="us-east-1",
            access_key="bench",
            secret_key="bench",
        ).ensure_buckets()
        peaks = {}
        for size in config.cleanup_sizes:
            ours, floors = [], []
            for _ in range(config.cleanup_runs):
                ours.append(cleanup_run(bench, moto, size))
                floors.append(floor_run(bench, moto, size))
            med = {key: statistics.median(r[key] for r in ours) for key in ours[0]}
            floor_rate = statistics.median(f["objects_per_s"] for f in floors)
            floor_peak = statistics.median(f["peak_mb"] for f in floors)
            value = ratio(med["objects_per_s"], floor_rate)
            calls = max(r["calls_per_1000"] for r in ours)
            allowed = ours[0]["allowed_per_1000"]
            peak = max(r["peak_mb"] for r in ours)
            peaks[size] = peak
            timed = size == max(config.cleanup_sizes)
            ok_rate = value >= MIN_RATIO if timed else True
            ok = ok_rate and calls <= allowed and peak < MAX_PEAK_MB
            table.add(
                tasks=size,
                objects=int(med["deleted"]),
                seconds=med["seconds"],
                objects_per_s=med["objects_per_s"],
                floor_per_s=floor_rate,
                ratio=times(value),
                ratio_target=f">= {MIN_RATIO}x" if timed else "-",
                calls=f"{calls:.2f}",
                peak_mb=peak,
                floor_peak_mb=floor_peak,
                result="PASS" if ok else "MISS",
            )
            if timed:
                table.check(
                    f"{size:,} tasks: objects/s vs floor", times(value), f">= {MIN_RATIO}x", ok_rate
                )
            table.check(
                f"{size:,} tasks: DeleteObjects per 1,000 keys",
                f"{calls:.2f}",
                f"<= {allowed:.2f}" if allowed > MAX_CALLS_PER_1000 else f"<= {MAX_CALLS_PER_1000}",
                calls <= allowed,
            )
            table.check(
                f"{size:,} tasks: peak memory",
                f"{peak:.0f} MB",
                f"< {MAX_PEAK_MB} MB",
                peak < MAX_PEAK_MB,
            )
    smallest, largest = min(peaks), max(peaks)
    growth = peaks[largest] / peaks[smallest] - 1
    table.check(
        f"peak memory flat, {smallest:,} -> {largest:,} tasks",
        f"{peaks[smallest]:.0f} -> {peaks[largest]:.0f} MB ({growth:+.0%})",
        f"<= +{MAX_GROWTH:.0%}",
        growth <= MAX_GROWTH,
    )
    table.notes += [
        f"{config.artifacts_per_task} artifacts and a log per task, 10 tasks per process, all "
        f"expired; medians of {runs(config.cleanup_runs)} (peaks and calls: the worst run)",
        "both ours and the floor run as child processes timed from spawn to exit (interpreter "
        "and imports included, the launcher's too); peak memory: getrusage(RUSAGE_CHILDREN) in "
        "that small launcher",
        "DeleteObjects requests counted by a WSGI wrapper around moto's server, which runs in "
        "its own process; the database also holds the archive of scenario 2 (not expired)",
    ]
    return table
