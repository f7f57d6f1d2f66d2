"""The shipped import program: its body, its client setup, and that it needs no Django."""

import subprocess
import sys
from pathlib import Path

import pytest

from process import importer

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "ARKINDEX_API_URL": "http://arkindex.example",
    "ARKINDEX_TASK_TOKEN": "task-token",
    "ARKINDEX_PROCESS_ID": "0c7d7c2e-1111-4222-8333-444455556666",
}


class FakeClient:
    instances = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []
        FakeClient.instances.append(self)

    def request(self, operation_id, **parameters):
        self.calls.append((operation_id, parameters))
        return {"id": "new-task", "slug": parameters["body"]["slug"], "process_id": "p"}


def test_it_creates_the_follow_up_task_with_the_task_token(monkeypatch, capsys):
    FakeClient.instances.clear()
    monkeypatch.setattr(importer, "client_class", lambda: FakeClient)

    assert importer.main(dict(ENV, PONOS_IMPORT_IMAGE="registry.example.com/import:3")) == 0

    [client] = FakeClient.instances
    assert client.kwargs == {
        "token": "task-token",
        "auth_scheme": "Ponos",
        "base_url": "http://arkindex.example",
    }
    assert client.calls == [
        (
            "CreateTask",
            {
                "body": {
                    "process_id": ENV["ARKINDEX_PROCESS_ID"],
                    "slug": "follow-up",
                    "image": "registry.example.com/import:3",
                    "command": "echo follow-up task",
                }
            },
        )
    ]
    assert "Created the task follow-up" in capsys.readouterr().out


def test_the_image_has_a_default(monkeypatch):
    assert importer.follow_up_body(ENV)["image"] == "arkindex/import"


@pytest.mark.parametrize("missing", sorted(ENV))
def test_missing_variables_exit_with_2(missing, capsys):
    env = {name: value for name, value in ENV.items() if name != missing}
    assert importer.main(env) == 2
    assert missing in capsys.readouterr().err


@pytest.mark.parametrize("cwd", [ROOT, Path("/")])
def test_it_loads_the_client_without_django_from_anywhere(cwd):
    # From the checkout, the project's own `arkindex` package comes first on sys.path.
    code = (
        "import sys; sys.path.insert(0, '.'); from process.importer import client_class; "
        "cls = client_class(); assert cls.__name__ == 'ArkindexClient', cls; "
        "assert 'django' not in sys.modules, 'django imported'; print(cls.__module__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "arkindex.client.client"
