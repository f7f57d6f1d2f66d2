"""HTTP client of the agent: the API, with its token, and the storage behind signed URLs.

Network errors and server errors (5xx, 408, 429) are retried with an exponential backoff
until they succeed or the agent cancels them; they are never fatal. Other 4xx answers are
raised as `Refused` at once, for the caller to log and drop: retrying them would never help.
A 401 means the token was revoked: the agent registers again and repeats the request.
"""

import logging
import os
import random
import threading
from urllib.parse import quote, urljoin

import requests

from ponos.agent import host

logger = logging.getLogger(__name__)

# 401 appears here because the request has already registered again and repeated itself once
RETRYABLE_STATUSES = {401, 408, 429}
USER_AGENT = "ponos-agent"


class ApiError(Exception):
    pass


class Refused(ApiError):
    """The server or the storage answered with a 4xx status that no retry would change."""

    def __init__(self, description, response):
        self.status = response.status_code
        self.body = response.text[:1000]
        super().__init__(f"{description} was refused with HTTP {self.status}: {self.body}")


class Cancelled(ApiError):
    """The agent gave up retrying, because it is shutting down."""


class Unavailable(ApiError):
    """A request limited to a number of attempts failed every time."""


def is_retryable(response):
    return response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES


class FileSlice:
    """The first `size` bytes of an open file, as a request body of a known length.

    A log grows while it is uploaded: sending the file itself would send more bytes than the
    Content-Length announced. Empty bodies go as `b""`, since requests would send an empty
    file with chunked encoding, which signed PUT URLs refuse.
    """

    def __init__(self, file, size):
        self.file = file
        self.remaining = size
        self.size = size

    def __len__(self):
        return self.size

    def read(self, size=-1):
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.file.read(size)
        self.remaining -= len(data)
        return data

    def __iter__(self):
        while chunk := self.read(1024 * 1024):
            yield chunk


class PieceBody:
    """A request body of a known length: `prefix`, then `size` bytes of an open file from
    its current position (a piece of a log)."""

    def __init__(self, prefix, file, size):
        self.prefix = prefix
        self.rest = FileSlice(file, size)

    def __len__(self):
        return len(self.prefix) + len(self.rest)

    def read(self, size=-1):
        if self.prefix:
            data = self.prefix if size < 0 else self.prefix[:size]
            self.prefix = self.prefix[len(data) :]
            return data
        return self.rest.read(size)

    def __iter__(self):
        while chunk := self.read(1024 * 1024):
            yield chunk


class Backoff:
    """Delays before each retry: doubling from `initial` up to `maximum`, with jitter so that
    many agents hitting a restarting server do not all come back at once."""

    def __init__(self, initial, maximum):
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0

    def next_delay(self):
        delay = min(self.maximum, self.initial * 2**self.attempts)
        self.attempts += 1
        return delay * random.uniform(0.5, 1.0)


def report_body(state, exit_code=None):
    """PartialUpdateTask's body for an agent's report: the state, and the command's exit
    status with a final report of a command that ran."""
    body = {"state": state}
    if exit_code is not None:
        body["exit_code"] = exit_code
    return body


