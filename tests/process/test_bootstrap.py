"""manage.py bootstrap: the superuser, the default farm and the demo, created once."""

import io
import stat

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import override_settings

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.users.models import User
from arkindex.users.tokens import hash_key
from ponos.models import Farm, State, Task
from process.bootstrap import ACTIVITIES_PROCESS, DEMO_VERSIONS
from process.models import Process, Worker, WorkerActivity, WorkerRun, WorkerVersion
from tests.factories import FarmFactory, UserFactory

pytestmark = pytest.mark.django_db


def bootstrap(*args):
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (User, Farm, Corpus, Worker, WorkerVersion, Process, WorkerRun, Task)
    }


def line(output, prefix):
    [found] = [text for text in output.splitlines() if text.startswith(prefix)]
    return found[len(prefix) :]


def test_a_second_bootstrap_reuses_everything_the_first_created(monkeypatch, tmp_path):
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)
    token_file = tmp_path / "var" / "admin-token"
    first = bootstrap("--token-file", str(token_file))
    after_first = counts()
    second = bootstrap("--token-file", str(token_file))

    assert (
        counts()
        == after_first
        == {
            "User": 1,
            "Farm": 1,
            "Corpus": 1,
            "Worker": 1,
            "WorkerVersion": 4,
            "Process": 3,
            "WorkerRun": 6,
            "Task": 7,
        }
    )
    user = User.objects.get()
    assert user.email == "admin@localhost"
    assert user.is_admin
    key = token_file.read_text().strip()
    assert line(first, "API token: ") == line(second, "API token: ") == key
    assert [token.key_hash for token in user.tokens.all()] == [hash_key(key)]
    assert first.splitlines()[-1] == "Bootstrap done: 7 created, 0 reused."
    assert second.splitlines()[-1] == "Bootstrap done: 0 created, 7 reused."
    farm = Farm.objects.get()
    assert line(second, "Default farm: ") == f"{farm.name} ({farm.id}, reused)"


def test_the_demo_processes_are_started_on_the_default_farm():
    bootstrap()

    farm = Farm.objects.get()
    corpus = Corpus.objects.get()
    assert CorpusMembership.objects.get(corpus=corpus).level == Level.ADMIN
    versions = {
        version.command: version.version
        for version in WorkerVersion.objects.filter(worker__slug="demo")
    }
    assert versions == {command: n for n, (_, command) in enumerate(DEMO_VERSIONS.values(), 1)}

    demo = Process.objects.get(name="Demo process")
    assert (demo.mode, demo.corpus, demo.farm, demo.started is not None) == (
        "workers",
        corpus,
        farm,
        True,
    )
    tasks = {task.slug: task for task in Task.objects.filter(process=demo)}
    assert {slug: task.state for slug, task in tasks.items()} == {
        "demo": State.PENDING,
        "demo_2": State.UNSCHEDULED,
    }
    assert list(tasks["demo_2"].parents.all()) == [tasks["demo"]]

    failing = Process.objects.get(name="Demo process with a failure")
    tasks = {task.slug: task for task in Task.objects.filter(process=failing)}
    assert set(tasks) == {"demo", "demo_2", "demo_3"}
    # write, then fail, then read: the reader waits for the failing task
    assert list(tasks["demo_2"].parents.all()) == [tasks["demo"]]
    assert list(tasks["demo_3"].parents.all()) == [tasks["demo_2"]]
    assert tasks["demo_2"].command == DEMO_VERSIONS["fail"][1]


def test_the_superusers_token_is_kept_in_a_private_file_and_works(tmp_path, api):
    token_file = tmp_path / "admin-token"
    token_file.write_text("left by someone else\n")
    token_file.chmod(0o644)

    output = bootstrap("--no-demo", "--token-file", str(token_file))

    key = line(output, "API token: ")
    assert token_file.read_text() == key + "\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/user/").json()["email"] == "admin@localhost"


def test_a_revoked_kept_token_is_replaced_at_the_next_bootstrap(tmp_path):
    token_file = tmp_path / "admin-token"
    first = line(bootstrap("--no-demo", "--token-file", str(token_file)), "API token: ")
    # Revoked by an operator (the admin deletes the row)
    User.objects.get().tokens.all().delete()

    second = line(bootstrap("--no-demo", "--token-file", str(token_file)), "API token: ")

    assert second != first
    assert token_file.read_text().strip() == second
    assert [token.key_hash for token in User.objects.get().tokens.all()] == [hash_key(second)]


