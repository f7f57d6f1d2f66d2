"""Every page and button × every kind of caller: the status, and for buttons, that the
change happened after a success only. The rights are the API's (see
tests/test_permission_matrix.py)."""

import pytest

from ponos.models import State, Task
from tests.pages.conftest import page_client
from tests.process.helpers import finish_run

pytestmark = pytest.mark.django_db

CALLERS = [
    "anonymous",
    "outsider",
    "farm_guest",
    "guest",
    "contributor",
    "corpus_admin",
    "superuser",
]
# Anonymous callers are sent to the login page (302) or refused (403 for a form or JSON).
READ = {
    "anonymous": 302,
    "outsider": 404,
    "farm_guest": 404,
    "guest": 200,
    "contributor": 200,
    "corpus_admin": 200,
    "superuser": 200,
}
ANYONE = dict(READ, outsider=200, farm_guest=200)
STATES = dict(READ, anonymous=403)
MANAGE = dict(READ, anonymous=403, guest=403, contributor=302, corpus_admin=302, superuser=302)
MATRIX = [
    ("GET", "/ui/", ANYONE),
    ("GET", "/ui/processes/rows/", ANYONE),
    ("GET", "/ui/agents/", ANYONE),
    ("GET", "/ui/process/{process}/", READ),
    ("GET", "/ui/process/{process}/states/", STATES),
    ("GET", "/ui/process/{process}/?state=pending&worker_run={worker_run}&chunk=1", READ),
    ("GET", "/ui/task/{task}/", READ),
    ("POST", "/ui/process/{process}/stop/", MANAGE),
    ("POST", "/ui/process/{process}/retry/", MANAGE),
    ("POST", "/ui/task/{task}/stop/", MANAGE),
    ("POST", "/ui/task/{task}/restart/", MANAGE),
]
ROWS = [
    pytest.param(method, path, caller, statuses[caller], id=f"{method} {path} {caller}")
    for method, path, statuses in MATRIX
    for caller in CALLERS
]


def snapshot(process):
    """The process's state and run, and every task's slug, run and state."""
    process.refresh_from_db()
    tasks = Task.objects.filter(process=process).values_list("slug", "run", "state")
    return process.state, process.last_run, sorted(tasks)


@pytest.mark.parametrize(("method", "path", "caller", "status"), ROWS)
def test_the_rights_of_every_page_and_button(method, path, caller, status, request, started):
    task = Task.objects.get(process=started)
    if path.endswith(("retry/", "restart/")):
        # Retry and restart need a finished run.
        finish_run(started, State.FAILED)
    user = None if caller == "anonymous" else request.getfixturevalue(caller)
    client = page_client(user)
    before = snapshot(started)
    target = path.format(process=started.id, task=task.id, worker_run=task.worker_run_id)
    response = client.post(target) if method == "POST" else client.get(target)
    assert response.status_code == status, (target, caller, response.content[:300])
    if method == "POST":
        changed = snapshot(started) != before
        assert changed == (status == 302), (target, caller, before, snapshot(started))
