"""The work of the cluster run: workers whose tasks leave a marker of each start, processes
built from them on two farms, and the checks of what their tasks and the storage show."""

import shlex
from collections import Counter

# Each start of a task appends its ID to a file named after its process: the count of a
# task's lines is how many times its command ran, whatever the API says.
MARK = """\
echo "$PONOS_TASK" >> {markers}/"$ARKINDEX_PROCESS_ID"
sleep {pause}
"""
# The same, with an artifact for its children to download
WRITE = (
    MARK
    + """\
printf '%s\\n' "$PONOS_TASK" > "$PONOS_DATA/current/out.txt"
"""
)
# Long enough for faults to find tasks running, short enough for 2,000 of them
PAUSE = 0.3
# Order of the process state when its tasks differ (the contract's rule)
SUMMARY_ORDER = [
    "running",
    "failed",
    "error",
    "cancelled",
    "stopping",
    "stopped",
    "pending",
    "unscheduled",
    "completed",
]
ACTIVE = {"pending", "running", "stopping"}


class Work:
    """Workers created through the API, and the processes the run starts from them."""

    def __init__(self, api, markers, suffix=""):
        self.api = api
        self.markers = markers
        self.corpus = api.post("corpus/", {"name": "Cluster corpus"})["id"]
        self.versions = {}
        quoted = shlex.quote(str(markers))
        for slug, command in (("marker", MARK), ("writer", WRITE)):
            # Workers of another Work of the same database need other slugs
            worker = api.post(
                "workers/", {"name": slug.title(), "slug": slug + suffix, "type": "test"}
            )
            version = api.post(
                f"workers/{worker['id']}/versions/",
                {
                    "docker_image": f"tests/{slug}:1",
                    "command": command.format(markers=quoted, pause=PAUSE),
                },
            )
            self.versions[slug] = version["id"]
        # process id -> name
        self.processes = {}

    def start(self, name, runs, *, farm, chunks=1):
        """A workers process of `runs` [(worker slug, parent indexes)], started on `farm`."""
        process = self.api.post(
            "process/", {"mode": "workers", "corpus": self.corpus, "name": name}
        )
        ids = []
        for index, (slug, parents) in enumerate(runs):
            body = {
                "version": self.versions[slug],
                "parents": [ids[i] for i in parents],
                # The same version twice in one process needs another configuration
                "configuration": {"index": index},
            }
            ids.append(self.api.post(f"process/{process['id']}/workers/", body)["id"])
        self.api.post(
            f"process/{process['id']}/start/", {"farm": farm, "chunks": chunks}, expected=200
        )
        self.processes[process["id"]] = name
        return process["id"]

    def runs(self, process_id):
        """{task id: how many times its command started}."""
        path = self.markers / process_id
        return Counter(path.read_text().split()) if path.exists() else Counter()


def big_dag(width):
    """A DAG of `width + 10` worker runs, four levels deep: one writer, four markers under
    it, `width` markers under those, four joining a few of them each, and a last one
    joining those four."""
    runs = [("writer", [])]
    runs += [("marker", [0]) for _ in range(4)]
    runs += [("marker", [1 + i % 4]) for i in range(width)]
    middle = range(5, 5 + width)
    runs += [("marker", [middle[k], middle[-1 - k]]) for k in range(4)]
    last = len(runs)
    runs.append(("marker", list(range(last - 4, last))))
    return runs


SMALL_DAG = [("writer", []), ("marker", [0]), ("marker", [0]), ("marker", [1, 2])]


def expected_state(tasks):
    """The process state that the tasks of its last run imply (restarted ones aside)."""
    if not tasks:
        return None
    last = max(task["run"] for task in tasks)
    replaced = {task["original_task_id"] for task in tasks if task["original_task_id"]}
    states = {task["state"] for task in tasks if task["run"] == last and task["id"] not in replaced}
    if len(states) == 1:
        return states.pop()
    return next(state for state in SUMMARY_ORDER if state in states)


def storage_keys(db, process_id):
    """(artifact keys, log keys) of the tasks of a process, from the database."""
    tasks = [
        row[0] for row in db.rows("SELECT id FROM ponos_task WHERE process_id = %s", process_id)
    ]
    artifacts = db.rows(
        "SELECT a.task_id, a.path FROM ponos_artifact a JOIN ponos_task t ON t.id = a.task_id "
        "WHERE t.process_id = %s",
        process_id,
    )
    return [f"{task}/{path}" for task, path in artifacts], [f"{task}.log" for task in tasks]


def present(storage, bucket, keys):
    return [key for key in keys if storage.head(bucket, key) is not None]
