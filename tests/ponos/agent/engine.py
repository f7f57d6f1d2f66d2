"""A real container engine for the container executor's tests: Podman's Docker-compatible
service on a socket of the test session, a registry on loopback with a bcrypt password, and
images built from Debian's packages (nothing can be pulled from a public registry).

Images stay in Podman's store between runs: a build is skipped when its tag is there.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import requests

BUSYBOX_IMAGE = "localhost/ponos-test/busybox:1"
# Podman's default limits exceed this machine's hard limits; crun fails on its cgroups
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
"""
REGISTRY_USER = "ponos"
REGISTRY_PASSWORD = "registry-secret"
BUSYBOX_TOOLS = [
    "sh",
    "cat",
    "cp",
    "echo",
    "env",
    "false",
    "id",
    "kill",
    "ln",
    "ls",
    "mkdir",
    "mv",
    "printf",
    "pwd",
    "rm",
    "sleep",
    "tail",
    "touch",
    "true",
    "wc",
    "basename",
    "dirname",
    "head",
    "seq",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30, message="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {message}")


class Engine:
    def __init__(self, root):
        self.root = Path(root)
        self.socket = self.root / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.registry_port = free_port()
        self.registry = f"127.0.0.1:{self.registry_port}"
        (self.root / "containers.conf").write_text(CONTAINERS_CONF)
        # Plain HTTP on loopback: the registry must be marked insecure
        (self.root / "registries.conf").write_text(
            f'[[registry]]\nlocation = "{self.registry}"\ninsecure = true\n'
        )
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(self.root / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.root / "registries.conf"),
        }
        self.processes = []

    def podman(self, *args, **kwargs):
        return subprocess.run(
            ["podman", *args], env=self.env, check=True, capture_output=True, text=True, **kwargs
        )

    def start(self):
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.url],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "podman.log", "w"),  # noqa: SIM115
        )
        self.processes.append(service)

        def ready():
            assert service.poll() is None, (self.root / "podman.log").read_text()
            if not self.socket.exists():
                return False
            try:
                self.client = docker.DockerClient(base_url=self.url, timeout=60)
                return self.client.ping()
            except (docker.errors.DockerException, requests.RequestException):
                return False

        wait_for(ready, message="Podman's service")
        self.start_registry()
        self.build_busybox()
        return self

    def start_registry(self):
        htpasswd = self.root / "htpasswd"
        subprocess.run(
            ["htpasswd", "-Bbc", str(htpasswd), REGISTRY_USER, REGISTRY_PASSWORD],
            check=True,
            capture_output=True,
        )
        config = self.root / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'registry'}\n"
            f"http:\n  addr: {self.registry}\n"
            f"auth:\n  htpasswd:\n    realm: ponos-tests\n    path: {htpasswd}\n"
        )
        registry = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "registry.log", "w"),  # noqa: SIM115
        )
        self.processes.append(registry)

        def ready():
            assert registry.poll() is None, (self.root / "registry.log").read_text()
            try:
                return requests.get(f"http://{self.registry}/v2/", timeout=2).status_code == 401
            except requests.ConnectionError:
                return False

        wait_for(ready, message="the registry")

    def has_image(self, name):
        try:
            self.client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        return True

    def build_busybox(self):
        """A two-megabyte image: Debian's static busybox and links to its tools."""
        if self.has_image(BUSYBOX_IMAGE):
            return
        with tempfile.TemporaryDirectory() as directory:
            tree = Path(directory) / "tree"
            (tree / "bin").mkdir(parents=True)
            (tree / "tmp").mkdir(mode=0o1777)
            shutil.copy("/bin/busybox", tree / "bin" / "busybox")
            for tool in BUSYBOX_TOOLS:
                (tree / "bin" / tool).symlink_to("busybox")
            archive = Path(directory) / "busybox.tar"
            subprocess.run(["tar", "-C", str(tree), "-cf", str(archive), "."], check=True)
            self.podman("import", str(archive), BUSYBOX_IMAGE)

    def build_python(self, name):
        """Debian's minimal base with Python 3, tagged `name` (about 30 s the first time)."""
        if self.has_image(name):
            return
        with tempfile.TemporaryDirectory(dir="/var/tmp") as directory:
            archive = Path(directory) / "python.tar"
            subprocess.run(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    "--include=python3",
                    "bookworm",
                    str(archive),
                    "/etc/apt/sources.list.d/debian.sources",
                ],
                check=True,
                capture_output=True,
            )
            self.podman("import", str(archive), name)

    def push_private(self, name):
        """Copy the busybox image into the registry, behind its password; its name there."""
        target = f"{self.registry}/private/{name}"
        self.podman("tag", BUSYBOX_IMAGE, target)
        self.podman(
            "push", "--creds", f"{REGISTRY_USER}:{REGISTRY_PASSWORD}", "--tls-verify=false", target
        )
        # Only the registry has it now: running it needs a pull
        self.podman("rmi", target)
        return target

    def containers(self, **labels):
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return self.client.containers.list(all=True, filters=filters)

    def remove_containers(self, **labels):
        for container in self.containers(**labels):
            container.remove(force=True)

    def stop(self):
        # The registry lives for one session: so do the images pulled from it
        for image in self.client.images.list():
            for tag in image.tags:
                if tag.startswith(f"{self.registry}/"):
                    self.client.images.remove(tag, force=True)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
