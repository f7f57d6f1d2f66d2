import pytest
from django.utils import timezone

from ponos import states
from ponos.models import State, Task
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.factories import TaskFactory, WorkerRunFactory
from tests.ponos.test_retrieve_task_api import TASK_FIELDS

pytestmark = pytest.mark.django_db


def url(task):
    return f"/api/v1/task/{task.id}/restart/"


def make_run(process, run=0, **slug_states):
    """Tasks of a run by slug; the process summary computed as the state machine would."""
    now = timezone.now()
    tasks = {}
    for slug, state in slug_states.items():
        started = None if state in (State.UNSCHEDULED, State.PENDING) else now
        tasks[slug] = TaskFactory(process=process, run=run, slug=slug, state=state, started=started)
    process.last_run = run
    process.save(update_fields=["last_run"])
    states.refresh_process(process.pk)
    return tasks


def restart(user, task):
    response = client_for(user).post(url(task))
    assert response.status_code == 201, response.content
    return Task.objects.get(pk=response.json()["id"])


def state_of(task):
    return Task.objects.get(pk=task.pk).state


def test_a_failed_task_runs_again_as_a_new_task(contributor, process):
    failed = make_run(process, build=State.FAILED)["build"]
    worker_run = WorkerRunFactory(process=process)
    Task.objects.filter(pk=failed.pk).update(
        env={"A": "1"},
        priority=5,
        ttl=30,
        shm_size="1g",
        requires_gpu=True,
        worker_run=worker_run,
        chunk=2,
        depth=2,
        command="run --all",
    )
    process.refresh_from_db()
    assert process.state == State.FAILED and process.finished is not None

    response = client_for(contributor).post(url(failed))
    assert response.status_code == 201, response.content
    answer = response.json()
    assert set(answer) == TASK_FIELDS - {"logs"}
    new = Task.objects.get(pk=answer["id"])
    old = Task.objects.get(pk=failed.pk)
    assert new.slug == "build_2"
    assert new.original_task == old
    assert answer["original_task_id"] == str(old.id)
    for field in ("run", "depth", "image", "command", "env", "priority", "ttl", "shm_size"):
        assert getattr(new, field) == getattr(old, field), field
    assert (new.requires_gpu, new.worker_run, new.chunk) == (True, worker_run, 2)
    assert (new.state, new.agent, new.started, new.finished) == (State.PENDING, None, None, None)
    assert new.token != old.token
    # The old task keeps its history.
    assert old.state == State.FAILED
    # The replaced task no longer counts: the process is pending, and active again.
    process.refresh_from_db()
    assert (process.state, process.finished) == (State.PENDING, None)


def test_the_process_completes_when_the_restarted_task_does(contributor, process, agent):
    tasks = make_run(process, a=State.COMPLETED, b=State.ERROR)
    new = restart(contributor, tasks["b"])
    Task.objects.filter(pk=new.pk).update(agent=agent)
    states.report_state(new.pk, State.RUNNING, agent=agent)
    states.report_state(new.pk, State.COMPLETED, agent=agent)
    process.refresh_from_db()
    assert process.state == State.COMPLETED and process.finished is not None


def test_the_smallest_free_suffix_is_taken(contributor, process):
    tasks = make_run(process, ocr=State.FAILED, ocr_2=State.COMPLETED, ocr_3=State.FAILED)
    assert restart(contributor, tasks["ocr"]).slug == "ocr_4"


def test_restarting_a_restart_counts_from_the_original_slug(contributor, process, agent):
    failed = make_run(process, ocr=State.FAILED)["ocr"]
    second = restart(contributor, failed)
    Task.objects.filter(pk=second.pk).update(state=State.FAILED)
    states.refresh_process(process.pk)
    assert restart(contributor, second).slug == "ocr_3"


def test_a_slug_too_long_to_take_a_suffix_is_refused(contributor, process):
    failed = make_run(process, **{"x" * 249: State.FAILED})["x" * 249]
    errors = assert_error(
        client_for(contributor).post(url(failed)), 400, error_type="validation_error"
    )
    assert "too long" in errors[0]["detail"]


def test_the_new_task_waits_for_parents_that_did_not_complete(contributor, process):
    tasks = make_run(process, parent=State.STOPPED, child=State.STOPPED)
    tasks["child"].parents.add(tasks["parent"])
    new = restart(contributor, tasks["child"])
    assert new.state == State.UNSCHEDULED
    assert list(new.parents.all()) == [tasks["parent"]]


