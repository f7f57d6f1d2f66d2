"""Fixtures of the end-to-end tests: one installation per storage and database pair, shared
by the tests of this folder, and the workers they run.

`stack` runs each test twice: on PostgreSQL with S3 (moto's server), and on SQLite with the
local storage (what `make run` uses). Each stack has its own database and is stopped once
the last test of the folder that uses it is over.
"""

import os
import shlex

import pytest

from tests.e2e.stack import Stack
from tests.ponos.storage.fixtures import moto_server  # noqa: F401 (a fixture, found by name)

# The commands of the test workers. The agent runs each through `/bin/sh -c` in PONOS_DATA,
# where `current/` holds the files to upload and `<parent slug>` links to each parent's
# downloaded artifacts.
WRITE = """\
echo "writing greeting.txt"
mkdir -p "$PONOS_DATA/current/nested"
printf 'hello from %s\\n' "$PONOS_TASK" > "$PONOS_DATA/current/greeting.txt"
printf '{"task": "%s"}' "$PONOS_TASK" > "$PONOS_DATA/current/nested/data.json"
"""
# Copies the artifacts of each parent, found through its slug link, into current/<slug>/
READ = """\
for parent in "$PONOS_DATA"/*; do
  [ -L "$parent" ] || continue
  slug=$(basename "$parent")
  mkdir -p "$PONOS_DATA/current/$slug"
  cp -R "$parent/." "$PONOS_DATA/current/$slug/"
  echo "copied the artifacts of $slug"
done
"""
FAIL = """\
echo "failing on purpose" >&2
exit 3
"""
SLEEP = """\
echo "sleeping"
sleep 60
"""
# Fails the first time it runs in a process, succeeds afterwards
FLAKY = """\
marker={markers}/flaky-$ARKINDEX_PROCESS_ID
if [ -e "$marker" ]; then echo "second try: success"; exit 0; fi
touch "$marker"
echo "first try: failure" >&2
exit 1
"""
# Records each start with its PID, then runs for a long time
RECORD = """\
echo $$ >> {markers}/runs-$ARKINDEX_PROCESS_ID
echo "recorded"
exec sleep 60
"""


@pytest.fixture(scope="package", params=["postgres-s3", "sqlite-local"])
def stack(request, tmp_path_factory):
    kind = request.param
    options = {}
    if kind == "postgres-s3":
        url = os.environ.get("ARKINDEX_DATABASE_URL", "")
        if not url.startswith("postgres"):
            pytest.skip("needs the PostgreSQL server of `make pytest`")
        options = {"postgres_url": url, "s3_endpoint": request.getfixturevalue("moto_server")}
    stack = Stack(kind, tmp_path_factory.mktemp(kind), **options)
    try:
        yield stack.start()
    finally:
        stack.stop()


class Workers:
    """A corpus and one worker per test program, created through the API, to build
    processes from."""

    def __init__(self, stack, markers):
        self.stack = stack
        self.markers = markers
        api = stack.api
        self.corpus = api.post("corpus/", {"name": "End-to-end corpus"})["id"]
        markers_dir = shlex.quote(str(markers))
        commands = {
            "writer": WRITE,
            "reader": READ,
            "failer": FAIL,
            "sleeper": SLEEP,
            "flaky": FLAKY.format(markers=markers_dir),
            "recorder": RECORD.format(markers=markers_dir),
        }
        self.versions = {}
        for slug, command in commands.items():
            worker = api.post("workers/", {"name": slug.title(), "slug": slug, "type": "test"})
            version = api.post(
                f"workers/{worker['id']}/versions/",
                {"docker_image": f"tests/{slug}:1", "command": command},
            )
            assert (version["version"], version["state"]) == (1, "available")
            self.versions[slug] = version["id"]

    def create_process(self, name, runs):
        """A workers process with worker runs given as (worker slug, parent indexes) or
        (worker slug, parent indexes, configuration)."""
        api = self.stack.api
        process = api.post("process/", {"mode": "workers", "corpus": self.corpus, "name": name})
        worker_runs = []
        for slug, parents, *configuration in runs:
            body = {"version": self.versions[slug], "parents": [worker_runs[i] for i in parents]}
            if configuration:
                body["configuration"] = configuration[0]
            worker_runs.append(api.post(f"process/{process['id']}/workers/", body)["id"])
        return process["id"]

    def start_process(self, name, runs, **start):
        """Create a process and start it (on PONOS_DEFAULT_FARM unless a farm is given)."""
        process_id = self.create_process(name, runs)
        body = self.stack.api.post(f"process/{process_id}/start/", start, expected=200)
        assert body["started"] is not None
        return process_id


@pytest.fixture(scope="package")
def workers(stack, tmp_path_factory):
    return Workers(stack, tmp_path_factory.mktemp("markers"))
