"""The agent's main loop: register, poll for actions, start and stop task runners."""

import collections
import logging
import re
import shutil
import signal
import sys
import threading
import time
import uuid

from ponos.agent import host
from ponos.agent.api import ApiClient, ApiError, Cancelled, Refused
from ponos.agent.config import ConfigError, load_config
from ponos.agent.datadir import AlreadyRunning, ChildGroups, PidFile, TokenFile
from ponos.agent.executors import ExecutorError, make_executor
from ponos.agent.runner import TaskRunner

logger = logging.getLogger(__name__)

# Seconds given to tasks at shutdown, beyond the stop grace, to upload logs and report
SHUTDOWN_REPORT_TIME = 30
# How many ended tasks the agent remembers, to answer a late stop_task with their state
ENDED_MEMORY = 1000
# Task IDs name directories: nothing that could climb out of the data directory
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# States in which a task a previous life started is still the agent's to finish
ADOPTABLE = {"running", "stopping"}


def is_uuid(name):
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


class Agent:
    def __init__(self, config):
        self.config = config
        # Set to stop polling and end the running tasks
        self.shutdown_event = threading.Event()
        # Set to give up every request still being retried
        self.abort = threading.Event()
        self.client = ApiClient(config, abort=self.abort, on_register=self.registered)
        self.pid_file = PidFile(config.data_dir)
        self.token_file = TokenFile(config.data_dir)
        self.groups = ChildGroups(config.data_dir)
        # Raises ExecutorError when its engine cannot be used
        self.executor = make_executor(config, self.groups)
        # Runners by task ID, alive or ended but not collected yet
        self.runners = {}
        # States reported by recently ended runners (None: nothing reported), by task ID
        self.ended = collections.OrderedDict()
        # The runners are read by threads that register again
        self.lock = threading.Lock()

    def run(self):
        """Run until `shutdown()`. Raises AlreadyRunning, ExecutorError, or Refused for a
        wrong farm or seed."""
        self.pid_file.acquire()
        try:
            logger.info(
                "Agent %s joining farm %s at %s, data in %s, %s executor",
                self.config.hostname,
                self.config.farm,
                self.config.url,
                self.config.data_dir,
                self.executor.kind,
            )
            self.executor.check()
            saved = self.token_file.load(self.identity())
            if saved:
                self.client.resume(*saved)
            else:
                self.client.register(first=True, cancel=self.shutdown_event)
            adopted = self.adopt(self.executor.leftovers(self.client.agent_id))
            if not self.config.keep_task_data:
                self.clean_data_dir(keep=adopted)
            while not self.shutdown_event.is_set():
                self.poll()
                self.shutdown_event.wait(self.config.poll_interval)
        except Cancelled:
            pass
        finally:
            self.stop_all()
            self.pid_file.release()

    def shutdown(self):
        self.shutdown_event.set()

    def identity(self):
        """What a saved token belongs to: another server, farm or name registers anew."""
        return {"url": self.config.url, "farm": self.config.farm, "hostname": self.config.hostname}

    def adopt(self, leftovers):
        """Go on with the tasks of the previous life that the server still counts on.

        The server tells, through each task's definition, whether this agent still holds it
        and whether it is still running (or being stopped); the others are ended without a
        report. Returns the IDs of the adopted tasks.
        """
        adopted = set()
        for task_id, execution in leftovers.items():
            state = None
            if TASK_ID.fullmatch(task_id):
                try:
                    state = self.client.definition(task_id, cancel=self.shutdown_event).get("state")
                except Refused:
                    state = None
            if state not in ADOPTABLE:
                logger.warning(
                    "Removing what is left of task %s (%s)", task_id, state or "not ours"
                )
                execution.discard()
                continue
            logger.info("Adopting task %s, %s, from the previous life of the agent", task_id, state)
            runner = TaskRunner(task_id, self.config, self.client, self.executor, adopted=execution)
            with self.lock:
                self.runners[task_id] = runner
            runner.start()
            adopted.add(task_id)
        return adopted

    def clean_data_dir(self, keep=()):
        """Remove the task data a previous life of the agent left behind, but for the tasks
        that go on (`keep`)."""
        for entry in self.config.data_dir.iterdir():
            if entry.name in keep:
                continue
            if is_uuid(entry.name) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
        logs = self.config.data_dir / "logs"
        if logs.is_dir():
            for log in logs.glob("*.log"):
                if log.stem not in keep:
                    log.unlink(missing_ok=True)

    def registered(self, first, agent_id, token):
        try:
            self.token_file.save(self.identity(), agent_id, token)
        except OSError as e:
            logger.warning("Cannot save the agent's token in %s: %s", self.token_file.path, e)
        if first:
            return
        # Registering again made the server give up on every task the agent held: running
        # ones are in error, pending ones back in the queue. Their processes must go.
        with self.lock:
            runners = [runner for runner in self.runners.values() if runner.is_alive()]
        for runner in runners:
            logger.warning("Abandoning task %s after registering again", runner.task_id)
            runner.abandon()

    # Polling

    def poll(self):
        try:
            answer = self.client.actions(host.loads(), cancel=self.shutdown_event)
        except Cancelled:
            return
        except (ApiError, ValueError) as e:
            logger.error("Polling for actions failed: %s", e)
            return
        self.collect()
        actions = answer.get("actions") if isinstance(answer, dict) else None
        if not isinstance(actions, list):
            logger.error("Unexpected answer to the poll: %r", answer)
            return
        self.mark_watched(answer.get("watched"))
        for action in actions:
            if not isinstance(action, dict):
                logger.error("Ignoring a malformed action: %r", action)
                continue
            kind, task_id = action.get("action"), action.get("task_id")
            if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
                logger.error("Ignoring an action on a malformed task ID: %r", action)
            elif kind == "start_task":
                self.start_task(task_id)
            elif kind == "stop_task":
                self.stop_task(task_id)
            else:
                logger.error("Ignoring an unknown action: %r", action)

    def mark_watched(self, watched):
        """Someone reads these tasks: their logs are sent more often (servers of the
        previous protocol send no such list)."""
        if not isinstance(watched, list):
            watched = []
        watched = {task_id for task_id in watched if isinstance(task_id, str)}
        with self.lock:
            for task_id, runner in self.runners.items():
                runner.shipper.watched = task_id in watched

    def collect(self):
        with self.lock:
            for task_id, runner in list(self.runners.items()):
                if not runner.is_alive():
                    del self.runners[task_id]
                    self.ended[task_id] = runner.final_state
        while len(self.ended) > ENDED_MEMORY:
            self.ended.popitem(last=False)

    def start_task(self, task_id):
        with self.lock:
            # The server announces a task until it is reported running
            if task_id in self.runners:
                return
            # A task never starts twice: an announcement of a task this agent saw to its end
            # comes from a poll answered before the end was reported (a slow answer)
            if self.ended.get(task_id) is not None:
                logger.info("Ignoring a late start_task for task %s, which ended", task_id)
                return
            runner = TaskRunner(task_id, self.config, self.client, self.executor)
            self.runners[task_id] = runner
        self.ended.pop(task_id, None)
        logger.info("Starting task %s", task_id)
        runner.start()

    def stop_task(self, task_id):
        with self.lock:
            runner = self.runners.get(task_id)
        if runner is not None:
            runner.request_stop()
            return
        # Not running here (any more): answer so that the task does not wait forever
        state = self.ended.get(task_id) or "stopped"
        try:
            self.report(task_id, state)
        except Refused:
            if state == "stopped":
                return
            self.report(task_id, "stopped")

    def report(self, task_id, state):
        try:
            self.client.update_state(task_id, state, cancel=self.shutdown_event)
        except Refused as e:
            logger.warning("Report of state %s for task %s refused: %s", state, task_id, e)
            raise
        except Cancelled:
            return
        logger.info("Reported task %s as %s", task_id, state)

    # Shutdown

    def stop_all(self):
        self.shutdown_event.set()
        with self.lock:
            runners = [runner for runner in self.runners.values() if runner.is_alive()]
        for runner in runners:
            runner.request_stop(shutdown=True)
        deadline = time.monotonic() + self.config.stop_grace + SHUTDOWN_REPORT_TIME
        for runner in runners:
            runner.join(max(deadline - time.monotonic(), 0))
        if any(runner.is_alive() for runner in runners):
            logger.error("Giving up on reporting the tasks still running")
            self.abort.set()
            for runner in runners:
                runner.join(5)
        killed = self.groups.kill_leftovers()
        if killed:
            logger.error("Killed process groups left by ended tasks: %s", killed)


def main(argv=None):
    try:
        config = load_config(argv)
    except ConfigError as e:
        print(f"ponos-agent: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
    )
    try:
        agent = Agent(config)
    except ExecutorError as e:
        logger.error("%s", e)
        return 1

    def on_signal(signum, frame):
        if agent.shutdown_event.is_set():
            logger.warning("Second signal: giving up on reporting the running tasks")
            agent.abort.set()
        else:
            logger.info("Received signal %d: stopping the running tasks", signum)
            agent.shutdown()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        agent.run()
    except (AlreadyRunning, ExecutorError) as e:
        logger.error("%s", e)
        return 1
    except Refused as e:
        logger.error("%s; check --url, --farm and --seed", e)
        return 1
    except OSError as e:
        logger.error("Cannot use the data directory %s: %s", config.data_dir, e)
        return 1
    logger.info("Agent stopped")
    return 0
