"""The buttons: Stop and Retry of a process, Stop and Restart of a task. They call the API's
service functions, with its rights (403 without manage rights, 404 when unreadable), its
refusals (a 400 page, nothing changed) and CSRF on every form."""

import pytest
from django.utils import timezone

from arkindex.documents.elements import create_elements
from arkindex.documents.models import ElementType
from ponos.models import State, Task
from process.builder import start_process
from process.models import Process, WorkerActivity
from tests.pages.conftest import assert_error_page, csrf_token, page_client, text
from tests.process.helpers import add_worker_run, finish_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(process, farm):
    """`process` started: ocr (pending) then index (unscheduled)."""
    ocr = add_worker_run(process, slug="ocr")
    add_worker_run(process, slug="index", parents=[ocr])
    start_process(process.pk, farm=farm)
    process.refresh_from_db()
    return process


def task_states(process, run=None):
    tasks = Task.objects.filter(process=process, run=process.last_run if run is None else run)
    return dict(tasks.values_list("slug", "state"))


def post(user, path):
    """A form sent as a browser sends it: with the CSRF token of the page it came from."""
    client = page_client(user, csrf=True)
    return client.post(path, {"csrfmiddlewaretoken": csrf_token(client, "/ui/")})


def test_a_manager_stops_a_process_from_its_page(contributor, started):
    response = post(contributor, f"/ui/process/{started.id}/stop/")
    assert response.status_code == 302
    assert response["Location"] == f"/ui/process/{started.id}/"
    assert task_states(started) == {"ocr": "stopped", "index": "stopped"}
    started.refresh_from_db()
    assert started.state == State.STOPPED
    page = response.client.get(response["Location"])
    assert "The process is stopping" in text(page)


def test_a_running_task_becomes_stopping_for_its_agent(corpus_admin, started, agent):
    Task.objects.filter(process=started, slug="ocr").update(
        state=State.RUNNING, agent=agent, started=timezone.now()
    )
    assert post(corpus_admin, f"/ui/process/{started.id}/stop/").status_code == 302
    assert task_states(started) == {"ocr": "stopping", "index": "stopped"}


def test_a_manager_retries_a_finished_process(
    contributor, started, django_capture_on_commit_callbacks
):
    finish_run(started, State.FAILED)
    # The retry's tasks wait for its worker activities (a job run once it commits).
    with django_capture_on_commit_callbacks(execute=True):
        response = post(contributor, f"/ui/process/{started.id}/retry/")
    assert response.status_code == 302
    started.refresh_from_db()
    assert started.last_run == 1
    assert started.activity_state == "ready"
    assert task_states(started) == {"ocr": "pending", "index": "unscheduled"}
    assert started.finished is None
    page = response.client.get(f"/ui/process/{started.id}/")
    assert "A new run of the process has started." in text(page)
    assert '<option value="1" selected>run 1 (2 tasks)</option>' in page.content.decode()


def test_the_retry_button_retries_with_worker_activities_as_the_api_does(
    contributor, process, farm, django_capture_on_commit_callbacks
):
    """As RetryProcess's default: a new run whose tasks wait for the activities, which
    queue again only the elements not processed by the previous run."""
    page_type = ElementType.objects.create(corpus=process.corpus, slug="page", display_name="Page")
    create_elements(corpus=process.corpus, type=page_type, names=["a", "b", "c", "d"])
    ocr = add_worker_run(process, slug="ocr")
    with django_capture_on_commit_callbacks(execute=True):
        start_process(process.pk, farm=farm, worker_activity=True)
    done = WorkerActivity.objects.filter(worker_run=ocr).order_by("id")[:3]
    WorkerActivity.objects.filter(pk__in=[a.pk for a in done]).update(state="processed")
    WorkerActivity.objects.filter(worker_run=ocr).exclude(state="processed").update(state="error")
    finish_run(process, State.FAILED)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(contributor, f"/ui/process/{process.id}/retry/")
    assert response.status_code == 302
    assert len(callbacks) == 1  # the activities' job
    process.refresh_from_db()
    assert (process.last_run, process.activity_state) == (1, "ready")
    states = WorkerActivity.objects.filter(worker_run=ocr).values_list("state", flat=True)
    assert sorted(states) == ["processed", "processed", "processed", "queued"]
    assert task_states(process) == {"ocr": "pending"}


def test_retrying_on_a_farm_the_creator_may_no_longer_use_is_a_403(contributor, started, farm):
    finish_run(started, State.FAILED)
    farm.memberships.filter(user=contributor).delete()
    response = post(contributor, f"/ui/process/{started.id}/retry/")
    assert_error_page(response, 403, "You may not run processes on the farm 'Main farm'")
    started.refresh_from_db()
    assert started.last_run == 0


