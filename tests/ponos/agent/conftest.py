import threading
from contextlib import contextmanager

import pytest

from ponos.agent.config import make_config
from ponos.agent.main import Agent
from tests.ponos.agent.fake_api import FakeApi


@pytest.fixture
def fake_api():
    api = FakeApi().start()
    yield api
    api.stop()


@pytest.fixture
def agent_config(fake_api, tmp_path):
    """Build the configuration of an agent of the fake API, with tiny delays."""

    def build(**overrides):
        values = {
            "url": fake_api.url,
            "farm": fake_api.farm,
            "seed": fake_api.seed,
            "data_dir": tmp_path / "data",
            "hostname": "test-host",
            "poll_interval": 0.05,
            "log_upload_interval": 0.1,
            "stop_grace": 5,
            "retry_delay": 0.01,
            "retry_max_delay": 0.05,
            "request_timeout": 5,
            **overrides,
        }
        return make_config(values)

    return build


class AgentThread:
    """An agent running in a thread of the test, as `main()` runs it but for signals."""

    def __init__(self, config):
        self.agent = Agent(config)
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            self.agent.run()
        except Exception as e:
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=20):
        self.agent.shutdown()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agent did not stop"


@contextmanager
def agent_threads(build):
    """A function starting an agent in a thread on `build(...)`'s configuration; each agent
    is shut down on leaving, and must not have failed."""
    started = []

    def start(*args, **overrides):
        agent = AgentThread(build(*args, **overrides)).start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()
        assert agent.error is None, f"the agent failed: {agent.error!r}"


@pytest.fixture
def start_agent(agent_config):
    """Start agents in threads; each is shut down at the end of the test."""
    with agent_threads(agent_config) as start:
        yield start


@pytest.fixture
def container_config(agent_config, engine, monkeypatch):
    """The configuration of a container agent of the fake API, on the test's engine."""
    monkeypatch.setenv("DOCKER_HOST", engine.url)

    def build(container=None, **overrides):
        # The host's network: tasks reach services on loopback, as the fake API is
        return agent_config(
            executor="container",
            stop_grace=2,
            container={"network": "host", **(container or {})},
            **overrides,
        )

    return build


@pytest.fixture
def start_container_agent(container_config, engine, fake_api):
    """Start container agents in threads; at the end, no container of theirs may be left."""
    with agent_threads(container_config) as start:
        yield start
    left = engine.containers(**{"ponos.agent": fake_api.agent_id})
    engine.remove_containers(**{"ponos.agent": fake_api.agent_id})
    # Also those a failed test made itself
    for task_id in list(fake_api.tasks):
        engine.remove_containers(**{"ponos.task": task_id})
    assert left == [], "containers were left behind"
