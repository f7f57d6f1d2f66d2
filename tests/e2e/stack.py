"""A whole installation in subprocesses: a fresh database, migrated and bootstrapped by
manage.py, the API under gunicorn on a free port, and one agent on the default farm."""

import sys
import uuid

import requests
import yaml

from ponos.storage.local import LocalStorage
from tests.e2e.helpers import (
    AGENT_OPTIONS,
    AGENT_TIMEOUT,
    BIN,
    FINAL_STATES,
    Api,
    PostgresDatabase,
    Service,
    SqliteDatabase,
    clean_environ,
    free_port,
    gunicorn_command,
    manage,
    wait_for,
)
from tests.ponos.storage.fixtures import TEST_ACCESS_KEY, TEST_SECRET_KEY, make_s3_storage

ARTIFACTS_BUCKET = "e2e-artifacts"
LOGS_BUCKET = "e2e-logs"
SECRET_KEY = "end-to-end-tests-secret-key-0123456789abcdef"
AGENT_HOSTNAME = "e2e-agent"


class Stack:
    """The API, its database and storage, and the agents started on it.

    `kind` is `postgres-s3` (PostgreSQL, S3 through moto's server) or `sqlite-local` (the
    SQLite file and local storage of `make run`).
    """

    def __init__(self, kind, tmp, *, postgres_url=None, s3_endpoint=None):
        self.kind = kind
        self.tmp = tmp
        self.services = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = clean_environ(
            DJANGO_SETTINGS_MODULE="arkindex.settings",
            ARKINDEX_SECRET_KEY=SECRET_KEY,
            ARKINDEX_PUBLIC_URL=self.url,
            ARKINDEX_ALLOWED_HOSTS="127.0.0.1,localhost",
            PONOS_ARTIFACTS_BUCKET=ARTIFACTS_BUCKET,
            PONOS_LOGS_BUCKET=LOGS_BUCKET,
            PONOS_AGENT_TIMEOUT=AGENT_TIMEOUT,
        )
        if kind == "postgres-s3":
            self.db = PostgresDatabase(postgres_url)
            self.env.update(
                ARKINDEX_STORAGE="s3",
                ARKINDEX_S3_ENDPOINT=s3_endpoint,
                ARKINDEX_S3_ACCESS_KEY=TEST_ACCESS_KEY,
                ARKINDEX_S3_SECRET_KEY=TEST_SECRET_KEY,
            )
            self.storage = make_s3_storage(
                s3_endpoint, artifacts_bucket=ARTIFACTS_BUCKET, logs_bucket=LOGS_BUCKET
            )
        else:
            self.db = SqliteDatabase(tmp / "arkindex.sqlite3")
            self.env.update(ARKINDEX_STORAGE="local", ARKINDEX_STORAGE_DIR=tmp / "storage")
            self.storage = LocalStorage(
                root=tmp / "storage",
                public_url=self.url,
                secret_key=SECRET_KEY,
                artifacts_bucket=ARTIFACTS_BUCKET,
                logs_bucket=LOGS_BUCKET,
            )
        self.env["ARKINDEX_DATABASE_URL"] = self.db.url
        self.storage.ensure_buckets()

    def bootstrap(self):
        """Migrate and bootstrap the database: the superuser's API client and the default
        farm (`farm_id`, `seed`), on `self.url`."""
        manage(self.env, "migrate", "--noinput")
        output = manage(
            self.env, "bootstrap", "--no-demo", "--agent-config", self.tmp / "agent.yml"
        )
        [token] = [line[11:] for line in output.splitlines() if line.startswith("API token: ")]
        config = yaml.safe_load((self.tmp / "agent.yml").read_text())
        self.farm_id, self.seed = config["farm"], config["seed"]
        self.env["PONOS_DEFAULT_FARM"] = self.farm_id
        self.api = Api(self.url, token)

    def start(self):
        self.bootstrap()
        self.server = Service(
            "gunicorn",
            gunicorn_command(self.url),
            env=self.env,
            log_path=self.tmp / "server.log",
        )
        self.services.append(self.server)
        wait_for(
            self.healthy,
            message=lambda: f"the server to answer on {self.url}\n{self.server.tail()}",
        )
        self.agent = self.start_agent(AGENT_HOSTNAME)
        return self

    def healthy(self):
        if not self.server.alive():
            raise AssertionError(f"The server died\n{self.server.tail()}")
        try:
            return requests.get(f"{self.url}/health/", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or no worker ready to answer yet
            return False

    def start_agent(self, hostname, *, farm_id=None, seed=None, options=(), env=None):
        """An agent subprocess; its data directory is named after its host name, so that an
        agent started again with the same name finds what its previous life left. `options`
        are more flags, `env` more environment variables."""
        agent = Service(
            f"agent {hostname}",
            [
                sys.executable,
                "-m",
                "ponos.agent",
                "--url",
                self.url,
                "--farm",
                farm_id or self.farm_id,
                "--seed",
                seed or self.seed,
                "--data-dir",
                self.tmp / "agents" / hostname,
                "--hostname",
                hostname,
                *AGENT_OPTIONS,
                *options,
            ],  # fmt: skip
            # Tasks get the agent's PATH: the project's Python comes first, as in `make run`
            env=clean_environ(PATH=f"{BIN}:{self.env['PATH']}", **(env or {})),
            # One log per life of the agent
            log_path=self.tmp / f"agent-{hostname}-{len(self.services)}.log",
        )
        self.services.append(agent)
        return agent

    def create_farm(self, name):
        """A farm made by `manage.py create_farm`: (id, seed)."""
        lines = manage(self.env, "create_farm", name).splitlines()
        return lines[0].removeprefix("id: "), lines[1].removeprefix("seed: ")

    def logs(self):
        return "\n".join(service.tail() for service in self.services)

    def stop(self):
        # Agents first: they report their tasks to the server while it still runs
        for service in reversed(self.services):
            if service.alive():
                service.stop()
        self.db.drop()

    # Reading the state of things

    def process(self, process_id):
        return self.api.get(f"process/{process_id}/")

    def task(self, task_id):
        return self.api.get(f"task/{task_id}/")

    def wait_finished(self, process_id, timeout=None):
        """RetrieveProcess once the process is no longer active (`finished` is set)."""
        last = {}

        def finished():
            last["body"] = body = self.process(process_id)
            return body if body["finished"] is not None else None

        body = wait_for(
            finished,
            message=lambda: f"process {process_id} to finish: {last.get('body')}\n{self.logs()}",
            **({"timeout": timeout} if timeout else {}),
        )
        assert body["state"] in FINAL_STATES, body
        return body

    def wait_task(self, task_id, states, timeout=None):
        """RetrieveTask once the task is in one of `states`."""
        last = {}

        def reached():
            last["body"] = body = self.task(task_id)
            return body if body["state"] in states else None

        return wait_for(
            reached,
            message=lambda: f"task {task_id} to be {states}: {last.get('body')}\n{self.logs()}",
            **({"timeout": timeout} if timeout else {}),
        )

    def read_object(self, bucket, key):
        """The whole content of a stored object, or None."""
        return self.storage.read_tail(bucket, key, 10**7)


def tasks_by_slug(process):
    return {task["slug"]: task for task in process["tasks"]}


def states(process, run=None):
    return {
        task["slug"]: task["state"]
        for task in process["tasks"]
        if run is None or task["run"] == run
    }


def new_id():
    return str(uuid.uuid4())
