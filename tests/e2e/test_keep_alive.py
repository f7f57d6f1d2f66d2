"""gunicorn keeps idle connections open longer than our own clients wait between requests,
so that a client keeping its connection (a `requests` session: the agent, arkindex-client,
base-worker) never sends a request on a connection the server is closing."""

import http.client
import re
import time
from pathlib import Path

from ponos.agent.config import Config
from tests.e2e.helpers import (
    KEEP_ALIVE,
    ROOT,
    Service,
    clean_environ,
    free_port,
    gunicorn_command,
    wait_for,
)


def keep_alive_of(text):
    [value] = re.findall(r"--keep-alive[ =](\d+)", text)
    return int(value)


def test_every_way_of_serving_the_api_keeps_idle_connections_longer_than_our_clients_wait():
    run = (ROOT / "scripts" / "run").read_text()
    unit = (ROOT / "deploy" / "arkindex-api@.service").read_text()
    assert keep_alive_of(run) == keep_alive_of(unit) == KEEP_ALIVE
    assert keep_alive_of(" ".join(gunicorn_command("http://127.0.0.1:1"))) == KEEP_ALIVE

    # The agent's polls (make run polls every 2 s) and its watched log pieces
    config = Config(url="http://x", farm="f", seed="s", data_dir=Path("/tmp"))
    assert config.poll_interval < KEEP_ALIVE
    assert config.log_watched_interval < KEEP_ALIVE
    assert re.search(r'--poll-interval "\$\{AGENT_POLL_INTERVAL:-2\}"', run)
    # The pages' refresh, and its slower pace for a hidden tab
    pages = (ROOT / "pages" / "static" / "pages" / "pages.js").read_text()
    interval = int(re.search(r"var INTERVAL = (\d+);", pages)[1]) / 1000
    assert 3 * interval < KEEP_ALIVE
    # A script polling every 10 s is still within it
    assert KEEP_ALIVE > 10


def test_a_connection_idle_just_under_the_keep_alive_is_reused(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="arkindex.settings",
        ARKINDEX_SECRET_KEY="keep-alive-test-secret-key-0123456789abcdef",
        ARKINDEX_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ARKINDEX_ALLOWED_HOSTS="127.0.0.1",
    )
    server = Service("gunicorn", gunicorn_command(url), env=env, log_path=tmp_path / "log")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def health():
            connection.request("GET", "/health/")
            response = connection.getresponse()
            response.read()
            return response.status

        def first_answer():
            try:
                return health() == 200
            except OSError:
                connection.close()
                return False

        wait_for(first_answer, message=server.tail)
        local_address = connection.sock.getsockname()

        time.sleep(KEEP_ALIVE - 1)

        # The same connection, still open: no new connection, no RemoteDisconnected
        assert health() == 200
        assert connection.sock.getsockname() == local_address
        connection.close()
    finally:
        server.stop()
