"""Seeding with bulk SQL: rows are streamed to PostgreSQL with COPY, never through the API.

Table and column names come from the models, so that a renamed field fails loudly here
rather than seeding the wrong column. Row values are produced lazily: a million tasks
never sit in memory at once.
"""

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.users.models import User
from arkindex.users.tokens import issue_token
from ponos.models import Agent, Artifact, Farm, Task
from process.models import Process

NULL = "\\N"
IMAGE = "registry.example.com/worker:latest"
CHUNK_LINES = 5000


def now():
    return datetime.now(UTC)


def text(value):
    """A value in COPY's text format."""
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        value = json.dumps(value)
    value = str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


class Lines:
    """A file-like object over an iterator of rows, read by psycopg2's copy_expert."""

    def __init__(self, rows):
        self.rows = iter(rows)
        self.count = 0

    def read(self, size=-1):
        lines = []
        for row in self.rows:
            lines.append("\t".join(row))
            if len(lines) >= CHUNK_LINES:
                break
        self.count += len(lines)
        return "".join(line + "\n" for line in lines)

    readline = read


def columns(model, names):
    """The table and column names of model fields (attnames, e.g. process_id)."""
    by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
    return model._meta.db_table, [by_attname[name] for name in names]


def copy(model, names, rows):
    """COPY rows (iterables of text values, in the order of `names`) into the model's table."""
    table, cols = columns(model, names)
    lines = Lines(rows)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {table} ({', '.join(cols)}) FROM STDIN", lines, size=1 << 20
        )
    return lines.count


def copy_edges(pairs):
    """Parent links: (child id, parent id) pairs into the tasks' M2M table."""
    through = Task.parents.through
    table = through._meta.db_table
    child = through._meta.get_field("from_task").column
    parent = through._meta.get_field("to_task").column
    lines = Lines(pairs)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({child}, {parent}) FROM STDIN", lines)
    return lines.count


def vacuum(*models):
    """VACUUM ANALYZE: fresh statistics and visibility maps, as autovacuum would leave them.

    Seeding processes and tasks together calls it on both tables: plans join them, and a
    farm the statistics believe empty would make the planner walk the wrong index.
    """
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def new_id():
    return str(uuid.uuid4())


@dataclass
class Cast:
    """Who calls the API in the benchmarks, and where their processes live."""

    reader: User
    reader_token: str
    creators: list
    corpora: list
    archive_farm: Farm
    queue_farm: Farm
    counters: dict = field(default_factory=dict)

    @property
    def reader_header(self):
        return f"Token {self.reader_token}"

    def next_index(self, name, count):
        """A fresh range of `count` indices for names and slugs of `name` rows."""
        start = self.counters.get(name, 0)
        self.counters[name] = start + count
        return start


def seed_cast(corpus_count=10, creator_count=20):
    """A reader who is a guest of every corpus (not a superuser: rights filters apply),
    the users who created the processes, the corpora and two farms."""
    reader = User.objects.create_user("reader@bench.example.com", display_name="Reader")
    token = issue_token(reader)
    creators = [
        User.objects.create_user(f"creator{i}@bench.example.com", display_name=f"Creator {i}")
        for i in range(creator_count)
    ]
    corpora = [Corpus.objects.create(name=f"Corpus {i}") for i in range(corpus_count)]
    CorpusMembership.objects.bulk_create(
        CorpusMembership(corpus=corpus, user=reader, level=Level.GUEST) for corpus in corpora
    )
    return Cast(
        reader=reader,
        reader_token=token,
        creators=[str(user.pk) for user in creators],
        corpora=[str(corpus.pk) for corpus in corpora],
        archive_farm=Farm.objects.create(name="Archive farm"),
        queue_farm=Farm.objects.create(name="Queue farm"),
    )


PROCESS_FIELDS = [
    "id",
    "name",
    "mode",
    "corpus_id",
    "creator_id",
    "farm_id",
    "chunks",
    "use_gpu",
    "state",
    "last_run",
    "started",
    "finished",
    "created",
    "updated",
]

TASK_FIELDS = [
    "id",
    "process_id",
    "run",
    "depth",
    "slug",
    "state",
    "image",
    "command",
    "env",
    "requires_gpu",
    "agent_id",
    "priority",
    "ttl",
    "ttl_exceeded",
    "token_mask",
    "token_hash",
    "expiry",
    "created",
    "updated",
    "started",
    "finished",
]

# Task states of a 10-task run summarized as each process state (SPEC §5): no task is
# pending, so the archive never feeds the assignment queue.
RUN_STATES = {
    "completed": ["completed"] * 10,
    "running": ["completed"] * 4 + ["running"] * 2 + ["unscheduled"] * 4,
    "failed": ["completed"] * 5 + ["failed"] + ["unscheduled"] * 4,
    "stopped": ["completed"] * 3 + ["stopped"] * 7,
}
FINAL = {"completed", "failed", "error", "cancelled", "stopped"}


