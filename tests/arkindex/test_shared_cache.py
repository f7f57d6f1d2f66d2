"""Without Redis, `make run`'s gunicorn workers share their throttle counters through a cache
directory (ARKINDEX_CACHE_DIR): two processes count the same logins."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Tries a login throttle `count` times for one client address; prints how many got through.
ATTEMPTS = """
import sys
import django
django.setup()
from django.test import RequestFactory
from rest_framework.request import Request
from arkindex.users.api import LoginThrottle

request = Request(RequestFactory().post("/api/v1/user/login/", REMOTE_ADDR="192.0.2.7"))
print(sum(LoginThrottle().allow_request(request, None) for _ in range(int(sys.argv[1]))))
"""


def attempts(count, **variables):
    environ = {key: value for key, value in os.environ.items() if key != "ARKINDEX_REDIS_URL"}
    environ.update(variables, DJANGO_SETTINGS_MODULE="arkindex.settings")
    environ.setdefault("ARKINDEX_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
    result = subprocess.run(
        [sys.executable, "-c", ATTEMPTS, str(count)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


def test_two_processes_share_the_login_counter(tmp_path):
    shared = {"ARKINDEX_CACHE_DIR": str(tmp_path / "cache"), "ARKINDEX_LOGIN_RATE": "5/min"}

    assert attempts(3, **shared) == 3
    # The second process sees the first one's three attempts
    assert attempts(5, **shared) == 2


def test_without_a_cache_directory_each_process_counts_alone(tmp_path):
    alone = {"ARKINDEX_LOGIN_RATE": "5/min", "ARKINDEX_CACHE_DIR": ""}

    assert attempts(3, **alone) == 3
    assert attempts(5, **alone) == 5


def test_make_run_gives_its_workers_a_cache_directory():
    script = (ROOT / "scripts" / "run").read_text()
    assert "export ARKINDEX_CACHE_DIR=${ARKINDEX_CACHE_DIR:-$VAR_DIR/cache}" in script
