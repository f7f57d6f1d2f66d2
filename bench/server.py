"""Servers the benchmarks talk to over HTTP: gunicorn serving the application, and moto's
S3 server (in a process of its own, counting the DeleteObjects requests it answers)."""

import contextlib
import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The server exited with {process.returncode} before answering.")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"No answer from {url} after {timeout} s.")


class Gunicorn:
    """`gunicorn arkindex.wsgi:application` with sync workers on a free port, with the
    benchmark's environment (database, secret key, bench URLconf)."""

    def __init__(self, workers):
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115 -- closed in __exit__
        self.process = None

    def __enter__(self):
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "arkindex.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            "--worker-class=sync",
            "--timeout=300",
            "--backlog=2048",
            "--log-level=warning",
            f"--error-logfile={self.log.name}",
        ]
        # Signed URLs of the local storage point at this server
        env = dict(os.environ, ARKINDEX_PUBLIC_URL=self.url)
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            wait_until_up(f"{self.url}/health/", self.process)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def errors(self):
        return Path(self.log.name).read_text(errors="replace")[-4000:]


def _serve_s3(port, commands, ready):
    """Moto's threaded server, with a WSGI wrapper counting DeleteObjects requests.

    Runs in its own process: the S3 server never competes for the GIL with the client it
    measures. The parent sends commands through a pipe: seed objects, count, reset.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    # One line per request would drown the tables.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counts = {"delete_objects": 0, "requests": 0}

    def counting(app):
        def wrapped(environ, start_response):
            counts["requests"] += 1
            query = environ.get("QUERY_STRING", "")
            if environ["REQUEST_METHOD"] == "POST" and "delete" in query.split("&"):
                counts["delete_objects"] += 1
            return app(environ, start_response)

        return wrapped

    class CountingMotoServer(ThreadedMotoServer):
        def _server_entry(self):
            app = counting(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = CountingMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    ready.send("ok")
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    while True:
        command, payload = commands.recv()
        if command == "stop":
            server.stop()
            commands.send("stopped")
            return
        if command == "seed":
            # Straight into moto's backend: storing 80,000 objects over HTTP would take
            # longer than the whole benchmark.
            bucket, keys, body = payload
            for key in keys:
                backend.put_object(bucket, key, body)
            commands.send(len(keys))
        elif command == "count":
            sizes = {name: len(backend.get_bucket(name).keys) for name in payload}
            commands.send({**counts, "objects": sizes})
        elif command == "reset":
            counts.update(delete_objects=0, requests=0)
            commands.send("reset")


class MotoS3:
    """Moto's S3 server in a separate process, seeded and inspected through a pipe."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        ready_parent, ready_child = context.Pipe()
        self.process = context.Process(
            target=_serve_s3, args=(self.port, child, ready_child), daemon=True
        )
        self.ready = ready_parent

    def __enter__(self):
        self.process.start()
        if not self.ready.poll(60):
            raise RuntimeError("moto's S3 server did not start.")
        self.ready.recv()
        return self

    def call(self, command, payload=None):
        self.pipe.send((command, payload))
        return self.pipe.recv()

    def seed(self, bucket, keys, body=b"x" * 64):
        return self.call("seed", (bucket, list(keys), body))

    def counts(self, buckets):
        return self.call("count", list(buckets))

    def reset(self):
        return self.call("reset")

    def __exit__(self, *exc):
        with contextlib.suppress(Exception):
            self.call("stop")
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