@pytest.mark.parametrize(
    ("who", "status"), [("guest", 403), ("outsider", 404), ("farm_guest", 404)]
)
def test_without_manage_rights_the_buttons_are_refused(who, status, request, started):
    user = request.getfixturevalue(who)
    before = task_states(started)
    stop = post(user, f"/ui/process/{started.id}/stop/")
    assert stop.status_code == status
    finish_run(started, State.FAILED)
    retry = post(user, f"/ui/process/{started.id}/retry/")
    assert retry.status_code == status
    ocr = Task.objects.get(process=started, slug="ocr")
    for path in [f"/ui/task/{ocr.id}/stop/", f"/ui/task/{ocr.id}/restart/"]:
        assert post(user, path).status_code == status
    if status == 403:
        assert "Managing this process needs admin rights" in text(stop)
    started.refresh_from_db()
    assert started.last_run == 0
    assert set(task_states(started)) == set(before)
    assert not Task.objects.filter(original_task__isnull=False).exists()


def test_stopping_a_process_that_is_not_active_is_a_400_that_changes_nothing(contributor, started):
    finish_run(started, State.COMPLETED)
    updated = Process.objects.get(pk=started.pk).updated
    response = post(contributor, f"/ui/process/{started.id}/stop/")
    assert_error_page(
        response, 400, "Only an active process can be stopped; this one is completed."
    )
    assert task_states(started) == {"ocr": "completed", "index": "completed"}
    assert Process.objects.get(pk=started.pk).updated == updated


def test_retrying_an_active_process_is_a_400(contributor, started):
    response = post(contributor, f"/ui/process/{started.id}/retry/")
    assert_error_page(response, 400, "This process is still active")
    started.refresh_from_db()
    assert started.last_run == 0


def test_a_manager_stops_one_task_and_its_unscheduled_descendants(contributor, started):
    ocr = Task.objects.get(process=started, slug="ocr")
    response = post(contributor, f"/ui/task/{ocr.id}/stop/")
    assert response.status_code == 302
    assert response["Location"] == f"/ui/task/{ocr.id}/"
    assert task_states(started) == {"ocr": "stopped", "index": "stopped"}


def test_a_manager_restarts_a_failed_task(contributor, started, agent):
    Task.objects.filter(process=started, slug="ocr").update(state=State.FAILED, agent=agent)
    ocr = Task.objects.get(process=started, slug="ocr")
    response = post(contributor, f"/ui/task/{ocr.id}/restart/")
    new = Task.objects.get(original_task=ocr)
    assert response.status_code == 302
    assert response["Location"] == f"/ui/task/{new.id}/"
    assert (new.slug, new.state) == ("ocr_2", State.PENDING)
    page = response.client.get(response["Location"])
    assert "ocr was restarted as ocr_2." in text(page)


def test_restarting_a_task_that_did_not_fail_is_a_400(contributor, started):
    ocr = Task.objects.get(process=started, slug="ocr")
    response = post(contributor, f"/ui/task/{ocr.id}/restart/")
    assert_error_page(response, 400, "A pending task cannot be restarted")
    assert Task.objects.filter(process=started).count() == 2


def test_every_form_needs_the_csrf_token_of_the_session(contributor, started, outsider):
    finish_run(started, State.FAILED)
    ocr = Task.objects.get(process=started, slug="ocr")
    paths = [
        f"/ui/process/{started.id}/stop/",
        f"/ui/process/{started.id}/retry/",
        f"/ui/task/{ocr.id}/stop/",
        f"/ui/task/{ocr.id}/restart/",
    ]
    client = page_client(contributor, csrf=True)
    # The token of another session is as bad as none.
    forged = page_client(outsider, csrf=True)
    other_token = csrf_token(forged, "/ui/")
    for path in paths:
        assert_error_page(client.post(path), 403, "Form refused")
        response = client.post(path, {"csrfmiddlewaretoken": other_token})
        assert_error_page(response, 403, "Form refused")
    started.refresh_from_db()
    assert started.last_run == 0
    assert task_states(started) == {"ocr": "failed", "index": "failed"}
    assert Task.objects.filter(process=started).count() == 2


def test_buttons_answer_to_post_only(contributor, started):
    client = page_client(contributor)
    ocr = Task.objects.get(process=started, slug="ocr")
    for path in [f"/ui/process/{started.id}/stop/", f"/ui/task/{ocr.id}/restart/"]:
        response = client.get(path)
        assert_error_page(response, 405, "answers to POST only, not GET")
        assert response["Allow"] == "POST"
    assert task_states(started) == {"ocr": "pending", "index": "unscheduled"}


def test_a_button_without_a_session_is_refused(started):
    client = page_client()
    response = client.post(f"/ui/process/{started.id}/stop/")
    assert response.status_code == 403
    assert task_states(started) == {"ocr": "pending", "index": "unscheduled"}
