"""Bad input on every page: an error page that says what is wrong, never a 500, and never
a change."""

import uuid

import pytest

from ponos.models import State, Task
from tests.pages.conftest import assert_error_page, page_client, text

pytestmark = pytest.mark.django_db

MALFORMED = ["nope", "1234", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --"]
PAGES = ["/ui/process/{}/", "/ui/task/{}/"]
ACTIONS = [
    "/ui/process/{}/stop/",
    "/ui/process/{}/retry/",
    "/ui/task/{}/stop/",
    "/ui/task/{}/restart/",
]


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("path", PAGES)
def test_a_malformed_id_in_a_page_is_a_404_page_saying_so(path, value, superuser):
    response = page_client(superuser).get(path.format(value))
    assert_error_page(response, 404, "is not the id of a", "ids look like")


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("path", ACTIONS)
def test_a_malformed_id_in_a_form_target_is_a_404_page(path, value, superuser):
    response = page_client(superuser).post(path.format(value))
    assert_error_page(response, 404, "is not the id of a")


@pytest.mark.parametrize("path", PAGES + ACTIONS)
def test_an_unknown_id_is_a_404_page(path, superuser):
    client = page_client(superuser)
    method = client.post if path in ACTIONS else client.get
    assert_error_page(method(path.format(uuid.uuid4())), 404, "Not found")


def test_a_malformed_id_of_the_states_endpoint_is_a_json_404(superuser):
    response = page_client(superuser).get("/ui/process/nope/states/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["detail"].startswith("'nope' is not the id of a process")


@pytest.mark.parametrize("path", ["/ui/nothing/", "/ui/process/", "/ui/task/x/y/z/", "/ui/%00"])
def test_an_unknown_page_is_a_404_page(path, superuser):
    assert_error_page(page_client(superuser).get(path), 404, "No page is at /ui/")


@pytest.mark.parametrize("path", ["/ui/", "/ui/agents/", "/ui/process/{}/", "/ui/task/{}/"])
def test_pages_answer_to_get_only(path, superuser, running_task):
    target = path.format(running_task.process_id if "process" in path else running_task.id)
    response = page_client(superuser).post(target, {"state": "stopping"})
    assert_error_page(response, 405, "answers to GET and HEAD only, not POST")
    assert Task.objects.get(pk=running_task.pk).state == State.RUNNING


@pytest.mark.parametrize(
    "query",
    [
        "name=%00",
        "name=%E2%80%AE%F0%9F%92%A5",
        "state=%00",
        "mode=x" * 200,
        "created=%00",
        "page=%00",
        "page=-1",
        "corpus=nope",
        "with_tasks=2",
        "name=" + "a" * 5000,
    ],
)
def test_hostile_filters_of_the_list_are_never_a_500(query, superuser, running_task):
    response = page_client(superuser).get(f"/ui/?{query}")
    assert response.status_code in (200, 400, 404), response.status_code
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("query", ["run=%00", "run=" + "9" * 400, "run=0x1"])
def test_hostile_runs_are_a_404_page(query, superuser, running_task):
    response = page_client(superuser).get(f"/ui/process/{running_task.process_id}/?{query}")
    assert_error_page(response, 404, "This process has no run")


def test_a_hostile_run_of_the_states_endpoint_is_a_json_404(superuser, running_task):
    client = page_client(superuser)
    for run in ["%00", "9" * 400, "-1", ""]:
        response = client.get(f"/ui/process/{running_task.process_id}/states/?run={run}")
        assert response.status_code == 404
        assert "is not the number of a run" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    "query, phrase",
    [
        ("state=sleeping", "Unknown state 'sleeping'"),
        ("worker_run=nope", "worker_run is the id of a worker run"),
        ("chunk=11", "chunk is a whole number from 0 to 10"),
        ("chunk=-1", "chunk is a whole number from 0 to 10"),
        ("chunk=²", "chunk is a whole number from 0 to 10"),
        ("depth=1e9", "depth is a whole number"),
        ("page=0", "page is a whole number from 1"),
        ("page=2", "The task table has 1 page here"),
        ("slug=" + "x" * 300, "A slug has at most 250 characters"),
    ],
)
def test_bad_filters_of_the_task_table_are_a_400_saying_what_is_allowed(
    query, phrase, superuser, running_task
):
    client = page_client(superuser)
    response = client.get(f"/ui/process/{running_task.process_id}/?{query}")
    assert_error_page(response, 400, phrase)
    states = client.get(f"/ui/process/{running_task.process_id}/states/?{query}")
    if query.startswith("page=2"):
        # The script of a page whose rows left it gets the counts, without rows.
        assert states.status_code == 200 and states.json()["rows"] == {}
    else:
        assert states.status_code == 400
        assert states.json()["type"] == "validation_error"
        assert phrase in states.json()["errors"][0]["detail"]


def test_a_worker_run_of_another_process_lists_no_task(superuser, running_task, process):
    from tests.factories import ProcessFactory
    from tests.process.helpers import add_worker_run

    other = add_worker_run(ProcessFactory(corpus=process.corpus, creator=process.creator))
    response = page_client(superuser).get(
        f"/ui/process/{running_task.process_id}/?worker_run={other.id}"
    )
    assert response.status_code == 200
    assert "No task of this run matches these filters." in text(response)
