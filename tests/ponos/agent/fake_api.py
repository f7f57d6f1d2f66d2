"""A small HTTP server playing the Ponos API and a signed-URL storage for the agent's tests.

It follows the contract the agent relies on: registration hands out a new token and revokes
the previous one, a poll announces `start_task` for held pending tasks and `stop_task` for
stopping ones, state reports follow the transitions of an agent, signed URLs refuse the
agent's token, chunked bodies and expired signatures.
"""

import itertools
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

AGENT_TRANSITIONS = {
    "pending": {"running", "error"},
    "running": {"completed", "failed", "error"},
    "stopping": {"stopped", "completed", "failed", "error"},
}

# What becomes of the tasks an agent holds when it registers again
REREGISTRATION = {"running": "error", "stopping": "stopped"}


class FakeTask:
    def __init__(self, command, slug, parents, env, state, image):
        self.id = str(uuid.uuid4())
        self.command = command
        self.slug = slug
        self.parents = list(parents)
        self.env = dict(env or {})
        self.state = state
        self.image = image
        # path → {"path", "size", "content_type"}
        self.artifacts = {}
        self.reports = []
        # time.monotonic() of the first poll that announced it, and of its final report
        self.announced_at = None
        self.ended_at = None
        # The exit_code of each report, None when it had none
        self.exit_codes = []
        self.definition_reads = 0


