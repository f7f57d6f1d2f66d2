"""Configuration of the agent, from command-line flags and an optional YAML file.

Every setting has a flag; the YAML file (`--config`) uses the same names, with dashes or
underscores. Flags given on the command line win over the file.
"""

import argparse
import dataclasses
import re
import socket
from pathlib import Path

import yaml


class ConfigError(Exception):
    """The configuration is incomplete or invalid; the message tells how to fix it."""


EXECUTORS = ("local", "container")
PULL_POLICIES = ("if-not-present", "always", "never")


@dataclasses.dataclass(frozen=True)
class Volume:
    source: str
    destination: str
    read_only: bool = True


@dataclasses.dataclass(frozen=True)
class Registry:
    registry: str
    username: str
    password: str


@dataclasses.dataclass(frozen=True)
class ContainerConfig:
    """The `container:` section of the YAML file, used by the container executor."""

    pull: str = "if-not-present"
    registries: tuple = ()
    network: str | None = None
    volumes: tuple = ()
    memory: str | None = None
    cpus: float | None = None
    # None: the agent's own uid:gid, so that it can remove what a task wrote in /data
    user: str | None = None
    gpu_driver: str = "nvidia"


@dataclasses.dataclass(frozen=True)
class Config:
    url: str
    farm: str
    seed: str
    data_dir: Path
    hostname: str = dataclasses.field(default_factory=socket.gethostname)
    poll_interval: float = 5.0
    log_upload_interval: float = 30.0
    log_watched_interval: float = 3.0
    stop_grace: float = 10.0
    fake_gpu: int = 0
    url_expiry: float = 3600.0
    retry_delay: float = 1.0
    retry_max_delay: float = 60.0
    request_timeout: float = 30.0
    keep_task_data: bool = False
    log_level: str = "INFO"
    executor: str = "local"
    container: ContainerConfig = dataclasses.field(default_factory=ContainerConfig)

    def api_url(self, path):
        """Absolute URL of an API path such as `agent/actions/`."""
        return f"{self.url}/api/v1/{path}"


REQUIRED = ("url", "farm", "seed", "data_dir")
POSITIVE = (
    "poll_interval",
    "log_upload_interval",
    "log_watched_interval",
    "url_expiry",
    "retry_delay",
    "retry_max_delay",
    "request_timeout",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TYPE_NAMES = {float: "number", int: "whole number", bool: "boolean", Path: "path"}
MEMORY = re.compile(r"[0-9]+[bkmg]?", re.IGNORECASE)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ponos-agent",
        description="Run Ponos tasks of a farm on this machine, as local processes "
        "(--executor local) or as containers of their images (--executor container).",
    )
    parser.add_argument("--config", type=Path, help="YAML file holding any of these settings")
    parser.add_argument("--url", help="base URL of the API, e.g. https://arkindex.example.com")
    parser.add_argument("--farm", help="ID of the farm to join")
    parser.add_argument("--seed", help="secret seed of the farm")
    parser.add_argument("--data-dir", type=Path, help="directory for task data, logs and state")
    parser.add_argument("--hostname", help="name of this agent in its farm (default: host name)")
    parser.add_argument("--poll-interval", type=float, help="seconds between polls (default 5)")
    parser.add_argument(
        "--log-upload-interval",
        type=float,
        help="seconds between two sendings of the new part of a running task's log while "
        "nobody reads it (default 30)",
    )
    parser.add_argument(
        "--log-watched-interval",
        type=float,
        help="the same while someone reads the task, as the server tells at each poll (default 3)",
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        help="seconds between SIGTERM and SIGKILL when stopping a task (default 10)",
    )
    parser.add_argument(
        "--fake-gpu", type=int, metavar="N", help="declare N fake GPUs, for testing (default 0)"
    )
    parser.add_argument(
        "--url-expiry",
        type=float,
        help="lifetime of the server's signed URLs in seconds; log URLs are refreshed at half "
        "of it (default 3600)",
    )
    parser.add_argument(
        "--retry-delay", type=float, help="first delay before retrying a failed request (default 1)"
    )
    parser.add_argument(
        "--retry-max-delay", type=float, help="longest delay between two retries (default 60)"
    )
    parser.add_argument(
        "--request-timeout", type=float, help="timeout of one HTTP request in seconds (default 30)"
    )
    parser.add_argument(
        "--keep-task-data",
        action="store_true",
        default=None,
        help="keep each task's data directory and log after it ends, for debugging",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO (default), WARNING or ERROR")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="run tasks as local processes (default) or as containers of their images "
        "through the Docker Engine API at DOCKER_HOST; the YAML's container: section holds "
        "the container options",
    )
    return parser


def read_yaml(path):
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"Cannot read the configuration file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"The configuration file {path} is not valid YAML: {e}") from e
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"The configuration file {path} must hold a mapping of settings")
    return field_values(
        content, Config, lambda key: f"Unknown setting {key!r} in {path}; known settings: "
    )


def field_values(mapping, dataclass, unknown):
    """A YAML mapping keyed by the fields of `dataclass` (dashes for underscores); any other
    key is an error starting with `unknown(key)` and listing the known keys."""
    known = {field.name for field in dataclasses.fields(dataclass)}
    values = {}
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(unknown(key) + ", ".join(sorted(n.replace("_", "-") for n in known)))
        values[name] = value
    return values


