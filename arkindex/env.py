"""Strict parsers for configuration read from environment variables.

A bad value stops start-up with a message naming the variable, instead of being
silently replaced by a default.
"""

import json
import os
import re
import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off"}


def _raw(name, environ):
    value = (environ if environ is not None else os.environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name, default=None, environ=None):
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name, default=False, environ=None):
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {value!r}.")


def env_int(name, default, minimum=None, maximum=None, environ=None):
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}.")
    return number


def env_list(name, default, environ=None):
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json_object(name, default=None, environ=None):
    """A JSON object whose values are all strings (task environment variables)."""
    value = _raw(name, environ)
    if value is None:
        return dict(default or {})
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {e}.") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise ImproperlyConfigured(f"{name} must be a JSON object of strings to strings.")
    return parsed


def env_uuid(name, default=None, environ=None):
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a UUID, got {value!r}.") from None


# Seconds a database connection is reused for before it is closed and opened again.
PERSISTENT_CONNECTION_AGE = 600


def env_database(name, default, environ=None):
    import dj_database_url

    value = env_str(name, default, environ=environ)
    if not value.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:/// or postgres:// URL, got {value!r}."
        )
    postgres = not value.startswith("sqlite://")
    try:
        # PostgreSQL connections are kept between requests (each worker holds one), checked
        # before reuse: opening one forks a server process and authenticates, which cost
        # more than most API requests themselves.
        config = dj_database_url.parse(
            value,
            conn_max_age=PERSISTENT_CONNECTION_AGE if postgres else 0,
            conn_health_checks=postgres,
        )
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {e}.") from None
    return config


def env_url(name, default=None, schemes=("http", "https"), environ=None):
    """An absolute URL with one of `schemes` and a host (or a path, for unix sockets)."""
    value = env_str(name, default, environ=environ)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, "
            f"got {value!r}."
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ImproperlyConfigured(f"{name} must name a host, got {value!r}.")
    return value


RATE_PATTERN = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name, default, environ=None):
    """A throttle rate as Django REST framework reads it: `<requests>/<s|min|hour|day>`."""
    value = env_str(name, default, environ=environ)
    if not RATE_PATTERN.match(value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 30/min (requests per s, min, hour or day), "
            f"got {value!r}."
        )
    return value
