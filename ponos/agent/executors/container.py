"""The container executor: each task runs as a container of its image, through the Docker
Engine API (Docker, or Podman's Docker-compatible service) at `DOCKER_HOST`.

A container is labelled with its task and its agent, and with the size of the task's log
when it started: a new life of the agent finds the containers of its previous one by label,
and goes on with their logs from where the previous life stopped writing.
"""

import logging
import os
import threading
import time

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, Mount
from docker.utils import parse_repository_tag

from ponos.agent.executors.base import Execution, Executor, ExecutorError, TaskError

logger = logging.getLogger(__name__)

LABEL_TASK = "ponos.task"
LABEL_AGENT = "ponos.agent"
# Bytes of the log file written before the container's own output
LABEL_LOG_OFFSET = "ponos.log-offset"
DATA = "/data"
# Network modes of the engine; any other name is a network tasks join
NETWORK_MODES = ("bridge", "host", "none")
ENGINE_ERRORS = (DockerException, requests.RequestException)
# Seconds the log follower gets to write the last output once the container ended
LOG_DRAIN = 10
# Exit statuses of a command ended by a signal (128 + its number)
SIGNAL_EXIT = 128
# How long an exit by a signal is watched for the container's removal, seconds
REMOVAL_WINDOW = 1


def engine_reason(error):
    """The engine's own explanation of an error of the SDK, without its HTTP decorations."""
    if isinstance(error, APIError) and error.explanation:
        return str(error.explanation)
    return str(error) or type(error).__name__