class FakeApi:
    def __init__(self, farm="4a0c8e1e-6f5b-4b8e-9d8a-1d2c3b4a5f60", seed="farm-seed"):
        self.farm = farm
        self.seed = seed
        self.agent_id = str(uuid.uuid4())
        # Reentrant: wait_for() holds it while its predicate reads the log (log_of)
        self.lock = threading.RLock()
        self.tokens = itertools.count(1)
        self.token = None
        self.registrations = []
        self.polls = []
        self.tasks = {}
        # key → (bytes, content type)
        self.storage = {}
        self.signatures = itertools.count(1)
        self.expired_signatures = set()
        self.log_uploads = []
        # Task ids named in the `watched` key of every poll's answer
        self.watched = set()
        # PONOS_LOG_MAX_SIZE, told in the answers to log pieces
        self.log_max_size = 64 * 1024 * 1024
        # (task id, offset, size) of each piece asked for
        self.log_pieces = []
        # Refuse every piece with a 400, as for a finished task; count the refusals
        self.refuse_log_pieces = False
        self.refused_log_pieces = 0
        # Answer 500 to that many API requests, to play an unavailable server
        self.failures = 0
        # (task id, state) pairs to refuse with 400, whatever the state of the task
        self.refused_reports = set()
        # [method, end of path, count]: answer 500 to that many matching requests
        self.failing = []
        self.unauthorized = 0
        # Added to the answer of every poll
        self.extra_actions = []
        # Called with (task, state) on each report, before the answer
        self.after_report = None
        # Called with (method, path) on each request, after its headers, before its body
        self.before_body = None
        # Keys of uploads whose body went on past its Content-Length, when checked
        self.check_body_length = False
        self.overlong_uploads = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.make_handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # What tests set up and look at

    def add_task(
        self, command, *, slug="task", parents=(), env=None, state="pending", image="alpine:3"
    ):
        task = FakeTask(command, slug, parents, env, state, image)
        with self.lock:
            self.tasks[task.id] = task
        return task

    def add_artifact(self, task, path, content, content_type="application/octet-stream"):
        task.artifacts[path] = {"path": path, "size": len(content), "content_type": content_type}
        self.storage[f"artifacts/{task.id}/{path}"] = (content, content_type)

    def set_state(self, task, state):
        with self.lock:
            task.state = state

    def fail(self, method, path_end, times):
        """Answer 500 to the next `times` requests of `method` on a path ending so."""
        with self.lock:
            self.failing.append([method, path_end, times])

    def revoke_token(self):
        with self.lock:
            self.token = None

    def expire_urls(self):
        """Make every signed URL handed out so far refuse uploads, as if it had expired."""
        with self.lock:
            last = next(self.signatures)
            self.expired_signatures.update(str(number) for number in range(1, last + 1))

    def log_of(self, task):
        """The pieces of the task's log, one after the other, as the server assembles them."""
        prefix = f"logs/{task.id}.log.d/"
        with self.lock:
            pieces = sorted(
                (int(key[len(prefix) :]), content)
                for key, (content, _type) in self.storage.items()
                if key.startswith(prefix)
            )
        # As the server assembles them: no gap is expected here, and a piece sent again from
        # an earlier offset (an agent that resumed) only adds the bytes past the last one
        log, position = b"", 0
        for offset, content in pieces:
            assert offset <= position, f"piece at {offset} after {position} bytes"
            log += content[position - offset :]
            position = max(position, offset + len(content))
        return log.decode()

    def stored_artifact(self, task, path):
        return self.storage[f"artifacts/{task.id}/{path}"]

    def wait_for(self, predicate, timeout=30, message="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return
            time.sleep(0.02)
        raise AssertionError(f"Timed out waiting for {message}")

    def wait_for_state(self, task, *states, timeout=30):
        self.wait_for(lambda: task.state in states, timeout, f"task {task.slug} to be in {states}")

    # The server

    def make_handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                api.handle(self, "GET")

            def do_POST(self):
                api.handle(self, "POST")

            def do_PATCH(self):
                api.handle(self, "PATCH")

            def do_PUT(self):
                api.handle(self, "PUT")

        return Handler

    def handle(self, request, method):
        url = urlsplit(request.path)
        path = unquote(url.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if request.headers.get("Transfer-Encoding"):
            # Like S3, which needs the length of an upload up front
            return self.answer(request, 411, {"detail": "length required"})
        if self.before_body:
            self.before_body(method, path)
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self.lock:
            for failure in self.failing:
                if failure[0] == method and path.endswith(failure[1]) and failure[2] > 0:
                    failure[2] -= 1
                    return self.answer(request, 500, {"detail": "unavailable"})
        if path.startswith("/storage/"):
            return self.handle_storage(request, method, path[len("/storage/") :], query, body)
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                return self.answer(request, 500, {"detail": "unavailable"})
            status, payload, headers = self.route(request, method, path, query, body)
        self.answer(request, status, payload, headers)

    def answer(self, request, status, payload, headers=None):
        content = b"" if payload is None else json.dumps(payload).encode()
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    def sign(self, key):
        return f"{self.url}/storage/{quote(key)}?signature={next(self.signatures)}"

    def route(self, request, method, path, query, body):
        if method == "POST" and path == "/api/v1/agent/":
            return self.register(json.loads(body))
        authorization = request.headers.get("Authorization")
        if self.token is None or authorization != f"Bearer {self.token}":
            self.unauthorized += 1
            error = {"type": "client_error", "errors": [{"code": "not_authenticated"}]}
            return 401, error, {"WWW-Authenticate": "Token"}
        parts = path.strip("/").split("/")[2:]
        if method == "GET" and parts == ["agent", "actions"]:
            return self.actions(query)
        if len(parts) < 2 or parts[0] != "task" or parts[1] not in self.tasks:
            return 404, {"detail": "not found"}, None
        task = self.tasks[parts[1]]
        rest = parts[2:]
        if method == "GET" and rest == ["definition"]:
            return self.definition(task)
        if method == "PATCH" and rest == []:
            report = json.loads(body)
            task.exit_codes.append(report.get("exit_code"))
            return self.report(task, report["state"])
        if method == "GET" and rest == ["artifacts"]:
            return 200, list(task.artifacts.values()), None
        if method == "POST" and rest == ["artifacts"]:
            return self.create_artifact(task, json.loads(body))
        if method == "POST" and rest == ["log"]:
            return self.create_log_piece(task, json.loads(body))
        if method == "GET" and rest[:1] == ["artifact"]:
            artifact_path = "/".join(rest[1:])
            if artifact_path not in task.artifacts:
                return 404, {"detail": "not found"}, None
            # A relative redirection, as the local storage backend of the API may give
            location = urlsplit(self.sign(f"artifacts/{task.id}/{artifact_path}"))
            return 302, None, {"Location": f"{location.path}?{location.query}"}
        return 404, {"detail": "not found"}, None

    def register(self, body):
        if body.get("farm") != self.farm or body.get("seed") != self.seed:
            return 403, {"type": "client_error", "errors": [{"detail": "wrong seed"}]}, None
        if self.registrations:
            # Registering again: the server gives up on what the agent held
            for task in self.tasks.values():
                task.state = REREGISTRATION.get(task.state, task.state)
        self.registrations.append(body)
        self.token = f"token-{next(self.tokens)}"
        return 201, {"id": self.agent_id, "token": self.token, "hostname": body["hostname"]}, None

    def actions(self, query):
        self.polls.append(query)
        actions = list(self.extra_actions)
        for task in self.tasks.values():
            if task.state == "pending":
                actions.append({"action": "start_task", "task_id": task.id})
                task.announced_at = task.announced_at or time.monotonic()
            elif task.state == "stopping":
                actions.append({"action": "stop_task", "task_id": task.id})
        watched = [task_id for task_id in self.watched if task_id in self.tasks]
        return 200, {"actions": actions, "watched": watched}, None

    def definition(self, task):
        task.definition_reads += 1
        definition = {
            "id": task.id,
            "slug": task.slug,
            "process_id": "0b7e3c3a-5d1f-4c47-9a53-3c1f5e1d2a10",
            "run": 0,
            "state": task.state,
            "image": task.image,
            "command": task.command,
            "env": task.env,
            "shm_size": None,
            "requires_gpu": False,
            "gpu_id": None,
            "ttl": 0,
            "parents": [{"id": parent.id, "slug": parent.slug} for parent in task.parents],
            # As the server: no log URL once the task is finished
            "s3_logs_put_url": self.sign(f"logs/{task.id}.log")
            if task.state in ("pending", "running", "stopping")
            else None,
        }
        return 200, definition, None

    def report(self, task, state):
        task.reports.append(state)
        if self.after_report:
            self.after_report(task, state)
        if (task.id, state) in self.refused_reports:
            return 400, {"type": "validation_error", "errors": [{"attr": ["state"]}]}, None
        if state != task.state and state not in AGENT_TRANSITIONS.get(task.state, ()):
            return 400, {"type": "validation_error", "errors": [{"attr": ["state"]}]}, None
        task.state = state
        if state in ("completed", "failed", "error", "stopped"):
            task.ended_at = time.monotonic()
        return 200, {"id": task.id, "state": state}, None

    def create_artifact(self, task, body):
        task.artifacts[body["path"]] = {
            "path": body["path"],
            "size": body["size"],
            "content_type": body["content_type"],
        }
        put_url = self.sign(f"artifacts/{task.id}/{body['path']}")
        return 201, {**task.artifacts[body["path"]], "s3_put_url": put_url}, None

    def create_log_piece(self, task, body):
        offset, size = body["offset"], body["size"]
        if self.refuse_log_pieces:
            self.refused_log_pieces += 1
            return 400, {"type": "validation_error", "errors": [{"attr": ["state"]}]}, None
        if task.state not in ("pending", "running", "stopping"):
            return 400, {"type": "validation_error", "errors": [{"attr": ["state"]}]}, None
        if offset + size > self.log_max_size + 64 * 1024:
            return 400, {"type": "validation_error", "errors": [{"attr": ["size"]}]}, None
        self.log_pieces.append((task.id, offset, size))
        put_url = self.sign(f"logs/{task.id}.log.d/{offset:016d}")
        answer = {"offset": offset, "size": size, "s3_put_url": put_url}
        return 201, {**answer, "log_max_size": self.log_max_size}, None

    def sent_more(self, request):
        """Whether the client sends bytes beyond the body before getting its answer."""
        request.connection.settimeout(0.3)
        try:
            return bool(request.rfile.peek(1))
        except TimeoutError:
            # The connection cannot be read any more: the client will open a new one
            request.close_connection = True
            return False

    def finished_owner(self, key):
        """Whether the task owning a key is finished."""
        with self.lock:
            return any(
                key.startswith((f"logs/{task.id}.", f"artifacts/{task.id}/"))
                and task.state not in ("pending", "running", "stopping")
                for task in self.tasks.values()
            )

    def handle_storage(self, request, method, key, query, body):
        if request.headers.get("Authorization"):
            # Signed URLs carry their own credentials; a second kind is an error on S3
            return self.answer(request, 400, {"detail": "only one auth mechanism allowed"})
        if query.get("signature") in self.expired_signatures:
            return self.answer(request, 403, {"detail": "expired"})
        if method == "PUT" and self.finished_owner(key):
            # As the local backend: a finished task's objects can no longer change
            return self.answer(request, 403, {"detail": "the task is finished"})
        if method == "PUT":
            if self.check_body_length and self.sent_more(request):
                self.overlong_uploads.append(key)
            with self.lock:
                self.storage[key] = (body, request.headers.get("Content-Type"))
                if key.startswith("logs/"):
                    self.log_uploads.append((key, query.get("signature")))
            return self.answer(request, 200, None)
        if method == "GET" and key in self.storage:
            content = self.storage[key][0]
            request.send_response(200)
            request.send_header("Content-Length", str(len(content)))
            request.end_headers()
            request.wfile.write(content)
            return
        return self.answer(request, 404, {"detail": "no such key"})
