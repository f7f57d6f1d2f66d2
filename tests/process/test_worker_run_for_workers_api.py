"""RetrieveWorkerRun and RetrieveWorkerRunConfiguration as arkindex-base-worker reads them
(SPEC §11): the process, the summary, the worker, the merged configuration."""

import pytest

from ponos.models import State
from process.models import ActivityState
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for, task_client
from tests.factories import TaskFactory, WorkerFactory, WorkerVersionFactory
from tests.process.helpers import add_worker_run

pytestmark = pytest.mark.django_db


def detail_url(worker_run):
    return f"/api/v1/process/workers/{worker_run.id}/"


def configuration_url(worker_run):
    return f"/api/v1/process/workers/{worker_run.id}/configuration/"


@pytest.fixture
def worker_run(process):
    worker = WorkerFactory(name="Text recognition", slug="htr", type="recognizer")
    version = WorkerVersionFactory(
        worker=worker, version=3, configuration={"model": "big", "batch": 4}
    )
    return add_worker_run(process, version=version, configuration={"batch": 8, "lang": "fr"})


@pytest.fixture
def worker_task(process, worker_run, agent):
    return TaskFactory(
        process=process, worker_run=worker_run, state=State.RUNNING, agent=agent, slug="htr"
    )


def test_the_task_of_a_run_reads_it_as_base_worker_does(process, corpus, worker_run, worker_task):
    process.activity_state = ActivityState.READY
    process.save()
    response = task_client(worker_task).get(detail_url(worker_run))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["process"] == {
        "id": str(process.id),
        "name": "Main process",
        "state": "unscheduled",
        "mode": "workers",
        "corpus": str(corpus.id),
        "activity_state": "ready",
        "skip_elements_json": True,
    }
    assert body["summary"] == "Worker Text recognition @ version 3"
    assert body["model_version"] is None
    assert body["worker_version"]["worker"] == {
        "id": str(worker_run.version.worker_id),
        "name": "Text recognition",
        "slug": "htr",
        "type": "recognizer",
    }


def test_without_activities_the_worker_is_told_to_read_its_elements_file(
    process, worker_run, guest
):
    body = client_for(guest).get(detail_url(worker_run)).json()
    assert body["process"]["activity_state"] == "disabled"
    assert body["process"]["skip_elements_json"] is False


def test_the_configuration_is_the_runs_merged_over_its_versions(worker_run, worker_task):
    response = task_client(worker_task).get(configuration_url(worker_run))
    assert response.status_code == 200
    assert response.json() == {
        "configuration": [
            {"key": "batch", "value": 8, "secret": False},
            {"key": "lang", "value": "fr", "secret": False},
            {"key": "model", "value": "big", "secret": False},
        ]
    }


def test_an_empty_configuration_is_an_empty_list(process, guest):
    worker_run = add_worker_run(process)
    assert client_for(guest).get(configuration_url(worker_run)).json() == {"configuration": []}


def test_the_configuration_is_read_in_a_constant_number_of_queries(
    worker_run, guest, django_assert_num_queries
):
    # The token; the worker run with its version and process, under the rights filter.
    with django_assert_num_queries(2):
        assert client_for(guest).get(configuration_url(worker_run)).status_code == 200


@pytest.mark.parametrize("user", ["outsider", "farm_guest"])
def test_strangers_cannot_read_a_configuration(worker_run, request, user):
    assert_error(client_for(request.getfixturevalue(user)).get(configuration_url(worker_run)), 404)


def test_a_finished_task_cannot_read_the_configuration(worker_run, worker_task):
    worker_task.state = State.COMPLETED
    worker_task.save()
    assert_error(task_client(worker_task).get(configuration_url(worker_run)), 401)
