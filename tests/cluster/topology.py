"""Several machines on one: agent hosts in network namespaces, Redis, the proxy of
`deploy/haproxy.cfg`, API nodes and RQ workers started from the systemd units of `deploy/`.

The units are read, not copied: a unit's `ExecStart=` is run with its specifiers and
variables filled in and its install paths mapped into this checkout and the test's own
directory, so that the cluster runs exactly the commands an operator installs.
"""

import contextlib
import csv
import io
import random
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
import yaml

from tests.e2e.helpers import (
    AGENT_OPTIONS,
    ROOT,
    TIMEOUT,
    Api,
    Service,
    clean_environ,
    free_port,
    wait_for,
)

DEPLOY = ROOT / "deploy"
# Throttles of the nodes: low, so that proving they hold across nodes takes few requests
LOGIN_RATE = "20/min"
REGISTER_RATE = "30/min"
# Seconds without a ping before the dead-agent rule takes an agent's tasks back
AGENT_TIMEOUT = 12


def run(*args, check=True):
    """A system command (ip, haproxy -c); its standard output."""
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=TIMEOUT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))}: {result.stderr.strip()}")
    return result.stdout


# Units


class Unit:
    """A systemd unit of deploy/, to run outside systemd.

    `paths` maps the install paths the unit names (/opt/arkindex, /etc/ponos) to
    directories of this machine; `%i` is the instance, `%t` the runtime directory, `%H` the
    host name; `${NAME}` and `$NAME` come from `env`.
    """

    def __init__(self, name):
        self.name = name
        self.directives = {}
        for line in (DEPLOY / name).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "[")):
                continue
            key, _, value = line.partition("=")
            self.directives.setdefault(key, []).append(value)

    def value(self, key):
        [value] = self.directives[key]
        return value

    def _expand(self, text, *, instance, runtime, env, paths):
        specifiers = {"i": instance, "t": str(runtime), "H": socket.gethostname(), "%": "%"}
        text = re.sub(r"%(.)", lambda match: specifiers[match.group(1)], text)
        text = re.sub(
            r"\$\{(\w+)\}|\$(\w+)", lambda match: env[match.group(1) or match.group(2)], text
        )
        for installed, here in paths.items():
            text = text.replace(installed, str(here))
        return text

    def command(self, *, instance="", runtime, env, paths):
        """(argv, environment) of the unit's ExecStart, with its Environment= lines added to
        `env` and its RuntimeDirectory= created empty, as systemd does at each start."""
        options = {"instance": instance, "runtime": runtime, "env": env, "paths": paths}
        env = dict(env)
        for assignment in self.directives.get("Environment", []):
            name, _, value = self._expand(assignment, **options).partition("=")
            env[name] = value
        for directory in self.directives.get("RuntimeDirectory", []):
            path = Path(runtime) / self._expand(directory, **options)
            if path.exists():
                for child in path.iterdir():
                    child.unlink()
            path.mkdir(parents=True, exist_ok=True)
        argv = shlex.split(self._expand(self.value("ExecStart"), **options | {"env": env}))
        return argv, env

    def working_directory(self, paths):
        directory = self.directives.get("WorkingDirectory", ["/"])[0]
        for installed, here in paths.items():
            directory = directory.replace(installed, str(here))
        return directory


# Agent hosts


