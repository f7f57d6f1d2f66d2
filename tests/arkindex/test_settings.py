"""The strict parsers of arkindex.env: good values parse, bad ones name their variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from arkindex.env import (
    env_bool,
    env_database,
    env_int,
    env_json_object,
    env_list,
    env_rate,
    env_str,
    env_url,
    env_uuid,
)

ROOT = Path(__file__).resolve().parents[2]


def refused(parser, value, *args, **kwargs):
    """The message of the ImproperlyConfigured that `parser` raises for `value` in VAR."""
    with pytest.raises(ImproperlyConfigured) as error:
        parser("VAR", *args, environ={"VAR": value}, **kwargs)
    assert "VAR" in str(error.value)
    return str(error.value)


def test_missing_and_blank_values_give_the_default():
    for environ in ({}, {"VAR": ""}, {"VAR": "   "}):
        assert env_str("VAR", "default", environ=environ) == "default"
        assert env_bool("VAR", True, environ=environ) is True
        assert env_int("VAR", 7, environ=environ) == 7
        assert env_list("VAR", ["a"], environ=environ) == ["a"]
        assert env_json_object("VAR", {"A": "b"}, environ=environ) == {"A": "b"}
        assert env_uuid("VAR", environ=environ) is None
        assert env_url("VAR", "http://localhost:8000", environ=environ) == "http://localhost:8000"
        assert env_rate("VAR", "30/min", environ=environ) == "30/min"


def test_strings_are_stripped():
    assert env_str("VAR", environ={"VAR": "  value \n"}) == "value"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_parse(value, expected):
    assert env_bool("VAR", not expected, environ={"VAR": value}) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "truthy", "y e s"])
def test_a_bad_boolean_names_its_variable(value):
    assert "boolean" in refused(env_bool, value)


def test_integers_parse_within_bounds():
    assert env_int("VAR", 0, minimum=1, maximum=10, environ={"VAR": " 10 "}) == 10
    assert env_int("VAR", 0, minimum=1, environ={"VAR": "1"}) == 1


@pytest.mark.parametrize("value", ["ten", "1.5", "1e3", "0x10"])
def test_a_bad_integer_names_its_variable(value):
    assert "integer" in refused(env_int, value, 0)


def test_integers_out_of_bounds_name_their_variable():
    assert "at least 1" in refused(env_int, "0", 5, minimum=1)
    assert "at most 10" in refused(env_int, "11", 5, maximum=10)


def test_lists_are_comma_separated():
    assert env_list("VAR", [], environ={"VAR": "a.example.com, b.example.com,,"}) == [
        "a.example.com",
        "b.example.com",
    ]


def test_json_objects_of_strings_parse():
    assert env_json_object("VAR", environ={"VAR": '{"A": "1", "B": "two"}'}) == {
        "A": "1",
        "B": "two",
    }


@pytest.mark.parametrize("value", ["{", "[]", '"text"', '{"A": 1}', '{"A": null}'])
def test_a_bad_json_object_names_its_variable(value):
    assert "JSON object" in refused(env_json_object, value)


def test_uuids_parse_to_their_canonical_form():
    value = "6F1A7E5C-1B0D-4C2E-9B4A-0E1F2A3B4C5D"
    assert env_uuid("VAR", environ={"VAR": value}) == value.lower()


def test_a_bad_uuid_names_its_variable():
    assert "UUID" in refused(env_uuid, "farm-1")


@pytest.mark.parametrize(
    "value",
    ["http://localhost:8000", "https://ark.example.com", "https://ark.example.com/sub/"],
)
def test_http_urls_parse(value):
    assert env_url("VAR", environ={"VAR": value}) == value


def test_urls_accept_the_given_schemes_only():
    schemes = ("redis", "rediss", "unix")
    assert env_url("VAR", schemes=schemes, environ={"VAR": "redis://cache:6379/0"})
    assert env_url("VAR", schemes=schemes, environ={"VAR": "unix:///run/redis.sock"})
    assert "redis://" in refused(env_url, "http://cache:6379", schemes=schemes)


@pytest.mark.parametrize(
    "value", ["localhost:8000", "ark.example.com", "ftp://host", "http://", "http://h:port"]
)
def test_a_bad_url_names_its_variable(value):
    refused(env_url, value)


@pytest.mark.parametrize("value", ["30/min", "5/s", "100/hour", "1000/day", "2/m"])
def test_throttle_rates_parse(value):
    assert env_rate("VAR", "1/s", environ={"VAR": value}) == value


@pytest.mark.parametrize("value", ["30", "30/", "/min", "30/week", "thirty/min", "30 / min"])
def test_a_bad_throttle_rate_names_its_variable(value):
    assert "30/min" in refused(env_rate, value, "1/s")


def test_database_urls_parse():
    sqlite = env_database("VAR", "sqlite:///var/db.sqlite3", environ={})
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    postgres = env_database("VAR", "", environ={"VAR": "postgres://u:p@db:5433/ark"})
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["HOST"], postgres["PORT"], postgres["NAME"]) == ("db", 5433, "ark")
    # Workers keep their PostgreSQL connection between requests, checked before reuse.
    assert postgres["CONN_MAX_AGE"] > 0
    assert postgres["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("value", ["mysql://u@db/ark", "db.example.com", "postgres://db:port/x"])
def test_a_bad_database_url_names_its_variable(value):
    refused(env_database, value, "sqlite:///x")


def start_django(code="print('started')", **variables):
    """Set Django up in a fresh interpreter with these variables, then run `code`.

    Returns the exit code and the output (stdout and stderr).
    """
    environ = {**os.environ, **variables}
    code = "import django; django.setup()\nfrom django.conf import settings\n" + code
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, "DJANGO_SETTINGS_MODULE": "arkindex.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_bad_value_stops_start_up_with_a_message_naming_the_variable():
    status, output = start_django(ARKINDEX_MAX_BODY_SIZE="10MB")
    assert status != 0
    assert "ImproperlyConfigured: ARKINDEX_MAX_BODY_SIZE must be an integer, got '10MB'." in output


def test_the_settings_start_with_the_test_environment():
    status, output = start_django()
    assert status == 0, output
    assert "started" in output


def test_the_wsgi_application_refuses_to_load_without_a_secret_key_outside_debug():
    environ = {**os.environ, "ARKINDEX_DEBUG": "false", "ARKINDEX_SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "-c", "import arkindex.wsgi"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "arkindex.E001" in result.stderr
    assert "ARKINDEX_SECRET_KEY is not set" in result.stderr


def test_an_https_public_url_makes_cookies_secure_and_trusts_its_origin():
    code = "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
    code += "settings.CSRF_TRUSTED_ORIGINS)"
    status, output = start_django(code, ARKINDEX_PUBLIC_URL="https://ark.example.com/sub/")
    assert status == 0, output
    assert output.strip() == "True True ['https://ark.example.com']"


def test_safe_defaults(settings):
    assert settings.TIME_ZONE == "UTC"
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.CSRF_COOKIE_NAME == "arkindex.csrf"
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    # The test environment's public URL is plain HTTP, like `make run`'s.
    assert settings.SESSION_COOKIE_SECURE is False
    assert settings.CSRF_COOKIE_SECURE is False
