import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_health_is_200_when_the_database_answers(api, django_assert_num_queries):
    # 1. SELECT 1
    with django_assert_num_queries(1):
        response = api.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok"}


@pytest.mark.django_db
def test_health_needs_no_credentials_and_ignores_bad_ones(api):
    api.credentials(HTTP_AUTHORIZATION="Token unknown")
    assert api.get("/health/").status_code == 200


def closed_port():
    """A local TCP port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_is_503_when_the_database_does_not_answer():
    # A real connection failure, in a fresh interpreter whose database is a closed port:
    # the test database of this process stays untouched.
    code = (
        "import json, django; django.setup()\n"
        "from django.test import Client\n"
        "response = Client().get('/health/')\n"
        "print(json.dumps([response.status_code, response.json()]))\n"
    )
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ARKINDEX_DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/arkindex",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body == {"database": "unreachable"}
