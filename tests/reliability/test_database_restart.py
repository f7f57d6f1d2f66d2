"""The database restarting while agents poll: the server and the agents recover by
themselves, and no task is lost or run twice.

The test runs its own throwaway PostgreSQL cluster (the suite's own one is never touched),
the API under gunicorn on it, and agents as plain `requests` loops in threads, which retry
any failed call after a short delay, as the reference agent does. The cluster is stopped
while they work, then started again; nobody restarts the server or the agents.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from tests.e2e.helpers import gunicorn_command

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
CHUNKS = 6
AGENTS = 3
# How long each agent "runs" a task: long enough for the outage to fall in the middle.
TASK_DURATION = 0.2


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, message, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up after {timeout} s waiting for {message}")
        time.sleep(0.1)


class Cluster:
    """A PostgreSQL cluster of its own, in a temporary directory, on a free port."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            pytest.skip("the PostgreSQL server binaries are not installed")
        self.bin = Path(initdb).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="arkindex-restart-pg-"))
        self.dir.chmod(0o755)
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/arkindex"
        self.run("initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.run("createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "arkindex")

    def run(self, tool, *args):
        # initdb and postgres refuse to run as root
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        command = [*prefix, str(self.bin / tool), *map(str, args)]
        subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT)

    def pg_ctl(self, *args):
        self.run("pg_ctl", "-D", self.dir / "data", "-w", *args)

    def start(self):
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        self.pg_ctl("-l", self.dir / "server.log", "-o", options, "start")

    def stop(self, mode="fast"):
        self.pg_ctl("-m", mode, "stop")

    def remove(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """The API under gunicorn on the cluster, set up with manage.py like an install."""

    def __init__(self, cluster, tmp):
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("ARKINDEX_", "PONOS_", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="arkindex.settings",
            ARKINDEX_DATABASE_URL=cluster.url,
            ARKINDEX_SECRET_KEY="database-restart-test-secret-key-0123456789",
            ARKINDEX_PUBLIC_URL=self.url,
            ARKINDEX_ALLOWED_HOSTS="127.0.0.1",
            ARKINDEX_STORAGE="local",
            ARKINDEX_STORAGE_DIR=str(tmp / "storage"),
            DJANGO_SUPERUSER_EMAIL="admin@example.com",
            DJANGO_SUPERUSER_PASSWORD="restart-admin-password",
        )
        self.env = env
        self.manage("migrate", "--noinput")
        self.manage("createsuperuser", "--noinput")
        lines = self.manage("create_farm", "Restart farm").splitlines()
        self.farm_id, self.seed = (line.split(": ", 1)[1] for line in lines[:2])
        self.log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            gunicorn_command(self.url),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: self.health() == 200, "the server to answer")

    def manage(self, *args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def health(self):
        try:
            return requests.get(f"{self.url}/health/", timeout=5).status_code
        except requests.RequestException:
            return None

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()


class Agent(threading.Thread):
    """An agent as a loop of requests: register, poll, run what it is told to, report.

    Every call is retried until the server answers (a 5xx or a refused connection is
    retried; a 4xx is an answer), which is what an agent on another machine does.
    """

    def __init__(self, server, hostname, done):
        super().__init__(daemon=True)
        self.server = server
        self.hostname = hostname
        self.done = done
        self.session = requests.Session()
        self.ran = []
        self.failures = 0
        self.error = None

    def call(self, method, path, **kwargs):
        while not self.done.is_set():
            try:
                response = self.session.request(
                    method, f"{self.server.url}/api/v1/{path}", timeout=10, **kwargs
                )
            except requests.RequestException:
                response = None
            if response is not None and response.status_code < 500:
                return response
            self.failures += 1
            time.sleep(0.1)
        return None

    def run(self):
        try:
            registration = {
                "farm": self.server.farm_id,
                "seed": self.server.seed,
                "hostname": self.hostname,
                "cpu_cores": 1,
                "cpu_frequency": 1,
                "ram_total": 1,
            }
            response = self.call("POST", "agent/", json=registration)
            assert response.status_code == 201, response.text
            self.session.headers["Authorization"] = f"Bearer {response.json()['token']}"
            while not self.done.is_set():
                response = self.call("GET", "agent/actions/")
                if response is None:
                    break
                assert response.status_code == 200, response.text
                for action in response.json()["actions"]:
                    self.act(action)
                time.sleep(0.05)
        except Exception as error:  # reported by the test
            self.error = error

    def act(self, action):
        task_id = action["task_id"]
        if action["action"] == "start_task" and task_id in self.ran:
            # A start announced again after a lost answer: already running here.
            return
        if action["action"] == "start_task":
            self.report(task_id, "running")
            self.ran.append(task_id)
            time.sleep(TASK_DURATION)
            self.report(task_id, "completed")
        else:
            self.report(task_id, "stopped")

    def report(self, task_id, state):
        response = self.call("PATCH", f"task/{task_id}/", json={"state": state})
        if response is not None:
            assert response.status_code == 200, (task_id, state, response.text)


@pytest.fixture
def server(tmp_path):
    cluster = Cluster()
    server = None
    try:
        server = Server(cluster, tmp_path)
        yield server, cluster
    finally:
        if server is not None:
            server.stop()
        cluster.remove()


def api(server, token, method, path, **kwargs):
    response = requests.request(
        method,
        f"{server.url}/api/v1/{path}",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
        **kwargs,
    )
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json()


def test_agents_and_server_recover_from_a_database_restart_without_losing_a_task(server):
    server, cluster = server
    login = {"email": "admin@example.com", "password": "restart-admin-password"}
    token = requests.post(f"{server.url}/api/v1/user/login/", json=login, timeout=10).json()[
        "auth_token"
    ]
    corpus = api(server, token, "POST", "corpus/", json={"name": "Restart"})
    runs = []
    process = api(
        server,
        token,
        "POST",
        "process/",
        json={"mode": "workers", "corpus": corpus["id"], "chunks": CHUNKS},
    )
    for slug in ("first", "second", "third"):
        worker = api(
            server, token, "POST", "workers/", json={"name": slug, "slug": slug, "type": "t"}
        )
        version = api(
            server, token, "POST", f"workers/{worker['id']}/versions/", json={"docker_image": "i"}
        )
        # A chain: each worker run waits for the previous one.
        runs.append(
            api(
                server,
                token,
                "POST",
                f"process/{process['id']}/workers/",
                json={"version": version["id"], "parents": runs[-1:]},
            )["id"]
        )
    api(server, token, "POST", f"process/{process['id']}/start/", json={"farm": server.farm_id})

    done = threading.Event()
    agents = [Agent(server, f"agent-{n}", done) for n in range(AGENTS)]
    for agent in agents:
        agent.start()
    try:
        # Let the agents get going, then take the database away under them.
        wait_for(lambda: sum(len(agent.ran) for agent in agents) >= AGENTS, "agents to work")
        cluster.stop()
        assert server.health() == 503
        time.sleep(1.5)
        cluster.start()

        def finished():
            body = api(server, token, "GET", f"process/{process['id']}/")
            return body["finished"] is not None

        wait_for(finished, "the process to finish after the restart")
    finally:
        done.set()
        for agent in agents:
            agent.join(15)

    assert [agent.error for agent in agents] == [None] * AGENTS
    # The outage was felt, and nobody had to restart anything.
    assert sum(agent.failures for agent in agents) > 0
    assert server.process.poll() is None
    assert server.health() == 200
    body = api(server, token, "GET", f"process/{process['id']}/")
    assert body["state"] == "completed"
    assert len(body["tasks"]) == 3 * CHUNKS
    assert {task["state"] for task in body["tasks"]} == {"completed"}
    # Every task ran exactly once, on one agent.
    runs_of = defaultdict(list)
    for agent in agents:
        for task_id in agent.ran:
            runs_of[task_id].append(agent.hostname)
    assert set(runs_of) == {task["id"] for task in body["tasks"]}
    assert all(len(hosts) == 1 for hosts in runs_of.values()), runs_of
