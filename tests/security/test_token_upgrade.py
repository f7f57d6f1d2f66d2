"""An installation of the previous release, upgraded: the user tokens and task tokens it
handed out keep authenticating, and none stays stored in clear (SPEC §3)."""

import hashlib
import importlib
import secrets

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ponos.models import Task
from tests.conftest import client_for

# The last migrations of the release that stored tokens in clear.
PREVIOUS = [("users", "0001_initial"), ("ponos", "0007_task_claimed_index")]


def migrate(targets=()):
    """Migrate the apps of `targets` to them and every other app to its latest migration
    (all to their latest by default); returns the historical models of that state."""
    executor = MigrationExecutor(connection)
    chosen = dict(targets)
    nodes = [(app, chosen.get(app, name)) for app, name in executor.loader.graph.leaf_nodes()]
    executor.migrate(nodes)
    return executor.loader.project_state(nodes).apps


@pytest.fixture
def previous_release(transactional_db, monkeypatch):
    """The database at the previous release's schema; the latest schema again afterwards.

    The data migrations work in batches of a few rows here, so that the rows below span
    several batches."""
    for module in (
        "arkindex.users.migrations.0003_user_tokens_from_previous_release",
        "ponos.migrations.0009_seal_task_tokens",
    ):
        monkeypatch.setattr(importlib.import_module(module), "BATCH", 3)
    apps = migrate(PREVIOUS)
    try:
        yield apps
    finally:
        migrate()


def populate(apps):
    """What the previous release wrote: DRF token keys, task tokens, an agent, in clear."""
    User = apps.get_model("users", "User")
    OldToken = apps.get_model("authtoken", "Token")
    Farm = apps.get_model("ponos", "Farm")
    Agent = apps.get_model("ponos", "Agent")
    OldTask = apps.get_model("ponos", "Task")
    Process = apps.get_model("process", "Process")

    User.objects.create(email="alice@example.com", is_admin=True, is_superuser=True)
    for name in ("bob", "carol", "dave"):
        User.objects.create(email=f"{name}@example.com")
    keys = {}
    for user in User.objects.all():
        keys[user.email.split("@")[0]] = key = secrets.token_hex(20)
        OldToken.objects.create(user=user, key=key)
    bob = User.objects.get(email="bob@example.com")

    farm = Farm.objects.create(name="Farm", seed="s" * 64)
    agent_token = secrets.token_urlsafe(32)
    agent = Agent.objects.create(
        farm=farm,
        hostname="host",
        token_hash=hashlib.sha256(agent_token.encode()).hexdigest(),
        cpu_cores=1,
        cpu_frequency=1,
        ram_total=1,
    )
    process = Process.objects.create(name="P", mode="repository", creator=bob, farm=farm)
    tasks = {}
    # Tokens of the release's own form, and of the free form its field allowed.
    for slug, state, token in [
        ("running", "running", secrets.token_urlsafe(32)),
        ("pending", "pending", "token-0-1"),
        ("done", "completed", secrets.token_urlsafe(32)),
        ("longest", "pending", "x" * 64),
    ]:
        task = OldTask.objects.create(
            process=process,
            run=0,
            slug=slug,
            state=state,
            image="img",
            token=token,
            agent=agent if slug == "running" else None,
        )
        tasks[slug] = (task.pk, token)
    return keys, agent_token, tasks


def test_the_previous_releases_tokens_still_authenticate_after_the_upgrade(previous_release):
    keys, agent_token, tasks = populate(previous_release)

    migrate()

    # User tokens: every old key authenticates as its user, and is stored as a digest only.
    for name, key in keys.items():
        answer = client_for(token=key, scheme="Token").get("/api/v1/user/")
        assert answer.status_code == 200, answer.content
        assert answer.json()["email"] == f"{name}@example.com"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    from arkindex.users.models import UserToken

    stored = list(UserToken.objects.values_list("key_hash", "description"))
    assert {key_hash for key_hash, _ in stored} == {
        hashlib.sha256(key.encode()).hexdigest() for key in keys.values()
    }
    assert all("before tokens were hashed" in description for _, description in stored)

    # Task tokens: the code of an active task keeps working as the process creator...
    for slug in ("running", "pending", "longest"):
        pk, token = tasks[slug]
        answer = client_for(token=token, scheme="Ponos").get("/api/v1/user/")
        assert answer.status_code == 200, (slug, answer.content)
        assert answer.json()["email"] == "bob@example.com"
        assert Task.objects.get(pk=pk).token == token
    # ...a finished task's token stays refused...
    assert (
        client_for(token=tasks["done"][1], scheme="Ponos").get("/api/v1/user/").status_code == 401
    )
    # ...the holding agent's definition still gives the task its token...
    pk, token = tasks["running"]
    definition = client_for(token=agent_token, scheme="Bearer").get(
        f"/api/v1/task/{pk}/definition/"
    )
    assert definition.status_code == 200, definition.content
    assert definition.json()["env"]["ARKINDEX_TASK_TOKEN"] == token
    # ...and no row holds a task token in clear any more.
    for row in Task.objects.values("token_mask", "token_hash"):
        assert not any(token in str(row) for _pk, token in tasks.values())


def test_going_back_to_the_previous_release_gives_the_task_tokens_back(previous_release):
    _keys, _agent_token, tasks = populate(previous_release)
    migrate()

    apps = migrate(PREVIOUS)

    OldTask = apps.get_model("ponos", "Task")
    assert dict(OldTask.objects.values_list("pk", "token")) == dict(tasks.values())
