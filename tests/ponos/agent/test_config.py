"""The agent's settings, from flags and a YAML file."""

import socket

import pytest

from ponos.agent.config import ConfigError, load_config

REQUIRED_FLAGS = ["--url", "http://127.0.0.1:8000/", "--farm", "farm-id", "--seed", "s3cret"]


def test_flags_with_defaults(tmp_path):
    config = load_config([*REQUIRED_FLAGS, "--data-dir", str(tmp_path)])

    assert config.url == "http://127.0.0.1:8000"
    assert config.api_url("agent/actions/") == "http://127.0.0.1:8000/api/v1/agent/actions/"
    assert config.data_dir == tmp_path
    assert config.hostname == socket.gethostname()
    assert config.poll_interval == 5
    assert config.log_upload_interval == 30
    assert config.log_watched_interval == 3
    assert config.stop_grace == 10
    assert config.url_expiry == 3600
    assert config.fake_gpu == 0
    assert config.keep_task_data is False


def test_yaml_file_with_flags_taking_precedence(tmp_path):
    path = tmp_path / "agent.yml"
    path.write_text(
        "url: https://arkindex.example.com\n"
        "farm: farm-id\n"
        "seed: from-file\n"
        f"data-dir: {tmp_path / 'data'}\n"
        "poll_interval: 2\n"
        "stop-grace: 0\n"
        "fake-gpu: 2\n"
        "keep-task-data: true\n"
    )

    config = load_config(
        ["--config", str(path), "--poll-interval", "0.25", "--hostname", "gpu-box"]
    )

    assert config.url == "https://arkindex.example.com"
    assert config.seed == "from-file"
    assert config.data_dir == tmp_path / "data"
    assert config.poll_interval == 0.25
    assert config.stop_grace == 0
    assert config.fake_gpu == 2
    assert config.keep_task_data is True
    assert config.hostname == "gpu-box"


VALID = "url: http://localhost\nfarm: f\nseed: s\ndata-dir: /tmp/agent\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (VALID + "pol-interval: 3\n", "Unknown setting 'pol-interval'"),
        (VALID + "fake-gpu: two\n", "Setting fake-gpu must be a whole number"),
        (VALID + "poll-interval: 0\n", "--poll-interval must be positive"),
        (VALID + "url: ftp://example.com\n", "--url must start with http:// or https://"),
        ("- url\n", "must hold a mapping of settings"),
        ("url: [\n", "is not valid YAML"),
    ],
)
def test_invalid_yaml_settings_are_explained(tmp_path, content, message):
    path = tmp_path / "agent.yml"
    path.write_text(content)

    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(path)])


def test_missing_settings_are_named(tmp_path):
    with pytest.raises(ConfigError, match="Missing settings: --farm, --seed, --data-dir"):
        load_config(["--url", "http://localhost"])


def test_unreadable_config_file_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the configuration file"):
        load_config(["--config", str(tmp_path / "missing.yml")])