def registry_of(image):
    """The registry host of an image name (`docker.io` for names without one)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def container_name(task_id):
    return f"ponos-task-{task_id}"


def container_options(config, task_id, definition, data, agent_id, log_offset, args, env):
    """The engine's `create` arguments for a task: everything a container gets, in one place
    (no privileged mode, no engine socket, nothing of the agent's own credentials)."""
    options = config.container
    mounts = [Mount(DATA, str(data), type="bind", read_only=False)]
    mounts += [
        Mount(volume.destination, volume.source, type="bind", read_only=volume.read_only)
        for volume in options.volumes
    ]
    kwargs = {
        "image": definition.get("image"),
        "command": args,
        "name": container_name(task_id),
        "labels": {
            LABEL_TASK: task_id,
            LABEL_AGENT: str(agent_id),
            LABEL_LOG_OFFSET: str(log_offset),
        },
        "environment": env,
        "working_dir": DATA,
        "mounts": mounts,
        "user": options.user or f"{os.getuid()}:{os.getgid()}",
        "detach": True,
        "stdin_open": False,
        "tty": False,
        "privileged": False,
    }
    if definition.get("shm_size"):
        kwargs["shm_size"] = str(definition["shm_size"])
    if options.network in NETWORK_MODES:
        kwargs["network_mode"] = options.network
    elif options.network:
        kwargs["network"] = options.network
    if options.memory:
        kwargs["mem_limit"] = options.memory
    if options.cpus:
        kwargs["nano_cpus"] = int(options.cpus * 1e9)
    if definition.get("gpu_id") is not None:
        # The GPU the server bound to the task, and no other
        kwargs["device_requests"] = [
            DeviceRequest(
                driver=options.gpu_driver,
                device_ids=[str(definition["gpu_id"])],
                capabilities=[["gpu"]],
            )
        ]
    return kwargs


class ContainerExecution(Execution):
    """A task's container: one thread waits for its end, another appends its output to the
    log; `written` bytes of that output are in the log already."""

    def __init__(self, executor, container_id, task_id, log_path, written=0):
        self.executor = executor
        self.api = executor.client.api
        self.container_id = container_id
        self.task_id = task_id
        self.log_path = log_path
        self.written = written
        self.exit_code = None
        self.failure = None
        self.ended = threading.Event()
        self.stopper = None
        # Set (if given) once the container ended and its output was written
        self.wakeup = None
        self.waiter = threading.Thread(target=self.wait, name=f"wait-{task_id}", daemon=True)
        self.follower = threading.Thread(target=self.follow, name=f"log-{task_id}", daemon=True)

    def begin(self):
        self.waiter.start()
        self.follower.start()

    def wait(self):
        try:
            result = self.api.wait(self.container_id, timeout=None)
            error = (result.get("Error") or {}).get("Message")
            if error:
                # Podman answers a removal under a wait with a status and this error
                self.api.inspect_container(self.container_id)
                self.failure = f"the container engine failed while the task ran: {error}"
            else:
                self.exit_code = result["StatusCode"]
                if self.exit_code >= SIGNAL_EXIT:
                    self.check_still_there()
        except NotFound:
            self.failure = "the task's container vanished while it ran"
        except ENGINE_ERRORS as e:
            self.failure = f"the container engine failed while the task ran: {engine_reason(e)}"
        finally:
            self.ended.set()
        # Wake the runner as soon as the whole output is in the log, rather than at its tick
        self.follower.join(LOG_DRAIN)
        if self.wakeup is not None:
            self.wakeup.set()

    def check_still_there(self):
        """A container removed under its task is killed first, and the wait may answer that
        exit (a signal's status) before the removal: look again for a moment, and raise
        NotFound when it is gone or being removed. Exits by a signal only: the others pay
        nothing."""
        deadline = time.monotonic() + REMOVAL_WINDOW
        while True:
            state = self.api.inspect_container(self.container_id).get("State") or {}
            if state.get("Status") == "removing" or state.get("Dead"):
                raise NotFound("removed while the task ran")
            if time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    def follow(self):
        """Append the container's output to the log, from where it was left."""
        failures = 0
        with open(self.log_path, "ab") as log:
            while True:
                seen = 0
                try:
                    stream = self.api.logs(
                        self.container_id, stdout=True, stderr=True, stream=True, follow=True
                    )
                    for chunk in stream:
                        # The engine gives the whole output again: skip what is there already
                        skip = min(max(self.written - seen, 0), len(chunk))
                        seen += len(chunk)
                        if skip < len(chunk):
                            log.write(chunk[skip:])
                            log.flush()
                            self.written += len(chunk) - skip
                except NotFound:
                    return
                except ENGINE_ERRORS as e:
                    failures += 1
                    logger.warning("Reading the output of task %s failed: %s", self.task_id, e)
                    if failures >= 5:
                        return
                # A stream can end before the container does (an engine restart, a timeout)
                if self.ended.wait(1 if failures else 0.1):
                    return

    def poll(self):
        if not self.ended.is_set():
            return None
        if self.failure:
            raise TaskError(self.failure)
        self.follower.join(LOG_DRAIN)
        return self.exit_code

    def terminate(self):
        """The engine's stop: SIGTERM, then SIGKILL after the stop grace."""

        def stop():
            try:
                self.api.stop(self.container_id, timeout=int(self.executor.config.stop_grace))
            except ENGINE_ERRORS as e:
                logger.warning("Stopping the container of task %s failed: %s", self.task_id, e)

        if self.stopper is None:
            self.stopper = threading.Thread(target=stop, name=f"stop-{self.task_id}", daemon=True)
            self.stopper.start()

    def discard(self):
        self.executor.remove(self.container_id, self.task_id)

    def kill(self):
        try:
            self.api.kill(self.container_id)
        except ENGINE_ERRORS as e:
            # Most often: it ended already
            logger.debug("Killing the container of task %s: %s", self.task_id, e)

    def release(self):
        if not self.waiter.is_alive() and not self.ended.is_set():
            # Never followed: a leftover the agent does not adopt
            self.executor.remove(self.container_id, self.task_id)
            return
        if self.stopper is not None:
            self.stopper.join(self.executor.config.stop_grace + 5)
        if not self.ended.is_set():
            self.kill()
            self.ended.wait(10)
        self.follower.join(LOG_DRAIN)
        if self.executor.config.keep_task_data:
            return
        self.executor.remove(self.container_id, self.task_id)


class ContainerExecutor(Executor):
    kind = "container"

    def __init__(self, config):
        self.config = config
        try:
            # DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI reads them
            self.client = docker.from_env(timeout=max(int(config.request_timeout), 30))
        except DockerException as e:
            raise ExecutorError(f"Cannot use the container engine: {e}") from e

    def check(self):
        try:
            self.client.ping()
        except ENGINE_ERRORS as e:
            where = os.environ.get("DOCKER_HOST") or "its default socket"
            raise ExecutorError(
                f"Cannot reach the container engine at {where}: {engine_reason(e)}; "
                "start it or set DOCKER_HOST"
            ) from e

    # Images

    def credentials(self, image):
        registry = registry_of(image)
        for item in self.config.container.registries:
            if item.registry == registry:
                return {"username": item.username, "password": item.password}
        return None

    def ensure_image(self, image):
        policy = self.config.container.pull
        if policy != "always":
            try:
                self.client.images.get(image)
                return
            except ImageNotFound:
                if policy == "never":
                    raise TaskError(
                        f"The image {image} is not on this host, and the agent's pull policy "
                        "is never"
                    ) from None
        self.pull(image)

    def pull(self, image):
        """Pull through the low-level stream: a failed pull answers 200 with the engine's
        reason in the stream, which the SDK's high-level pull hides behind ImageNotFound."""
        repository, tag = parse_repository_tag(image)
        try:
            stream = self.client.api.pull(
                repository,
                tag=tag or "latest",
                stream=True,
                decode=True,
                auth_config=self.credentials(image),
            )
            for message in stream:
                if isinstance(message, dict) and (
                    message.get("error") or message.get("errorDetail")
                ):
                    detail = message.get("errorDetail") or {}
                    reason = message.get("error") or detail.get("message")
                    raise TaskError(f"Cannot pull the image {image}: {reason}")
        except ENGINE_ERRORS as e:
            raise TaskError(f"Cannot pull the image {image}: {engine_reason(e)}") from e
        logger.info("Pulled the image %s", image)

    # Containers

    def start(self, task_id, definition, data, log_path, agent_id):
        image = definition.get("image")
        if not isinstance(image, str) or not image:
            raise TaskError(f"Cannot start the task: invalid image {image!r}")
        args = self.shell_command(definition)
        env = self.task_env(definition, DATA)
        self.ensure_image(image)
        self.hand_over(data)
        kwargs = container_options(
            self.config, task_id, definition, data, agent_id, log_path.stat().st_size, args, env
        )
        try:
            try:
                container = self.client.containers.create(**kwargs)
            except APIError as e:
                # Docker answers 409; Podman 500, naming the conflict
                if e.status_code != 409 and "already in use" not in engine_reason(e):
                    raise
                # A container of an earlier attempt of this task on this host holds the name
                self.remove(container_name(task_id), task_id)
                container = self.client.containers.create(**kwargs)
        except ENGINE_ERRORS as e:
            raise TaskError(
                f"Cannot create the container of image {image}: {engine_reason(e)}"
            ) from e
        try:
            container.start()
        except ENGINE_ERRORS as e:
            self.remove(container.id, task_id)
            raise TaskError(
                f"Cannot start the container of image {image}: {engine_reason(e)}"
            ) from e
        logger.info("Task %s started as container %s", task_id, container.short_id)
        execution = ContainerExecution(self, container.id, task_id, log_path)
        execution.begin()
        return execution

    def hand_over(self, data):
        """Give the task's directory to the configured user, when the agent may (as root):
        the task can write in it, and root can still remove it afterwards."""
        user = self.config.container.user
        if not user or os.getuid() != 0:
            return
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or not (gid or uid).isdigit():
            return
        uid, gid = int(uid), int(gid or uid)
        for directory, subdirectories, names in os.walk(data):
            for name in [directory, *(os.path.join(directory, n) for n in subdirectories + names)]:
                os.chown(name, uid, gid, follow_symlinks=False)

    def remove(self, container_id, task_id):
        try:
            # v: the anonymous volumes of the image go with it
            self.client.api.remove_container(container_id, v=True, force=True)
        except NotFound:
            pass
        except ENGINE_ERRORS as e:
            logger.warning("Cannot remove the container of task %s: %s", task_id, e)

    def leftovers(self, agent_id):
        """The containers this agent left, by task ID; their logs go on where they were."""
        try:
            containers = self.client.api.containers(
                all=True, filters={"label": [f"{LABEL_AGENT}={agent_id}"]}
            )
        except ENGINE_ERRORS as e:
            raise ExecutorError(f"Cannot list the containers: {engine_reason(e)}") from e
        found = {}
        for item in containers:
            labels = item.get("Labels") or {}
            task_id = labels.get(LABEL_TASK)
            if not task_id:
                continue
            log_path = self.config.data_dir / "logs" / f"{task_id}.log"
            try:
                offset = int(labels.get(LABEL_LOG_OFFSET, 0))
                size = log_path.stat().st_size
            except (ValueError, OSError):
                offset = size = 0
            found[task_id] = ContainerExecution(
                self, item["Id"], task_id, log_path, written=max(size - offset, 0)
            )
        return found
