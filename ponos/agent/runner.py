"""Running one task: fetch its definition and its parents' artifacts, run its command, upload
its log and artifacts, and report its states."""

import logging
import mimetypes
import os
import shutil
import threading
import time
from pathlib import Path, PurePosixPath

from ponos.agent.api import ApiError, Cancelled, Refused
from ponos.agent.executors import TaskError
from ponos.agent.logs import LogShipper

logger = logging.getLogger(__name__)

# How often the runner looks at its process and at stop requests, in seconds
TICK = 0.1
# How many times a refused signed URL is replaced by a fresh one before giving up
URL_RENEWALS = 3
LOG_PREFIX = "[ponos-agent]"
FINAL_STATES = {"completed", "failed", "error", "cancelled", "stopped"}
# Content types of compressed files, which mimetypes reports as an encoding instead
ENCODINGS = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}


def guess_content_type(path):
    content_type, encoding = mimetypes.guess_type(path, strict=False)
    if encoding:
        return ENCODINGS.get(encoding, "application/octet-stream")
    return content_type or "application/octet-stream"


def safe_join(root, relative):
    """`root / relative` for a server-given relative path that must stay below `root`."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise TaskError(f"Refusing the path {relative!r}: it leaves its directory")
    return root.joinpath(*parts)


class TaskRunner(threading.Thread):
    """Runs one task in its own thread.

    The task's data directory is `<data dir>/<task id>/`, its log `<data dir>/logs/<task
    id>.log`; both are removed once the task is over, unless `keep_task_data` is set.
    `final_state` holds the last state the runner reported (or tried to report), or None when
    it reported nothing.

    The `executor` runs the command; with `adopted`, the runner goes on with the execution a
    previous life of the agent started (its data and log are there already).
    """

    def __init__(self, task_id, config, client, executor, adopted=None):
        super().__init__(name=f"task-{task_id}", daemon=True)
        self.task_id = str(task_id)
        self.config = config
        self.client = client
        self.executor = executor
        self.adopted = adopted
        self.data = config.data_dir / self.task_id
        self.log_path = config.data_dir / "logs" / f"{self.task_id}.log"
        self.stop_requested = threading.Event()
        self.wakeup = threading.Event()
        self.abandoned = False
        self.shutting_down = False
        self.final_state = None
        self.execution = None
        # Sends what the task writes to its log file (whatever runs the task writes it)
        self.shipper = LogShipper(self.task_id, self.log_path, client, config)

    def request_stop(self, shutdown=False):
        """End the task and report it stopped.

        When the agent shuts down (`shutdown=True`) the server did not ask for it: a task that
        has not started yet is left for the server to give to another agent, and a started
        one is reported `stopped`, or `error` if the server refuses that.
        """
        self.shutting_down = self.shutting_down or shutdown
        if not self.stop_requested.is_set():
            logger.info("Stopping task %s", self.task_id)
        self.stop_requested.set()
        self.wakeup.set()

    def abandon(self):
        """End the task without reporting anything: the server no longer counts on it."""
        self.abandoned = True
        self.request_stop()

    # Thread body

    def run(self):
        try:
            self.execute()
        except Cancelled:
            logger.warning("Gave up on task %s while shutting down", self.task_id)
        except Exception:
            # A bug must not leave the task active forever on the server
            logger.exception("Unexpected failure while running task %s", self.task_id)
            self.write_log("the agent failed unexpectedly; see the agent's own log")
            try:
                self.finish("error")
            except ApiError as e:
                logger.error("Could not report task %s as error: %s", self.task_id, e)
        finally:
            if not self.config.keep_task_data:
                shutil.rmtree(self.data, ignore_errors=True)
                self.log_path.unlink(missing_ok=True)

    def execute(self):
        try:
            definition = self.client.definition(self.task_id)
        except Refused as e:
            logger.error("Cannot run task %s: %s", self.task_id, e)
            if self.adopted is not None:
                self.adopted.discard()
            return
        if self.adopted is not None:
            self.execution = self.adopted
            self.execution.begin()
            return self.follow()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text(f"{LOG_PREFIX} image: {definition.get('image')}\n")
        self.write_log(
            f"task {definition.get('slug')} ({self.task_id}) of process "
            f"{definition.get('process_id')}, run {definition.get('run')}, on agent "
            f"{self.config.hostname}, {self.executor.kind} executor"
        )

        try:
            self.prepare(definition)
            if self.stop_requested.is_set():
                if self.shutting_down:
                    self.abandoned = True
                    logger.info("Task %s had not started; leaving it", self.task_id)
                    return
                return self.finish("stopped")
            self.execution = self.executor.start(
                self.task_id, definition, self.data, self.log_path, self.client.agent_id
            )
        except TaskError as e:
            self.write_log(str(e))
            return self.finish("error")
        self.report("running")
        return self.follow()

    def follow(self):
        """Watch the execution to its end and report that end."""
        self.execution.wakeup = self.wakeup
        try:
            try:
                exit_code, stopped = self.watch()
            finally:
                self.execution.release()
        except TaskError as e:
            if self.abandoned:
                return
            self.write_log(str(e))
            return self.finish("error")

        if self.abandoned:
            return
        if self.adopted is not None:
            self.write_log("the agent restarted while the task ran, and followed it to its end")
        if stopped:
            self.write_log("stopped" + (" as the agent shuts down" if self.shutting_down else ""))
            return self.finish(
                "stopped", fallback="error" if self.shutting_down else None, exit_code=exit_code
            )
        self.write_log(f"exit code {exit_code}")
        state = "completed" if exit_code == 0 else "failed"
        try:
            self.upload_artifacts()
        except TaskError as e:
            self.write_log(str(e))
            state = "error"
        return self.finish(state, exit_code=exit_code)

    # Preparation

    def prepare(self, definition):
        """Create an empty data directory holding the parents' artifacts."""
        shutil.rmtree(self.data, ignore_errors=True)
        (self.data / "current").mkdir(parents=True)
        for parent in definition.get("parents") or []:
            if self.stop_requested.is_set():
                return
            try:
                self.download_parent(str(parent["id"]), str(parent["slug"]))
            except (ApiError, OSError) as e:
                if isinstance(e, Cancelled):
                    raise
                raise TaskError(f"Cannot fetch the artifacts of parent {parent['id']}: {e}") from e

    def download_parent(self, parent_id, slug):
        directory = safe_join(self.data, parent_id)
        if directory.parent != self.data or parent_id == "current":
            raise TaskError(f"Refusing the parent ID {parent_id!r}")
        directory.mkdir()
        artifacts = self.client.list_artifacts(parent_id)
        for artifact in artifacts:
            path = safe_join(directory, artifact["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            url = self.client.artifact_url(parent_id, artifact["path"])
            size = self.client.download(url, path)
            if artifact.get("size") is not None and size != artifact["size"]:
                raise TaskError(
                    f"Artifact {artifact['path']} of parent {parent_id} has {size} bytes "
                    f"instead of {artifact['size']}"
                )
        link = self.data / slug
        if "/" in slug or slug in ("", ".", "..") or os.path.lexists(link):
            self.write_log(f"no link named {slug!r} to the artifacts of parent {parent_id}")
        else:
            link.symlink_to(parent_id, target_is_directory=True)
        plural = "s" if len(artifacts) != 1 else ""
        self.write_log(f"fetched {len(artifacts)} artifact{plural} of parent {slug} ({parent_id})")

    # While it runs

    def watch(self):
        """Wait for the command to end, uploading the log and handling stop requests.

        Returns its exit code and whether the agent stopped it.
        """
        stopped_at = None
        killed = False
        while True:
            exit_code = self.execution.poll()
            if exit_code is not None:
                break
            now = time.monotonic()
            if self.stop_requested.is_set() and stopped_at is None:
                if self.execution.live_notes:
                    self.write_log("stopping the task's processes")
                if self.abandoned:
                    self.execution.kill()
                else:
                    self.execution.terminate()
                stopped_at = now
            elif (
                stopped_at is not None and not killed and now - stopped_at >= self.config.stop_grace
            ):
                self.execution.kill()
                killed = True
            if not self.abandoned:
                self.shipper.tick()
            self.wakeup.wait(TICK)
            self.wakeup.clear()
        return exit_code, stopped_at is not None

    # Log

    def write_log(self, message):
        """Add a line of the agent's own to the task's log."""
        try:
            with open(self.log_path, "a") as log:
                log.write(f"{LOG_PREFIX} {message}\n")
        except OSError as e:
            logger.warning("Cannot write to the log of task %s: %s", self.task_id, e)

    # End

    def upload_artifacts(self):
        """Make an artifact of every file below `current/`."""
        current = self.data / "current"
        count = 0
        for directory, subdirectories, names in sorted(os.walk(current)):
            for name in sorted(subdirectories):
                if os.path.islink(os.path.join(directory, name)):
                    self.write_log(f"skipping {name}: a link to a directory is not followed")
            for name in sorted(names):
                path = Path(directory) / name
                if not path.is_file():
                    self.write_log(f"skipping {path.relative_to(current)}: not a regular file")
                    continue
                self.upload_artifact(path, path.relative_to(current).as_posix())
                count += 1
        if count:
            self.write_log(f"uploaded {count} artifact{'s' if count > 1 else ''}")

    def upload_artifact(self, path, relative):
        content_type = guess_content_type(relative)
        for _ in range(URL_RENEWALS):
            size = path.stat().st_size
            try:
                answer = self.client.create_artifact(self.task_id, relative, content_type, size)
            except Refused as e:
                raise TaskError(f"Cannot create the artifact {relative}: {e}") from e
            try:
                self.client.upload(answer["s3_put_url"], path, content_type)
                return
            except Refused as e:
                logger.warning("Upload of artifact %s refused, trying again: %s", relative, e)
        raise TaskError(f"Cannot upload the artifact {relative}: the storage refused it")

    def finish(self, state, fallback=None, exit_code=None):
        if self.abandoned:
            return
        self.shipper.finish()
        if not self.report(state, exit_code) and fallback:
            self.report(fallback, exit_code)

    def report(self, state, exit_code=None):
        """Report a state (with the command's exit code at its end); False when the server
        refused it."""
        if self.abandoned:
            return False
        if state in FINAL_STATES:
            self.final_state = state
        try:
            self.client.update_state(self.task_id, state, exit_code=exit_code)
        except Refused as e:
            # The server already moved the task on (stopped by a user, given up on...)
            logger.warning("Report of state %s for task %s dropped: %s", state, self.task_id, e)
            return False
        logger.info("Task %s is %s", self.task_id, state)
        return True