def test_a_token_of_another_user_in_the_file_is_not_printed(tmp_path):
    other = UserFactory()
    token_file = tmp_path / "admin-token"
    token_file.write_text(other.auth_token_key)

    key = line(bootstrap("--no-demo", "--token-file", str(token_file)), "API token: ")

    assert key != other.auth_token_key
    assert User.objects.get(email="admin@localhost").tokens.get().key_hash == hash_key(key)


def test_without_a_token_file_each_bootstrap_issues_a_new_token():
    first = line(bootstrap("--no-demo"), "API token: ")
    second = line(bootstrap("--no-demo"), "API token: ")
    assert first != second
    assert {token.key_hash for token in User.objects.get().tokens.all()} == {
        hash_key(first),
        hash_key(second),
    }


def test_the_new_superuser_gets_a_random_password_in_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    password_file = tmp_path / "secrets" / "admin-password"

    output = bootstrap("--no-demo", "--password-file", str(password_file))

    password = password_file.read_text().strip()
    assert len(password) >= 16
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert User.objects.get(email="root@example.com").check_password(password)
    assert line(output, "Superuser: ") == (
        f"root@example.com (created); its password is in {password_file}"
    )
    # The next run leaves the password alone
    bootstrap("--no-demo", "--password-file", str(password_file))
    assert password_file.read_text().strip() == password


def test_the_password_comes_from_the_environment_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough password")
    password_file = tmp_path / "admin-password"

    bootstrap("--no-demo", "--password-file", str(password_file))

    assert User.objects.get().check_password("a long enough password")
    assert not password_file.exists()


def test_without_password_it_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    output = bootstrap("--no-demo")

    assert not User.objects.get().has_usable_password()
    assert "manage.py changepassword admin@localhost" in line(output, "Superuser: ")


def test_an_existing_user_of_that_email_becomes_a_superuser(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)
    User.objects.create_user("admin@localhost", "secret password")

    bootstrap("--no-demo")

    user = User.objects.get()
    assert user.is_admin
    assert user.check_password("secret password")


def test_the_agent_configuration_holds_the_farm_and_its_seed(tmp_path):
    config = tmp_path / "agent.yml"

    bootstrap("--no-demo", "--agent-config", str(config))

    farm = Farm.objects.get()
    assert yaml.safe_load(config.read_text()) == {"farm": str(farm.id), "seed": farm.seed}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert Corpus.objects.count() == Process.objects.count() == 0


def test_the_farm_named_by_ponos_default_farm_is_the_default_one():
    farm = FarmFactory(name="Production farm")
    with override_settings(PONOS_DEFAULT_FARM=farm.pk):
        output = bootstrap()

    assert Farm.objects.get() == farm
    assert line(output, "Default farm: ") == f"Production farm ({farm.id}, reused)"
    assert set(Process.objects.values_list("farm", flat=True)) == {farm.pk}


def test_an_unknown_ponos_default_farm_is_an_error():
    with (
        override_settings(PONOS_DEFAULT_FARM="0c7d7c2e-1111-4222-8333-444455556666"),
        pytest.raises(CommandError, match="PONOS_DEFAULT_FARM names the farm 0c7d7c2e"),
    ):
        bootstrap()
    assert Farm.objects.count() == 0


def test_a_changed_demo_command_makes_a_new_version(monkeypatch):
    bootstrap()
    monkeypatch.setitem(DEMO_VERSIONS, "fail", ("fails on purpose", "exit 2"))

    bootstrap()

    assert WorkerVersion.objects.get(worker__slug="demo", command="exit 2").version == 5
    # The demo processes were started already: they keep their worker runs
    assert WorkerRun.objects.count() == 6


def test_the_activities_demo_works_on_the_pages_of_a_folder(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bootstrap()

    process = Process.objects.get(name=ACTIVITIES_PROCESS)
    assert (process.element.name, process.load_children, process.element_type.slug) == (
        "Demo folder",
        True,
        "page",
    )
    assert (process.chunks, process.activity_state) == (2, "ready")
    activities = WorkerActivity.objects.filter(process=process)
    assert sorted(activities.values_list("element__name", flat=True)) == sorted(
        f"Page {n}" for n in range(1, 13)
    )
    assert set(activities.values_list("state", flat=True)) == {"queued"}
    assert sorted(activities.values_list("chunk", flat=True)) == [1] * 6 + [2] * 6
    assert set(Task.objects.filter(process=process).values_list("state", flat=True)) == {
        State.PENDING
    }
    # Its worker speaks plain HTTP with requests, not base-worker.
    command = Task.objects.filter(process=process).first().command
    assert "import requests" in command and "arkindex_worker" not in command
