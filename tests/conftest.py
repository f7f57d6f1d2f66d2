"""The shared cast of the test suite.

Alice is a superuser; `corpus` is a private corpus where Carol is admin, Cecil contributor
and Gina guest; Oscar is an outsider with no access; Frank is a guest of `farm`. The
`process` belongs to the corpus and was created by Cecil; `agent` is an agent of `farm`,
`other_agent` one of `other_farm`; `running_task` is a task of `process` held by `agent`.
"""

import shutil

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from arkindex.corpora.models import Level
from ponos.models import State
from tests.factories import (
    AgentFactory,
    CorpusFactory,
    CorpusMembershipFactory,
    FarmFactory,
    FarmMembershipFactory,
    ProcessFactory,
    TaskFactory,
    UserFactory,
)
from tests.ponos.agent.engine import Engine


def pytest_collection_modifyitems(config, items):
    """On SQLite, skip the tests that need PostgreSQL itself (marked `postgresql`)."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: the suite runs on SQLite")
    for item in items:
        if item.get_closest_marker("postgresql"):
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    # Production hashing is slow on purpose; tests create many users.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_throttles():
    # Throttle counters live in the local-memory cache: each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    """An anonymous API client."""
    return APIClient()


def client_for(user=None, *, token=None, scheme="Token"):
    """An API client authenticated as a user (Token), a task (Ponos) or an agent (Bearer)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token_key}")
    elif token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client


def task_client(task):
    return client_for(token=task.token, scheme="Ponos")


def agent_client(agent):
    return client_for(token=agent.clear_token, scheme="Bearer")


@pytest.fixture
def superuser(db):
    return UserFactory(email="alice@example.com", display_name="Alice", is_admin=True)


@pytest.fixture
def corpus_admin(db):
    return UserFactory(email="carol@example.com", display_name="Carol")


@pytest.fixture
def contributor(db):
    return UserFactory(email="cecil@example.com", display_name="Cecil")


@pytest.fixture
def guest(db):
    return UserFactory(email="gina@example.com", display_name="Gina")


@pytest.fixture
def outsider(db):
    return UserFactory(email="oscar@example.com", display_name="Oscar")


@pytest.fixture
def farm_guest(db):
    return UserFactory(email="frank@example.com", display_name="Frank")


@pytest.fixture
def corpus(corpus_admin, contributor, guest):
    corpus = CorpusFactory(name="Private corpus")
    CorpusMembershipFactory(corpus=corpus, user=corpus_admin, level=Level.ADMIN)
    CorpusMembershipFactory(corpus=corpus, user=contributor, level=Level.CONTRIBUTOR)
    CorpusMembershipFactory(corpus=corpus, user=guest, level=Level.GUEST)
    return corpus


@pytest.fixture
def farm(farm_guest, contributor, corpus_admin):
    farm = FarmFactory(name="Main farm")
    FarmMembershipFactory(farm=farm, user=farm_guest, level=Level.GUEST)
    FarmMembershipFactory(farm=farm, user=contributor, level=Level.GUEST)
    FarmMembershipFactory(farm=farm, user=corpus_admin, level=Level.GUEST)
    return farm


@pytest.fixture
def other_farm(db):
    return FarmFactory(name="Other farm")


@pytest.fixture
def agent(farm):
    return AgentFactory(farm=farm, hostname="agent-main")


@pytest.fixture
def other_agent(other_farm):
    return AgentFactory(farm=other_farm, hostname="agent-other")


@pytest.fixture
def process(corpus, contributor, farm):
    return ProcessFactory(corpus=corpus, creator=contributor, farm=farm, name="Main process")


@pytest.fixture
def running_task(process, agent):
    from django.utils import timezone

    task = TaskFactory(
        process=process, slug="main-task", state=State.RUNNING, agent=agent, started=timezone.now()
    )
    process.state = State.RUNNING
    process.last_run = 0
    process.started = timezone.now()
    process.save(update_fields=["state", "last_run", "started"])
    return task


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """Podman's Docker-compatible service and a registry on loopback, for the session's tests
    of the container executor (tests/ponos/agent/engine.py)."""
    if shutil.which("podman") is None:
        pytest.skip("needs Podman (scripts/system-packages installs it)")
    engine = Engine(tmp_path_factory.mktemp("engine"))
    try:
        yield engine.start()
    finally:
        engine.stop()