def test_children_depend_on_the_new_task_and_stopped_descendants_wait_again(
    contributor, process, agent
):
    tasks = make_run(
        process,
        root=State.COMPLETED,
        failed=State.ERROR,
        child=State.STOPPED,
        grandchild=State.STOPPED,
        ran=State.STOPPED,
        sibling=State.UNSCHEDULED,
        unrelated=State.STOPPED,
    )
    Task.objects.filter(slug__in=["child", "grandchild"]).update(started=None)
    tasks["failed"].parents.add(tasks["root"])
    tasks["child"].parents.add(tasks["failed"], tasks["root"])
    tasks["grandchild"].parents.add(tasks["child"])
    # This one was stopped while it ran: it stays stopped.
    tasks["ran"].parents.add(tasks["child"])
    tasks["sibling"].parents.add(tasks["failed"])
    Task.objects.filter(slug="unrelated").update(started=None)

    new = restart(contributor, tasks["failed"])
    assert new.state == State.PENDING
    assert set(new.parents.all()) == {tasks["root"]}
    assert set(tasks["child"].parents.all()) == {new, tasks["root"]}
    assert set(tasks["sibling"].parents.all()) == {new}
    assert not tasks["failed"].children.exists()
    assert state_of(tasks["child"]) == State.UNSCHEDULED
    assert Task.objects.get(pk=tasks["child"].pk).finished is None
    assert state_of(tasks["grandchild"]) == State.UNSCHEDULED
    assert state_of(tasks["ran"]) == State.STOPPED
    assert state_of(tasks["unrelated"]) == State.STOPPED
    # When the new task completes, the child it now waits for is scheduled.
    Task.objects.filter(pk=new.pk).update(state=State.RUNNING, agent=agent)
    states.report_state(new.pk, State.COMPLETED, agent=agent)
    assert state_of(tasks["child"]) == State.PENDING


@pytest.mark.parametrize("state", [State.FAILED, State.ERROR, State.CANCELLED, State.STOPPED])
def test_every_final_state_but_completed_can_be_restarted(contributor, process, state):
    task = make_run(process, task=state)["task"]
    assert restart(contributor, task).slug == "task_2"


@pytest.mark.parametrize(
    "state", [State.COMPLETED, State.UNSCHEDULED, State.PENDING, State.RUNNING, State.STOPPING]
)
def test_other_states_are_refused(contributor, process, state):
    task = make_run(process, task=state, other=State.RUNNING)["task"]
    errors = assert_error(client_for(contributor).post(url(task)), 400, attr=["state"])
    assert "failed" in errors[0]["detail"]
    assert Task.objects.count() == 2


def test_a_task_of_an_older_run_is_refused(contributor, process):
    old = make_run(process, run=0, task=State.FAILED)["task"]
    make_run(process, run=1, task=State.COMPLETED)
    errors = assert_error(
        client_for(contributor).post(url(old)), 400, error_type="validation_error"
    )
    assert "last run (1)" in errors[0]["detail"]


def test_restarting_is_refused_while_the_process_is_stopping(contributor, process, agent):
    tasks = make_run(process, failed=State.FAILED, running=State.RUNNING)
    Task.objects.filter(pk=tasks["running"].pk).update(agent=agent)
    states.stop_process(process.pk)
    # The summary reads failed, but a stop is under way.
    process.refresh_from_db()
    assert process.state == State.FAILED
    errors = assert_error(
        client_for(contributor).post(url(tasks["failed"])), 400, error_type="validation_error"
    )
    assert "stopping" in errors[0]["detail"]


def test_a_task_is_restarted_once(contributor, process):
    failed = make_run(process, task=State.FAILED)["task"]
    restart(contributor, failed)
    errors = assert_error(
        client_for(contributor).post(url(failed)), 400, error_type="validation_error"
    )
    assert "task_2" in errors[0]["detail"]


@pytest.mark.parametrize("caller", ["corpus_admin", "superuser"])
def test_managers_restart_tasks(request, caller, process):
    failed = make_run(process, task=State.FAILED)["task"]
    restart(request.getfixturevalue(caller), failed)


def test_a_reader_without_manage_rights_gets_a_403(guest, process):
    failed = make_run(process, task=State.FAILED)["task"]
    assert_error(client_for(guest).post(url(failed)), 403)


def test_an_outsider_gets_a_404(outsider, process):
    failed = make_run(process, task=State.FAILED)["task"]
    assert_error(client_for(outsider).post(url(failed)), 404)


def test_tasks_and_agents_cannot_restart_tasks(running_task, agent, process):
    failed = TaskFactory(process=process, slug="failed", state=State.FAILED, agent=agent)
    assert_error(task_client(running_task).post(url(failed)), 403)
    assert_error(agent_client(agent).post(url(failed)), 403)
    assert Task.objects.count() == 2
