"""The agent's HTTP client on its own, against the fake API."""

import threading

from ponos.agent.api import ApiClient


def test_upload_of_a_growing_file_sends_the_length_it_announced(fake_api, agent_config, tmp_path):
    # A log keeps growing while it is uploaded: sending more bytes than announced would
    # corrupt the connection for the next request
    log = tmp_path / "task.log"
    content = b"line\n" * 1_000_000
    log.write_bytes(content)

    def grow(method, path):
        if method == "PUT":
            with open(log, "ab") as f:
                f.write(b"written during the upload\n" * 10_000)

    fake_api.before_body = grow
    fake_api.check_body_length = True
    client = ApiClient(agent_config(), abort=threading.Event())
    client.upload(fake_api.sign("logs/first.log"), log, "text/plain")
    fake_api.before_body = None
    grown = log.read_bytes()
    client.upload(fake_api.sign("logs/second.log"), log, "text/plain")

    assert fake_api.overlong_uploads == []
    assert fake_api.storage["logs/first.log"] == (content, "text/plain")
    assert fake_api.storage["logs/second.log"] == (grown, "text/plain")


def test_upload_of_an_empty_file_announces_a_length(fake_api, agent_config, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.touch()
    client = ApiClient(agent_config(), abort=threading.Event())

    client.upload(fake_api.sign("artifacts/empty.bin"), empty, "application/octet-stream")

    # The fake storage answers 411 to chunked uploads, as S3 does
    assert fake_api.storage["artifacts/empty.bin"] == (b"", "application/octet-stream")