def coerce(name, value):
    """Check the type of a value read from YAML (flags are typed by argparse already)."""
    if name == "container":
        return container_config(value)
    field_type = {field.name: field.type for field in dataclasses.fields(Config)}[name]
    try:
        if field_type is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if field_type is int:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError
            return int(value)
        if field_type is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if field_type is Path:
            return Path(str(value)).expanduser()
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"Setting {name.replace('_', '-')} must be a {TYPE_NAMES[field_type]}"
        ) from e
    if value is None or isinstance(value, (dict, list)):
        raise ConfigError(f"Setting {name.replace('_', '-')} must be a string")
    return str(value)


def load_config(argv=None):
    """Build the configuration from command-line arguments (`sys.argv` by default)."""
    args = build_parser().parse_args(argv)
    values = read_yaml(args.config) if args.config else {}
    values = {name: coerce(name, value) for name, value in values.items()}
    for name, value in vars(args).items():
        if name != "config" and value is not None:
            values[name] = value
    return make_config(values)


def make_config(values):
    """Validate a mapping of settings and build a Config out of it."""
    missing = [name for name in REQUIRED if values.get(name) in (None, "")]
    if missing:
        raise ConfigError(
            "Missing settings: "
            + ", ".join("--" + name.replace("_", "-") for name in missing)
            + " (give them as flags or in the --config file)"
        )
    values = dict(values)
    url = str(values["url"]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url must start with http:// or https://, not {url!r}")
    values["url"] = url
    values["data_dir"] = Path(values["data_dir"]).expanduser().absolute()
    for name in POSITIVE:
        if name in values and not values[name] > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    if values.get("stop_grace", 0) < 0:
        raise ConfigError("--stop-grace must not be negative")
    if values.get("fake_gpu", 0) < 0:
        raise ConfigError("--fake-gpu must not be negative")
    if "hostname" in values and not values["hostname"]:
        raise ConfigError("--hostname must not be empty")
    if not isinstance(values.get("container", ContainerConfig()), ContainerConfig):
        values["container"] = container_config(values["container"])
    if values.get("executor", "local") not in EXECUTORS:
        raise ConfigError("--executor must be one of " + ", ".join(EXECUTORS))
    if "log_level" in values:
        values["log_level"] = values["log_level"].upper()
        if values["log_level"] not in LOG_LEVELS:
            raise ConfigError("--log-level must be one of " + ", ".join(LOG_LEVELS))
    return Config(**values)


def container_config(section):
    """Check the YAML's `container:` section; every error names the setting to fix."""
    if section is None:
        return ContainerConfig()
    if not isinstance(section, dict):
        raise ConfigError("Setting container must be a mapping of container options")
    values = field_values(
        section, ContainerConfig, lambda key: f"Unknown container option {key!r}; known options: "
    )
    pull = values.get("pull", "if-not-present")
    if pull not in PULL_POLICIES:
        raise ConfigError("container.pull must be one of " + ", ".join(PULL_POLICIES))
    for name in ("network", "user", "gpu_driver"):
        value = values.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"container.{name.replace('_', '-')} must be a string")
    memory = values.get("memory")
    if memory is not None:
        if isinstance(memory, bool) or not MEMORY.fullmatch(str(memory)):
            raise ConfigError(
                "container.memory must be a size such as 512m or 2g (bytes without a unit)"
            )
        values["memory"] = str(memory)
    cpus = values.get("cpus")
    if cpus is not None:
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
            raise ConfigError("container.cpus must be a positive number, such as 1.5")
        values["cpus"] = float(cpus)
    values["registries"] = tuple(
        registry_config(index, item) for index, item in enumerate(values.get("registries") or [])
    )
    values["volumes"] = tuple(
        volume_config(index, item) for index, item in enumerate(values.get("volumes") or [])
    )
    return ContainerConfig(**values)


def registry_config(index, item):
    fields = ("registry", "username", "password")
    if not isinstance(item, dict) or set(item) != set(fields):
        raise ConfigError(
            f"container.registries[{index}] must hold exactly registry, username and password"
        )
    if not all(isinstance(item[name], str) and item[name] for name in fields):
        raise ConfigError(f"container.registries[{index}]: every value must be a string")
    return Registry(**item)


def volume_config(index, item):
    if not isinstance(item, dict) or not {"source", "destination"} <= set(item):
        raise ConfigError(f"container.volumes[{index}] needs a source and a destination")
    unknown = set(item) - {"source", "destination", "read-only", "read_only"}
    if unknown:
        raise ConfigError(f"container.volumes[{index}]: unknown keys {sorted(unknown)}")
    read_only = item.get("read-only", item.get("read_only", True))
    if not isinstance(read_only, bool):
        raise ConfigError(f"container.volumes[{index}].read-only must be true or false")
    for name in ("source", "destination"):
        if not isinstance(item[name], str) or not item[name].startswith("/"):
            raise ConfigError(f"container.volumes[{index}].{name} must be an absolute path")
    if item["destination"].rstrip("/") == "/data":
        raise ConfigError(f"container.volumes[{index}]: /data is the task's own directory")
    return Volume(item["source"], item["destination"], read_only)