class ApiClient:
    def __init__(self, config, abort=None, on_register=None):
        self.config = config
        # Set when the agent gives up on everything: cancels every retry loop
        self.abort = abort or threading.Event()
        # Called with `first=True|False` after each successful registration
        self.on_register = on_register
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Signed URLs carry their own credentials: the agent's token must never reach them
        self.storage = requests.Session()
        self.storage.headers["User-Agent"] = USER_AGENT
        self.agent_id = None
        # (registration count, token), replaced as a whole so threads read a matching pair
        self.credentials = (0, None)
        self.register_lock = threading.Lock()

    def retrying(self, description, send, cancel=None, retry_refusals=False, attempts=None):
        """Call `send()` until it returns a response that is neither a network error nor a
        retryable status. 2xx and 3xx are returned, other 4xx raised as `Refused`.

        With `attempts`, raise `Unavailable` after that many failures instead of going on.
        """
        cancel = cancel or self.abort
        backoff = Backoff(self.config.retry_delay, self.config.retry_max_delay)
        while True:
            if cancel.is_set():
                raise Cancelled(f"{description} was cancelled")
            try:
                response = send()
            except requests.RequestException as e:
                failure = f"{type(e).__name__}: {e}"
            else:
                if response.status_code < 400:
                    return response
                if not is_retryable(response):
                    error = Refused(description, response)
                    if not retry_refusals:
                        raise error
                    failure = str(error)
                else:
                    failure = f"HTTP {response.status_code}"
            if attempts is not None and backoff.attempts + 1 >= attempts:
                raise Unavailable(f"{description} failed ({failure})")
            delay = backoff.next_delay()
            logger.warning("%s failed (%s); retrying in %.1f s", description, failure, delay)
            if cancel.wait(delay):
                raise Cancelled(f"{description} was cancelled")

    def register(self, first=False, cancel=None):
        """Register with the farm (again), getting a new token.

        At start-up a refusal (wrong farm or seed) is raised: only the operator can fix it.
        Later on, refusals are retried like any other error, so the agent never dies.
        """
        body = {"farm": self.config.farm, "seed": self.config.seed, **host.resources(self.config)}
        response = self.retrying(
            "Registration",
            lambda: self.session.post(
                self.config.api_url("agent/"), json=body, timeout=self.config.request_timeout
            ),
            cancel=cancel,
            retry_refusals=not first,
        )
        answer = response.json()
        self.agent_id = answer["id"]
        self.credentials = (self.credentials[0] + 1, answer["token"])
        logger.info("Registered as agent %s of farm %s", self.agent_id, self.config.farm)
        if self.on_register:
            self.on_register(first=first, agent_id=self.agent_id, token=answer["token"])

    def resume(self, agent_id, token):
        """Go on with the token of a previous life; a 401 will make the agent register."""
        self.agent_id = agent_id
        self.credentials = (self.credentials[0] + 1, token)
        logger.info("Resuming as agent %s of farm %s", agent_id, self.config.farm)

    def reregister(self, generation):
        with self.register_lock:
            # Another thread may have registered again while this one waited for the lock
            if self.credentials[0] == generation:
                logger.warning(
                    "The server refused the agent's token; registering again (this happens "
                    "at every poll when another agent registers as %s in the same farm)",
                    self.config.hostname,
                )
                self.register()

    def request(
        self, method, path, *, json=None, params=None, cancel=None, redirects=True, attempts=None
    ):
        """Call the API with the agent's token; `path` is relative to /api/v1/."""
        url = self.config.api_url(path)
        description = f"{method} {url}"
        registered_again = False

        def send():
            nonlocal registered_again
            generation, token = self.credentials
            response = self.session.request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.config.request_timeout,
                allow_redirects=redirects,
            )
            if response.status_code == 401:
                self.reregister(generation)
                if not registered_again:
                    # Repeat at once with the new token
                    registered_again = True
                    return send()
            return response

        return self.retrying(description, send, cancel=cancel, attempts=attempts)

    # Operations

    def actions(self, params, cancel=None):
        return self.request("GET", "agent/actions/", params=params, cancel=cancel).json()

    def definition(self, task_id, cancel=None, attempts=None):
        path = f"task/{task_id}/definition/"
        return self.request("GET", path, cancel=cancel, attempts=attempts).json()

    def update_state(self, task_id, state, exit_code=None, cancel=None):
        body = report_body(state, exit_code)
        return self.request("PATCH", f"task/{task_id}/", json=body, cancel=cancel)

    def list_artifacts(self, task_id, cancel=None):
        return self.request("GET", f"task/{task_id}/artifacts/", cancel=cancel).json()

    def artifact_url(self, task_id, path, cancel=None):
        """Signed URL of an artifact, from the redirection of DownloadArtifact."""
        response = self.request(
            "GET", f"task/{task_id}/artifact/{quote(path)}", cancel=cancel, redirects=False
        )
        if "Location" not in response.headers:
            raise ApiError(f"No redirection to download artifact {path} of task {task_id}")
        # The local storage backend may answer with a path on the API's own host
        return urljoin(response.url, response.headers["Location"])

    def create_artifact(self, task_id, path, content_type, size, cancel=None):
        body = {"path": path, "content_type": content_type, "size": size}
        return self.request("POST", f"task/{task_id}/artifacts/", json=body, cancel=cancel).json()

    def create_log_piece(self, task_id, offset, size, cancel=None, attempts=None):
        body = {"offset": offset, "size": size}
        path = f"task/{task_id}/log/"
        return self.request("POST", path, json=body, cancel=cancel, attempts=attempts).json()

    # Storage

    def upload_piece(self, url, file_path, start, size, prefix=b"", cancel=None, retry=True):
        """PUT `prefix` and `size` bytes of a file from `start` to a signed URL (text/plain).
        With `retry=False`, a single attempt."""

        def send():
            with open(file_path, "rb") as f:
                f.seek(start)
                body = PieceBody(prefix, f, size)
                return self.storage.put(
                    url,
                    data=body,
                    headers={"Content-Type": "text/plain"},
                    timeout=self.config.request_timeout,
                )

        description = f"Upload of {size + len(prefix)} bytes of {file_path.name}"
        return self.retrying(description, send, cancel=cancel, attempts=None if retry else 1)

    def upload(self, url, file_path, content_type, cancel=None, retry=True):
        """PUT a whole file to a signed URL. With `retry=False`, a single attempt."""

        def send():
            with open(file_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                return self.storage.put(
                    url,
                    data=FileSlice(f, size) if size else b"",
                    headers={"Content-Type": content_type},
                    timeout=self.config.request_timeout,
                )

        description = f"Upload of {file_path.name}"
        return self.retrying(description, send, cancel=cancel, attempts=None if retry else 1)

    def download(self, url, file_path, cancel=None):
        """GET a signed URL into a file; returns the number of bytes written."""

        def send():
            with self.storage.get(url, stream=True, timeout=self.config.request_timeout) as r:
                if r.status_code < 400:
                    with open(file_path, "wb") as f:
                        for chunk in r.iter_content(chunk_size=1024 * 1024):
                            f.write(chunk)
                return r

        self.retrying(f"Download of {file_path.name}", send, cancel=cancel)
        return file_path.stat().st_size