def archive_state(index):
    """85% completed, 8% failed, 5% stopped, 2% running: `state=running` is selective."""
    bucket = index % 100
    if bucket < 2:
        return "running"
    if bucket < 10:
        return "failed"
    if bucket < 15:
        return "stopped"
    return "completed"


def seed_archive(cast, count, tasks_per_process=10, seed=0):
    """`count` processes of the last year on the archive farm, each with a run of
    `tasks_per_process` tasks whose states match the process state. Tasks expire in the
    future: cleanup leaves them alone. Returns the number of tasks."""
    rng = random.Random(seed)
    start = cast.next_index("archive", count)
    current = now()
    expiry = text(current + timedelta(days=60))
    processes = []
    for offset in range(count):
        index = start + offset
        created = current - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        processes.append((new_id(), index, archive_state(index), created))

    def process_rows():
        for pid, index, state, created in processes:
            started = created + timedelta(minutes=1)
            yield (
                pid,
                f"Process {index}",
                "workers",
                cast.corpora[index % len(cast.corpora)],
                cast.creators[index % len(cast.creators)],
                str(cast.archive_farm.pk),
                "1",
                "f",
                state,
                "0",
                text(started),
                text(started + timedelta(hours=1)) if state in FINAL else NULL,
                text(created),
                text(created),
            )

    def task_rows():
        for pid, _index, state, created in processes:
            started = text(created + timedelta(minutes=2))
            finished = text(created + timedelta(minutes=30))
            stamp = text(created)
            for k, task_state in enumerate(RUN_STATES[state][:tasks_per_process]):
                tid = uuid.uuid4()
                yield (
                    str(tid),
                    pid,
                    "0",
                    str(k // 2),
                    f"worker-{k}",
                    task_state,
                    IMAGE,
                    "worker run",
                    "{}",
                    "f",
                    NULL,
                    "10",
                    "0",
                    "f",
                    "",  # no usable token: the benchmarks never authenticate as a task
                    tid.hex,
                    expiry,
                    stamp,
                    stamp,
                    NULL if task_state == "unscheduled" else started,
                    finished if task_state in FINAL else NULL,
                )

    copy(Process, PROCESS_FIELDS, process_rows())
    return copy(Task, TASK_FIELDS, task_rows())


def process_row(cast, pid, name, state, farm, created, corpus_index=0):
    return (
        pid,
        name,
        "workers",
        cast.corpora[corpus_index % len(cast.corpora)],
        cast.creators[0],
        str(farm.pk),
        "1",
        "f",
        state,
        "0",
        text(created),
        text(created) if state in FINAL else NULL,
        text(created),
        text(created),
    )


def task_row(pid, slug, state, created, *, depth=0, agent=None, expiry=None, priority=10):
    tid = uuid.uuid4()
    stamp = text(created)
    return (
        str(tid),
        pid,
        "0",
        str(depth),
        slug,
        state,
        IMAGE,
        "worker run",
        "{}",
        "f",
        NULL if agent is None else str(agent),
        str(priority),
        "0",
        "f",
        "",  # no usable token: the benchmarks never authenticate as a task
        tid.hex,
        text(expiry or created + timedelta(days=30)),
        stamp,
        stamp,
        stamp if state not in ("unscheduled", "pending") else NULL,
        stamp if state in FINAL else NULL,
    )


def seed_dag(cast, task_count, depth=5):
    """One completed process of `task_count` tasks: chains of `depth` tasks, each task the
    child of the one before it (about 0.8 parent links per task). Returns its id."""
    pid = new_id()
    created = now() - timedelta(days=1)
    copy(
        Process,
        PROCESS_FIELDS,
        [process_row(cast, pid, "DAG", "completed", cast.archive_farm, created)],
    )
    rows, edges = [], []
    chains = max(1, task_count // depth)
    for chain in range(chains):
        parent = None
        for level in range(depth):
            if len(rows) >= task_count:
                break
            row = task_row(pid, f"worker-{level}_{chain}", "completed", created, depth=level)
            rows.append(row)
            if parent is not None:
                edges.append((row[0], parent))
            parent = row[0]
    copy(Task, TASK_FIELDS, rows)
    copy_edges(edges)
    return pid


def seed_history(cast, process_count, tasks_per_process, expired_processes=0, seed=0):
    """Completed processes of the last year on the archive farm, each with a run of
    `tasks_per_process` completed tasks; the tasks of the first `expired_processes` are
    past their expiry (cleanup's daily share), the others expire in the future."""
    rng = random.Random(seed)
    current = now()
    start = cast.next_index("history", process_count)
    processes = []
    for offset in range(process_count):
        created = current - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        processes.append((new_id(), start + offset, created))

    def process_rows():
        for pid, index, created in processes:
            name = f"History {index}"
            yield process_row(cast, pid, name, "completed", cast.archive_farm, created, index)

    def task_rows():
        for position, (pid, _index, created) in enumerate(processes):
            days = -1 if position < expired_processes else 60
            expiry = current + timedelta(days=days)
            for k in range(tasks_per_process):
                yield task_row(pid, f"worker-{k}", "completed", created, expiry=expiry)

    copy(Process, PROCESS_FIELDS, process_rows())
    return copy(Task, TASK_FIELDS, task_rows())


def seed_queue(cast, task_count, tasks_per_process=10, farm=None):
    """`task_count` pending, unheld, parentless tasks of processes on a farm (the queue
    farm by default), in creation order. Returns their ids."""
    farm = farm or cast.queue_farm
    created = now() - timedelta(hours=1)
    processes, rows = [], []
    start = cast.next_index("queue", task_count)
    for offset in range(0, task_count, tasks_per_process):
        pid = new_id()
        name = f"Queue {start + offset}"
        processes.append(process_row(cast, pid, name, "pending", farm, created))
        for k in range(min(tasks_per_process, task_count - offset)):
            stamp = created + timedelta(milliseconds=offset + k)
            rows.append(task_row(pid, f"worker-{k}", "pending", stamp))
    copy(Process, PROCESS_FIELDS, processes)
    copy(Task, TASK_FIELDS, rows)
    return [row[0] for row in rows]


def seed_held(cast, agents, tasks_per_agent, tasks_per_process=10):
    """Pending tasks already held by `agents` (round robin inside each process, so that
    agents share processes and their locks). Returns {agent id: [task ids]}."""
    created = now() - timedelta(minutes=10)
    held = {str(agent): [] for agent in agents}
    processes, rows = [], []
    total = tasks_per_agent * len(agents)
    start = cast.next_index("held", total)
    order = [str(agent) for agent in agents]
    for offset in range(0, total, tasks_per_process):
        pid = new_id()
        processes.append(
            process_row(cast, pid, f"Held {start + offset}", "pending", cast.queue_farm, created)
        )
        for k in range(min(tasks_per_process, total - offset)):
            agent = order[(offset + k) % len(order)]
            row = task_row(pid, f"worker-{k}", "pending", created, agent=agent)
            rows.append(row)
            held[agent].append(row[0])
    copy(Process, PROCESS_FIELDS, processes)
    copy(Task, TASK_FIELDS, rows)
    return held


ARTIFACT_FIELDS = ["id", "task_id", "path", "size", "content_type", "created", "updated"]


def seed_expired(cast, task_count, artifacts_per_task=3, tasks_per_process=10):
    """Completed processes whose tasks all expired yesterday, each task with artifacts.

    Returns (process ids, [(task id, [artifact paths])]) for the objects to store.
    """
    created = now() - timedelta(days=40)
    expiry = now() - timedelta(days=1)
    start = cast.next_index("expired", task_count)
    processes, rows, artifacts, layout = [], [], [], []
    for offset in range(0, task_count, tasks_per_process):
        pid = new_id()
        processes.append(
            process_row(
                cast, pid, f"Expired {start + offset}", "completed", cast.archive_farm, created
            )
        )
        for k in range(min(tasks_per_process, task_count - offset)):
            row = task_row(pid, f"worker-{k}", "completed", created, expiry=expiry)
            rows.append(row)
            paths = [f"output/page-{n}.json" for n in range(artifacts_per_task)]
            layout.append((row[0], paths))
            stamp = text(created)
            artifacts += [
                (new_id(), row[0], path, "1024", "application/json", stamp, stamp) for path in paths
            ]
    copy(Process, PROCESS_FIELDS, processes)
    copy(Task, TASK_FIELDS, rows)
    copy(Artifact, ARTIFACT_FIELDS, artifacts)
    return [p[0] for p in processes], layout


def seed_agents(farm, count, cpu_cores, prefix):
    """Agents of a farm that just pinged; returns [(agent id, clear token)]."""
    agents = []
    for index in range(count):
        agent = Agent(
            farm=farm,
            hostname=f"{prefix}-{index}",
            cpu_cores=cpu_cores,
            cpu_frequency=2_000_000_000,
            ram_total=16 * 1024**3,
            last_ping=now(),
        )
        token = agent.set_token()
        agent.save()
        agents.append((str(agent.pk), token))
    return agents
