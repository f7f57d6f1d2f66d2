"""Real processes for the end-to-end tests: the API under gunicorn, agents, manage.py.

Nothing here runs in the test's own process but the HTTP calls and the checks: the server,
the agents, migrations and bootstrap are subprocesses on their own database.
"""

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Every wait of these tests gives up after this many seconds
TIMEOUT = 30
# PONOS_AGENT_TIMEOUT of the servers: short, so that a dead agent is noticed quickly, but
# well above the polls of the live agents (0.2 s), even on a busy machine
AGENT_TIMEOUT = 4
# Agent settings: tiny delays keep the suite fast
AGENT_OPTIONS = [
    "--poll-interval", "0.2",
    "--log-upload-interval", "0.5",
    "--stop-grace", "1",
    "--retry-delay", "0.2",
    "--retry-max-delay", "1",
    "--request-timeout", "10",
]  # fmt: skip
FINAL_STATES = {"completed", "failed", "error", "cancelled", "stopped"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Seconds gunicorn keeps an idle connection open, as in scripts/run and deploy/: above the
# idle time of our own clients (agent polls, the pages' refresh, scripts polling every few
# seconds), so that none of them sends a request on a connection the server is closing
KEEP_ALIVE = 20


def gunicorn_command(url):
    """gunicorn serving the application at `url` as the tests run it: 2 workers of 4 threads,
    stopping within 2 seconds."""
    return [
        str(BIN / "gunicorn"),
        "arkindex.wsgi:application",
        "--bind",
        url.removeprefix("http://"),
        "--workers",
        "2",
        "--threads",
        "4",
        "--graceful-timeout",
        "2",
        "--keep-alive",
        str(KEEP_ALIVE),
        "--no-control-socket",
    ]  # fmt: skip


def clean_environ(**values):
    """The test's environment without the project's settings nor make's, plus `values`."""
    prefixes = ("ARKINDEX_", "PONOS_", "DJANGO_", "PROMETHEUS_", "MAKE", "MFLAGS")
    env = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    env.update({name: str(value) for name, value in values.items()})
    return env


def wait_for(check, *, message, timeout=TIMEOUT, interval=0.1):
    """The first truthy value of `check()`; an AssertionError naming `message()` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up after {timeout} s: {message()}")
        time.sleep(interval)


class Service:
    """A child process in a session of its own, its output in a log file."""

    def __init__(self, name, args, *, env, log_path, cwd=ROOT, preexec_fn=None):
        self.name = name
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(arg) for arg in args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def output(self):
        return self.log_path.read_text(errors="replace")

    def tail(self, lines=40):
        return f"--- last lines of {self.name} ---\n" + "\n".join(
            self.output().splitlines()[-lines:]
        )

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        """Send `sig` and wait; kill the whole process group if it does not end in time."""
        if self.alive():
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop in {timeout} s\n{self.tail()}")

    def kill(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


class Api:
    """The API as a user with a token, checking every status."""

    def __init__(self, url, token):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method, path, expected=200, **kwargs):
        response = self.session.request(
            method, f"{self.url}/api/v1/{path}", timeout=10, allow_redirects=False, **kwargs
        )
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} instead of {expected}: {response.text}"
        )
        return response

    def get(self, path, expected=200, **kwargs):
        return self.call("GET", path, expected, **kwargs).json()

    def post(self, path, body=None, expected=201):
        return self.call("POST", path, expected, json=body or {}).json()

    def patch(self, path, body, expected=200):
        return self.call("PATCH", path, expected, json=body).json()

    def download_artifact(self, task_id, path):
        """DownloadArtifact: a redirection to a signed URL, followed without credentials."""
        response = self.call("GET", f"task/{task_id}/artifact/{path}", expected=302)
        content = requests.get(response.headers["Location"], timeout=10)
        content.raise_for_status()
        return content.content


def manage(env, *args, timeout=120):
    """Run a manage.py command against a stack's database; its standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *[str(arg) for arg in args]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(map(str, args))}:\n{result.stderr}"
    return result.stdout


UUID_HEX = re.compile(r"[0-9a-f]{32}")


class PostgresDatabase:
    """A database of its own on the suite's PostgreSQL server, dropped at the end."""

    def __init__(self, server_url):
        self.server_url = server_url
        self.name = f"e2e_{uuid.uuid4().hex[:12]}"
        base, _, _old_name = server_url.rpartition("/")
        self.url = f"{base}/{self.name}"
        self._admin(f'CREATE DATABASE "{self.name}"')

    def _admin(self, statement):
        connection = psycopg2.connect(self.server_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def rows(self, sql, *params):
        with (
            contextlib.closing(psycopg2.connect(self.url)) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [str(param) for param in params])
            return cursor.fetchall()

    def execute(self, sql, *params):
        """Run one statement and commit it; the number of rows it changed."""
        # The connection's own context commits; closing() closes it
        with (
            contextlib.closing(psycopg2.connect(self.url)) as connection,
            connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [str(param) for param in params])
            return cursor.rowcount

    def drop(self):
        # FORCE: a connection the server left behind must not keep the database alive
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class SqliteDatabase:
    """A SQLite file, as `make run` uses."""

    def __init__(self, path):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"

    def rows(self, sql, *params):
        # Django keeps UUIDs as 32 hexadecimal digits in SQLite
        params = [uuid.UUID(str(param)).hex for param in params]
        with contextlib.closing(sqlite3.connect(self.path, timeout=20)) as connection:
            rows = connection.execute(sql.replace("%s", "?"), params).fetchall()
        return [
            tuple(
                str(uuid.UUID(value))
                if isinstance(value, str) and UUID_HEX.fullmatch(value)
                else value
                for value in row
            )
            for row in rows
        ]

    def drop(self):
        pass