class AgentHost:
    """A network namespace joined to this machine by a veth pair on a /30 of the test subnet.

    Its default route goes to this machine's end of the pair, so it reaches every address
    of this machine on that subnet (the proxy, S3) and nothing bound to 127.0.0.1.
    """

    def __init__(self, tag, index, subnet, label=None):
        self.index = index
        label = label or f"h{index + 1}"
        self.name = f"ark{tag}-{label}"
        self.host_link = f"ark{tag}{label}"
        self.inner_link = f"ark{tag}{label}i"
        self.host_address = f"{subnet}.{4 * index + 1}"
        self.address = f"{subnet}.{4 * index + 2}"
        self.created = False

    def create(self):
        run("ip", "netns", "add", self.name)
        self.created = True
        run("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.inner_link)
        run("ip", "link", "set", self.inner_link, "netns", self.name)
        run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_link)
        run("ip", "link", "set", self.host_link, "up")
        run("ip", "-n", self.name, "addr", "add", f"{self.address}/30", "dev", self.inner_link)
        run("ip", "-n", self.name, "link", "set", self.inner_link, "up")
        run("ip", "-n", self.name, "link", "set", "lo", "up")
        run("ip", "-n", self.name, "route", "add", "default", "via", self.host_address)

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def python(self, code, *args):
        """Run Python code (the project's interpreter) in this host; its standard output."""
        result = subprocess.run(
            [*self.exec_prefix(), sys.executable, "-c", code, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def can_connect(self, address, port):
        """Whether a TCP connection from this host to address:port succeeds."""
        probe = (
            "import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(({address!r}, {port}), timeout=2).close()\n"
            "except OSError:\n"
            "    sys.exit(1)\n"
        )
        result = subprocess.run(
            [*self.exec_prefix(), "python3", "-c", probe], capture_output=True, timeout=TIMEOUT
        )
        return result.returncode == 0

    def delete(self):
        # Deleting the namespace deletes its end of the pair, and so the pair
        if self.created:
            run("ip", "netns", "delete", self.name, check=False)
        run("ip", "link", "delete", self.host_link, check=False)

    @staticmethod
    def leftovers(tag):
        namespaces = [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line]
        links = re.findall(r"^\d+: ([^:@]+)", run("ip", "-o", "link"), re.MULTILINE)
        return [name for name in namespaces + links if name.startswith(f"ark{tag}")]


# Redis and the proxy


class Redis:
    """redis-server on 127.0.0.1 and a free port, without persistence."""

    def __init__(self, tmp):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.service = Service(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                self.port,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],  # fmt: skip
            env=clean_environ(),
            log_path=tmp / "redis.log",
        )
        self.client = redis.Redis.from_url(self.url)
        wait_for(self._ready, message=lambda: f"Redis to answer\n{self.service.tail()}")

    def _ready(self):
        try:
            return self.client.ping()
        except redis.ConnectionError:
            assert self.service.alive(), self.service.tail()
            return False


class Proxy:
    """HAProxy on deploy/haproxy.cfg, its variables set to the cluster's addresses."""

    def __init__(self, tmp, *, bind_address, host, nodes):
        self.port = free_port()
        self.url = f"http://{bind_address}:{self.port}"
        self.socket_path = tmp / "haproxy.sock"
        self.env = clean_environ(
            ARKINDEX_PROXY_BIND=f"{bind_address}:{self.port}",
            ARKINDEX_PROXY_SOCKET=self.socket_path,
            ARKINDEX_PUBLIC_HOST=host,
            **{f"ARKINDEX_NODE_{i}": node for i, node in enumerate(nodes, start=1)},
        )
        config = DEPLOY / "haproxy.cfg"
        subprocess.run(
            ["haproxy", "-c", "-q", "-f", config], env=self.env, check=True, timeout=TIMEOUT
        )
        self.log_path = tmp / "haproxy.log"
        # -db: in the foreground, logging to standard output
        self.service = Service(
            "haproxy", ["haproxy", "-db", "-f", config], env=self.env, log_path=self.log_path
        )
        wait_for(
            lambda: self.socket_path.exists(),
            message=lambda: f"HAProxy to start\n{self.service.tail()}",
        )

    def command(self, line):
        """A command of HAProxy's administration socket; its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self):
        """{server name: its row of `show stat`} for the API nodes."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "api" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def status(self, server):
        return self.servers()[server]["status"]

    def set_state(self, server, state):
        """`ready`, `drain` or `maint` (out of the rotation, health checks kept)."""
        answer = self.command(f"set server api/{server} state {state}")
        assert not answer.strip(), answer

    def requests(self):
        """Every request logged so far: (accept time, server, status, request line)."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = re.match(r"(\d+)\.(\d+) (\S+) (-?\d+) -?\d+ \"(.*)\"$", line)
            if match:
                seconds, millis, server, status, request = match.groups()
                entries.append((int(seconds) + int(millis) / 1000, server, int(status), request))
        return entries


# The cluster


class ClusterStack:
    """Everything of `make test-cluster`, on top of an end-to-end Stack (its database,
    storage, bootstrap and API client), reached through the proxy."""

    NODES = 3
    RQ_WORKERS = 2
    HOSTS = 3
    # The index of the agent host whose agents run their tasks in containers
    CONTAINER_HOST = 2

    def __init__(self, tmp, *, tag, subnet):
        # Set before start(): the end-to-end Stack (database, storage) and the S3 server
        self.stack = self.s3 = None
        self.tmp = tmp
        self.tag = tag
        self.subnet = subnet
        self.runtime = tmp / "run"
        self.etc = tmp / "etc"
        self.etc.mkdir()
        self.paths = {"/opt/arkindex": ROOT, "/etc/ponos": self.etc, "/etc/arkindex": self.etc}
        self.hosts = [AgentHost(tag, index, subnet) for index in range(self.HOSTS)]
        # A machine of API clients, whose address no agent shares
        self.client_host = AgentHost(tag, self.HOSTS, subnet, label="client")
        self.nodes = {}
        self.workers = {}
        self.agents = {}
        # Each life of a service writes a log of its own
        self.lives = 0
        # Set before start(): the container engine of the host that runs its tasks in
        # containers (CONTAINER_HOST), and the directory mounted into them
        self.engine = None
        self.shared = None

    # Starting

    def start_network(self):
        for host in [*self.hosts, self.client_host]:
            host.create()
        # Every host reaches this machine at the address of the first pair's end
        return self.hosts[0].host_address

    def node_env(self):
        return dict(self.stack.env)

    def start_node(self, name):
        """API node `name` (api1..3) from arkindex-api@.service, on its port."""
        port = self.node_ports[name]
        unit = Unit("arkindex-api@.service")
        env = dict(self.node_env(), ARKINDEX_NODE_ADDRESS="127.0.0.1")
        self.nodes[name] = self._unit_service(unit, str(port), env, f"node {name}", f"node-{name}")
        return self.nodes[name]

    def _unit_service(self, unit, instance, env, label, log_name):
        """A Service running the unit's command for one instance, logging to its own file."""
        argv, env = unit.command(instance=instance, runtime=self.runtime, env=env, paths=self.paths)
        return Service(
            label,
            argv,
            env=env,
            cwd=unit.working_directory(self.paths),
            log_path=self._log_path(log_name),
        )

    def _log_path(self, name):
        self.lives += 1
        return self.tmp / f"{name}-{self.lives}.log"

    def wait_node_up(self, name, timeout=TIMEOUT):
        wait_for(
            lambda: self.proxy.status(name) == "UP",
            message=lambda: (
                f"the proxy to see {name} up: {self.proxy.servers()[name]}\n"
                + self.nodes[name].tail()
            ),
            timeout=timeout,
        )

    def start_worker(self, name):
        unit = Unit("arkindex-rq@.service")
        self.workers[name] = self._unit_service(
            unit, name, self.node_env(), f"rq worker {name}", f"rq-{name}"
        )
        return self.workers[name]

    def start_agent(self, host, name, farm_id, seed):
        """Agent `name` in `host`, from ponos-agent@.service and its YAML configuration."""
        options = dict(zip(AGENT_OPTIONS[::2], AGENT_OPTIONS[1::2], strict=True))
        config = {key.removeprefix("--"): float(value) for key, value in options.items()}
        config |= {
            "url": self.proxy.url,
            "farm": farm_id,
            "seed": seed,
            "hostname": name,
            "data-dir": str(self.tmp / "agents" / name),
        }
        extra_env = {}
        if self.engine is not None and host.index == self.CONTAINER_HOST:
            # The tasks' marker files live on this machine: the same path in the containers
            volume = {"source": str(self.shared), "destination": str(self.shared)}
            config |= {
                "executor": "container",
                "container": {"network": "host", "volumes": [volume | {"read-only": False}]},
            }
            extra_env["DOCKER_HOST"] = self.engine.url
        (self.etc / f"agent-{name}.yml").write_text(yaml.safe_dump(config))
        unit = Unit("ponos-agent@.service")
        argv, env = unit.command(
            instance=name,
            runtime=self.runtime,
            env=clean_environ(**extra_env),
            paths=self.paths,
        )
        agent = Service(
            f"agent {name}",
            [*host.exec_prefix(), *argv],
            env=env,
            log_path=self._log_path(f"agent-{name}"),
        )
        self.agents[name] = (host, agent)
        return agent

    @property
    def gateway(self):
        return self.hosts[0].host_address

    def start(self):
        gateway = self.gateway
        self.redis = Redis(self.tmp)
        self.node_ports = {f"api{i}": free_port() for i in range(1, self.NODES + 1)}
        self.proxy = Proxy(
            self.tmp,
            bind_address=gateway,
            host=gateway,
            nodes=[f"127.0.0.1:{port}" for port in self.node_ports.values()],
        )
        self.stack.url = self.proxy.url
        self.stack.env.update(
            ARKINDEX_PUBLIC_URL=self.proxy.url,
            ARKINDEX_ALLOWED_HOSTS=f"{gateway},127.0.0.1,localhost",
            ARKINDEX_REDIS_URL=self.redis.url,
            ARKINDEX_NUM_PROXIES="1",
            # Above any outage of the run (a database restart), far below the default
            PONOS_AGENT_TIMEOUT=str(AGENT_TIMEOUT),
            ARKINDEX_LOGIN_RATE=LOGIN_RATE,
            ARKINDEX_REGISTER_RATE=REGISTER_RATE,
        )
        self.stack.bootstrap()
        self.stack.api = ClusterApi(self.stack.api)
        for name in self.node_ports:
            self.start_node(name)
        for name in self.node_ports:
            self.wait_node_up(name, timeout=60)
        for index in range(1, self.RQ_WORKERS + 1):
            self.start_worker(str(index))
        wait_for(
            lambda: len(self.rq_workers()) == self.RQ_WORKERS,
            message=lambda: "the RQ workers to register\n" + self.logs(),
        )
        return self

    def rq_workers(self):
        from rq import Worker

        return Worker.all(connection=self.redis.client)

    def logs(self):
        services = [
            *self.nodes.values(),
            *self.workers.values(),
            *(agent for _host, agent in self.agents.values()),
        ]
        return "\n".join(service.tail(15) for service in services)

    def services(self):
        agents = [agent for _host, agent in self.agents.values()]
        return [*agents, *self.workers.values(), *self.nodes.values()]

    def stop(self):
        """Stop everything, agents first; remove the namespaces and links even on failure."""
        try:
            for service in self.services():
                with contextlib.suppress(AssertionError):
                    if service.alive():
                        service.stop(timeout=15)
                if service.alive():
                    service.kill()
            for name in ("proxy", "redis"):
                part = getattr(self, name, None)
                if part is not None and part.service.alive():
                    part.service.stop()
        finally:
            for host in [*self.hosts, self.client_host]:
                host.delete()


class ClusterApi(Api):
    """The API client of the test through the proxy: it retries a call that failed on the
    way (no answer, or a 5xx) for up to a minute, and records each such failure, so that
    the test can check they all fell within a fault's window."""

    RETRY_FOR = 60

    def __init__(self, api):
        super().__init__(api.url, api.session.headers["Authorization"].removeprefix("Token "))
        # (wall-clock time, method, path, status or error)
        self.failures = []

    def call(self, method, path, expected=200, **kwargs):
        deadline = time.monotonic() + self.RETRY_FOR
        while True:
            try:
                response = self.session.request(
                    method, f"{self.url}/api/v1/{path}", timeout=30, allow_redirects=False, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                failure = type(error).__name__
            else:
                if response.status_code < 500:
                    break
                failure = response.status_code
            self.failures.append((time.time(), method, path, failure))
            assert time.monotonic() < deadline, f"{method} {path}: still {failure}"
            time.sleep(0.5)
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} instead of {expected}: {response.text}"
        )
        return response


def random_subnet():
    """A /24 of 10.231.0.0/16 (its third number at random), and a tag for device names."""
    return f"10.231.{random.randrange(256)}", f"{random.randrange(16**4):04x}"
