"""The cluster of `make test-cluster`, shared by the tests of this folder.

It needs root (network namespaces), the PostgreSQL server of `scripts/with-postgres`, and
Debian's redis-server and haproxy (`make system`). Everything it starts is stopped at the
end, and its namespaces and links are deleted, whatever happens.
"""

import os
import shutil
import signal
import sys

import pytest

from tests.cluster.topology import AgentHost, ClusterStack, random_subnet
from tests.e2e.helpers import Service, clean_environ, wait_for
from tests.e2e.stack import Stack
from tests.ponos.agent.engine import BUSYBOX_IMAGE

TASK_CONTAINERS = {"label": ["ponos.task"]}


def check_machine():
    problems = []
    if os.geteuid() != 0:
        problems.append("network namespaces need root")
    for tool in ("ip", "haproxy", "redis-server"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is missing (make system installs it)")
    for name in ("ARKINDEX_DATABASE_URL", "PG_BIN", "PG_DIR", "PG_PORT"):
        if not os.environ.get(name):
            problems.append(f"{name} is unset: run under scripts/with-postgres")
    assert not problems, "The cluster test cannot run: " + "; ".join(problems)


class S3Server:
    """moto's S3 server in a process of its own (so that it can be paused), on `address`."""

    def __init__(self, tmp, address):
        from tests.e2e.helpers import free_port

        self.port = free_port()
        self.url = f"http://{address}:{self.port}"
        self.service = Service(
            "s3",
            [sys.executable, "-m", "moto.server", "-H", address, "-p", self.port],
            env=clean_environ(),
            log_path=tmp / "s3.log",
        )
        wait_for(self._ready, message=lambda: f"S3 to answer\n{self.service.tail()}")

    def _ready(self):
        import requests

        assert self.service.alive(), self.service.tail()
        try:
            return requests.get(f"{self.url}/moto-api/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def pause(self):
        os.kill(self.service.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.service.pid, signal.SIGCONT)


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="package")
def cluster(tmp_path_factory, engine):
    check_machine()
    # A CI job stopped with SIGTERM still tears the cluster down, as Ctrl-C does
    previous = signal.signal(signal.SIGTERM, interrupt)
    tmp = tmp_path_factory.mktemp("cluster")
    subnet, tag = random_subnet()
    cluster = ClusterStack(tmp, tag=tag, subnet=subnet)
    # One agent host runs its tasks in containers: the workers' images are the busybox one
    for image in ("docker.io/tests/marker:1", "docker.io/tests/writer:1"):
        engine.podman("tag", BUSYBOX_IMAGE, image)
    cluster.engine, cluster.shared = engine, tmp_path_factory.getbasetemp()
    # Containers of other tests of the session are theirs to check
    before = {c.id for c in engine.client.containers.list(all=True, filters=TASK_CONTAINERS)}
    stack = s3 = None
    try:
        gateway = cluster.start_network()
        s3 = S3Server(tmp, gateway)
        stack = Stack(
            "postgres-s3",
            tmp,
            postgres_url=os.environ["ARKINDEX_DATABASE_URL"],
            s3_endpoint=s3.url,
        )
        cluster.s3 = s3
        cluster.stack = stack
        yield cluster.start()
    finally:
        try:
            cluster.stop()
            if s3 is not None:
                s3.resume()
                s3.service.stop()
            if stack is not None:
                stack.db.drop()
        finally:
            signal.signal(signal.SIGTERM, previous)
            leftovers = AgentHost.leftovers(tag)
            assert not leftovers, f"Namespaces or links left behind: {leftovers}"
            containers = [
                container
                for container in engine.client.containers.list(all=True, filters=TASK_CONTAINERS)
                if container.id not in before
            ]
            for container in containers:
                container.remove(force=True)
            assert not containers, f"Containers left behind: {[c.name for c in containers]}"
