"""Worker activities (SPEC §11): created at start and retry by a background job, claimed by
StartWorkerActivity, reported by UpdateWorkerActivity, errored when their task ends,
queued again by a retry or a RestartTask, counted by ListProcessActivityCounts."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from arkindex.documents.elements import create_element, create_elements
from arkindex.documents.models import Transcription
from ponos.models import State, Task
from ponos.states import refresh_process
from process.activities import claim_activity
from process.cleanup import cleanup
from process.models import Process, WorkerActivity, WorkerRun
from tests.arkindex.assertions import assert_error
from tests.conftest import agent_client, client_for, task_client
from tests.documents.factories import ElementTypeFactory
from tests.process.helpers import add_worker_run

pytestmark = pytest.mark.django_db

START_URL = "/api/v1/process/start-activity/"


def report_url(worker_run):
    return f"/api/v1/process/workers/{worker_run.id}/activity/"


def counts_url(process):
    return f"/api/v1/process/{process.id}/activity-counts/"


@pytest.fixture
def page_type(corpus):
    return ElementTypeFactory(corpus=corpus, slug="page")


@pytest.fixture
def pages(corpus, page_type):
    return create_elements(corpus=corpus, type=page_type, names=[f"p{i}" for i in range(10)])


@pytest.fixture
def runs(process, pages):
    """Two worker runs, the second a child of the first; the process not started."""
    process.farm = None
    process.save()
    first = add_worker_run(process, slug="first")
    second = add_worker_run(process, slug="second", parents=[first])
    return first, second


def start(user, process, capture, body=None, execute=True):
    with capture(execute=execute):
        response = client_for(user).post(
            f"/api/v1/process/{process.id}/start/", body or {}, format="json"
        )
    assert response.status_code == 200, response.json()
    return response.json()


def retry(user, process, capture):
    with capture(execute=True):
        response = client_for(user).post(f"/api/v1/process/{process.id}/retry/", {}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def started(runs, contributor, farm, django_capture_on_commit_callbacks):
    """The process started on `farm` in 3 chunks, its activities created."""
    process = runs[0].process
    start(
        contributor,
        process,
        django_capture_on_commit_callbacks,
        {"farm": str(farm.id), "chunks": 3},
    )
    process.refresh_from_db()
    return process


def task_of(process, worker_run, chunk, run=0):
    """The latest task of a run's chunk (a restarted one replaces its original)."""
    return (
        Task.objects.filter(process=process, run=run, worker_run=worker_run, chunk=chunk)
        .order_by("-created")
        .first()
    )


def running(task, agent):
    Task.objects.filter(pk=task.pk).update(state=State.RUNNING, agent=agent, started=timezone.now())
    task.refresh_from_db()
    return task


def states(**filters):
    return Counter(WorkerActivity.objects.filter(**filters).values_list("state", flat=True))


class TestCreation:
    def test_start_creates_one_queued_activity_per_element_and_run(self, started, runs, pages):
        first, second = runs
        assert started.activity_state == "ready"
        assert states(worker_run=first) == {"queued": 10}
        assert states(worker_run=second) == {"queued": 10}
        chunks = dict(
            WorkerActivity.objects.filter(worker_run=first).values_list("element_id", "chunk")
        )
        # Chunk k of every run gets the same elements, shared out evenly.
        assert chunks == dict(
            WorkerActivity.objects.filter(worker_run=second).values_list("element_id", "chunk")
        )
        assert sorted(Counter(chunks.values()).values()) == [3, 3, 4]

    def test_the_tasks_wait_for_the_activities(
        self, runs, contributor, farm, django_capture_on_commit_callbacks
    ):
        process = runs[0].process
        body = start(
            contributor,
            process,
            django_capture_on_commit_callbacks,
            {"farm": str(farm.id)},
            execute=False,
        )
        assert body["activity_state"] == "pending"
        assert {task["state"] for task in body["tasks"]} == {"unscheduled"}
        assert not WorkerActivity.objects.exists()
        # Nothing can change the run meanwhile: it counts as active.
        response = client_for(contributor).post(
            f"/api/v1/process/{process.id}/retry/", {}, format="json"
        )
        assert_error(response, 400, error_type="validation_error")

    def test_once_ready_the_parentless_tasks_are_pending(self, started, runs):
        assert dict(Task.objects.filter(process=started).values_list("slug", "state")) == {
            "first_1": "pending",
            "first_2": "pending",
            "first_3": "pending",
            "second_1": "unscheduled",
            "second_2": "unscheduled",
            "second_3": "unscheduled",
        }
        assert started.state == "pending"

    def test_without_worker_activity_nothing_waits(
        self, runs, contributor, farm, django_capture_on_commit_callbacks
    ):
        process = runs[0].process
        body = start(
            contributor,
            process,
            django_capture_on_commit_callbacks,
            {"farm": str(farm.id), "worker_activity": False},
        )
        assert body["activity_state"] == "disabled"
        assert body["state"] == "pending"
        assert not WorkerActivity.objects.exists()

    def test_only_the_selection_gets_activities(
        self, runs, contributor, farm, corpus, page_type, django_capture_on_commit_callbacks
    ):
        process = runs[0].process
        folder = create_element(corpus=corpus, type=page_type, name="folder")
        inside = create_elements(corpus=corpus, type=page_type, names=["a", "b"], parent=folder)
        Process.objects.filter(pk=process.pk).update(element=folder, load_children=True)
        start(contributor, process, django_capture_on_commit_callbacks, {"farm": str(farm.id)})
        assert set(
            WorkerActivity.objects.filter(worker_run=runs[0]).values_list("element_id", flat=True)
        ) == {folder.id, *(element.id for element in inside)}

    def test_a_failing_job_ends_the_run_in_error(
        self, runs, contributor, farm, django_capture_on_commit_callbacks
    ):
        process = runs[0].process
        start(
            contributor,
            process,
            django_capture_on_commit_callbacks,
            {"farm": str(farm.id)},
            execute=False,
        )
        # A chunk count no API accepts: the job's SQL divides by it and fails.
        Process.objects.filter(pk=process.pk).update(chunks=0)
        from process.jobs import create_activities

        create_activities(str(process.pk), 0)
        process.refresh_from_db()
        assert process.activity_state == "error"
        assert process.state == "error"
        assert set(Task.objects.filter(process=process).values_list("state", flat=True)) == {
            "error"
        }
        assert not WorkerActivity.objects.exists()

    def test_the_job_run_twice_changes_nothing(self, started):
        from process.jobs import create_activities

        before = list(WorkerActivity.objects.order_by("id").values_list("id", "state", "chunk"))
        create_activities(str(started.pk), 0)
        assert (
            list(WorkerActivity.objects.order_by("id").values_list("id", "state", "chunk"))
            == before
        )


class TestClaim:
    def test_a_task_claims_the_elements_of_its_chunk_once_each(self, started, runs, agent):
        task = running(task_of(started, runs[0], 2), agent)
        chunk = set(
            WorkerActivity.objects.filter(worker_run=runs[0], chunk=2).values_list(
                "element_id", flat=True
            )
        )
        claimed = []
        while True:
            response = task_client(task).post(START_URL)
            if response.status_code == 404:
                break
            assert response.status_code == 200
            claimed.append(response.json()["id"])
        assert len(claimed) == len(set(claimed)) == len(chunk)
        assert set(claimed) == {str(pk) for pk in chunk}
        assert states(worker_run=runs[0], chunk=2) == {"started": len(chunk)}
        # Other chunks and runs are untouched.
        assert states(worker_run=runs[1]) == {"queued": 10}

    def test_a_claim_takes_a_constant_number_of_queries(
        self, started, runs, agent, django_assert_num_queries
    ):
        task = running(task_of(started, runs[0], 1), agent)
        # The token with its task and process; the claim (one UPDATE).
        with django_assert_num_queries(2):
            assert task_client(task).post(START_URL).status_code == 200

    def test_a_claim_does_not_move_the_process_revision(self, started, runs, agent):
        task = running(task_of(started, runs[0], 1), agent)
        revision = Process.objects.get(pk=started.pk).revision
        task_client(task).post(START_URL)
        assert Process.objects.get(pk=started.pk).revision == revision

    def test_users_and_agents_cannot_claim(self, started, contributor, agent):
        assert_error(client_for(contributor).post(START_URL), 403)
        assert_error(agent_client(agent).post(START_URL), 403)
        assert not WorkerActivity.objects.exclude(state="queued").exists()

    def test_a_process_without_activities_is_a_400(self, running_task):
        errors = assert_error(task_client(running_task).post(START_URL), 400)
        assert errors[0]["code"] == "no_worker_run"

    def test_claims_on_sqlite_and_postgresql_never_give_an_element_twice(
        self, started, runs, agent
    ):
        # The claim itself, called as the view calls it, until the chunk is empty.
        task = running(task_of(started, runs[0], 1), agent)
        seen = []
        while (element := claim_activity(task)) is not None:
            seen.append(element)
        assert (
            len(seen)
            == len(set(seen))
            == WorkerActivity.objects.filter(worker_run=runs[0], chunk=1).count()
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_give_each_element_once(corpus, contributor, farm, agent, page_type):
    """Eight threads claim from one chunk at once (PostgreSQL: SKIP LOCKED; SQLite: the
    conditional UPDATE): every element is claimed exactly once."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        # The in-memory SQLite test database is shared between threads with table locks
        # that fail at once; the end-to-end test claims concurrently on a SQLite file.
        pytest.skip("needs PostgreSQL")

    process = Process.objects.create(
        mode="workers",
        corpus=corpus,
        creator=contributor,
        farm=farm,
        activity_state="ready",
        last_run=0,
    )
    worker_run = add_worker_run(process, slug="solo")
    create_elements(corpus=corpus, type=page_type, names=[f"e{i}" for i in range(120)])
    from process.activities import insert_activities

    insert_activities(process, [worker_run.pk], timezone.now())
    task = Task.objects.create(
        process=process, run=0, slug="solo", worker_run=worker_run, state=State.RUNNING, agent=agent
    )
    claimed, errors = [], []

    def claimer():
        try:
            while (element := claim_activity(task)) is not None:
                claimed.append(element)
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claimed) == len(set(claimed)) == 120
    assert states(worker_run=worker_run) == {"started": 120}


def test_a_claim_reads_one_row_whatever_the_statistics(corpus, contributor, farm, page_type):
    """The claim's plan on PostgreSQL when the statistics say no activity is queued (taken
    before a start or a retry queued them all, as until autovacuum analyzes the table):
    the next activity through activity_queue, then that row by its primary key, never a
    walk through the whole activity_queue index (which grows with the table)."""
    from django.db import connection

    from process.activities import claim_sql, insert_activities

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    process = Process.objects.create(
        mode="workers", corpus=corpus, creator=contributor, farm=farm, last_run=0
    )
    worker_runs = [add_worker_run(process, slug=f"run{n}") for n in range(3)]
    create_elements(corpus=corpus, type=page_type, names=[f"e{i}" for i in range(3000)])
    insert_activities(process, [run.pk for run in worker_runs], timezone.now())
    WorkerActivity.objects.update(state="started")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE process_workeractivity")
        WorkerActivity.objects.update(state="queued")
        cursor.execute(
            "EXPLAIN (FORMAT JSON) " + claim_sql(), [timezone.now(), worker_runs[0].pk, 1]
        )
        plan = cursor.fetchone()[0][0]["Plan"]

    def scans(node):
        found = [(node.get("Parent Relationship"), node.get("Index Name"), node["Node Type"])]
        for child in node.get("Plans", []):
            found += scans(child)
        return found

    found = [scan for scan in scans(plan) if scan[1] or "Scan" in scan[2]]
    # The outer row by the primary key; the subquery (InitPlan) alone uses activity_queue.
    assert ("Outer", "process_workeractivity_pkey", "Index Scan") in found, found
    assert [scan[1] for scan in found].count("activity_queue") == 1, found


class TestReport:
    @pytest.fixture
    def claimed(self, started, runs, agent):
        task = running(task_of(started, runs[0], 1), agent)
        element_id = task_client(task).post(START_URL).json()["id"]
        return task, element_id

    def put(self, task, worker_run, element_id, state, process_id=None):
        return task_client(task).put(
            report_url(worker_run),
            {
                "element_id": element_id,
                "process_id": str(process_id or task.process_id),
                "state": state,
            },
            format="json",
        )

    def activity_state(self, worker_run, element_id):
        return WorkerActivity.objects.get(worker_run=worker_run, element_id=element_id).state

    def test_processed_then_the_same_again(self, claimed, runs):
        task, element_id = claimed
        for _ in range(2):
            response = self.put(task, runs[0], element_id, "processed")
            assert response.status_code == 200
            assert response.json() == {
                "element_id": element_id,
                "process_id": str(task.process_id),
                "state": "processed",
            }
        assert self.activity_state(runs[0], element_id) == "processed"

    def test_a_forbidden_transition_is_a_409(self, claimed, runs):
        task, element_id = claimed
        self.put(task, runs[0], element_id, "error")
        errors = assert_error(self.put(task, runs[0], element_id, "processed"), 409)
        assert "cannot change any more" in errors[0]["detail"]
        assert self.activity_state(runs[0], element_id) == "error"
        # base-worker reads a 409 on `started` as "already processed: skip".
        assert_error(self.put(task, runs[0], element_id, "started"), 409)

    def test_an_unclaimed_element_cannot_be_processed(self, claimed, runs, started):
        task, element_id = claimed
        other = WorkerActivity.objects.filter(worker_run=runs[0], chunk=1, state="queued").first()
        assert_error(self.put(task, runs[0], str(other.element_id), "processed"), 409)
        assert self.activity_state(runs[0], other.element_id) == "queued"

    def test_unknown_elements_other_runs_and_processes(self, claimed, runs, pages):
        task, element_id = claimed
        unknown = create_element(corpus=pages[0].corpus, type=pages[0].type, name="late")
        assert_error(self.put(task, runs[0], str(unknown.id), "processed"), 404)
        assert_error(self.put(task, runs[1], element_id, "processed"), 403)
        response = self.put(task, runs[0], element_id, "processed", process_id=runs[0].id)
        assert_error(response, 400, attr=["process_id"])
        assert_error(self.put(task, runs[0], element_id, "queued"), 400, attr=["state"])
        assert self.activity_state(runs[0], element_id) == "started"

    def test_users_cannot_report(self, claimed, runs, contributor):
        task, element_id = claimed
        response = client_for(contributor).put(
            report_url(runs[0]),
            {"element_id": element_id, "process_id": str(task.process_id), "state": "processed"},
            format="json",
        )
        assert_error(response, 403)

    def test_a_finished_task_leaves_no_activity_started(self, claimed, runs, agent):
        task, element_id = claimed
        second = task_client(task).post(START_URL).json()["id"]
        self.put(task, runs[0], element_id, "processed")
        response = agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "failed"})
        assert response.status_code == 200
        assert self.activity_state(runs[0], element_id) == "processed"
        assert self.activity_state(runs[0], second) == "error"
        # The other chunks' queued activities are untouched.
        assert states(worker_run=runs[0], chunk=2) == states(
            worker_run=runs[0], chunk=2, state="queued"
        )


class TestRetry:
    def finish(self, process, runs, agent, outcomes):
        """Run every chunk of the first run: `outcomes(element_index)` says processed/error."""
        names = dict(WorkerActivity.objects.values_list("element_id", "element__name"))
        for chunk in (1, 2, 3):
            task = running(task_of(process, runs[0], chunk), agent)
            while (element := claim_activity(task)) is not None:
                WorkerActivity.objects.filter(worker_run=runs[0], element_id=element).update(
                    state=outcomes(names[element])
                )
        Task.objects.filter(process=process).update(state=State.FAILED)
        refresh_process(process.pk)

    def test_a_retry_queues_again_only_what_was_not_processed(
        self, started, runs, agent, contributor, django_capture_on_commit_callbacks
    ):
        failing = {"p1", "p4", "p7"}
        self.finish(started, runs, agent, lambda name: "error" if name in failing else "processed")
        assert retry(contributor, started, django_capture_on_commit_callbacks)[
            "activity_state"
        ] == ("pending")
        started.refresh_from_db()
        assert started.activity_state == "ready"
        queued = WorkerActivity.objects.filter(worker_run=runs[0], state="queued")
        assert set(queued.values_list("element__name", flat=True)) == failing
        assert states(worker_run=runs[0]) == {"processed": 7, "queued": 3}
        # Three elements left for three chunks: one each, so that no chunk starts empty;
        # the child run's activities of an element follow it to the same chunk.
        assert sorted(queued.values_list("chunk", flat=True)) == [1, 2, 3]
        for element_id, chunk in queued.values_list("element_id", "chunk"):
            assert (
                WorkerActivity.objects.get(worker_run=runs[1], element_id=element_id).chunk == chunk
            )
        assert set(
            Task.objects.filter(process=started, run=1, worker_run=runs[0]).values_list(
                "state", flat=True
            )
        ) == {"pending"}

    def test_a_restarted_task_gets_the_errors_of_its_chunk_back(
        self, started, runs, agent, contributor
    ):
        task = running(task_of(started, runs[0], 1), agent)
        element = claim_activity(task)
        WorkerActivity.objects.filter(worker_run=runs[0], element_id=element).update(state="error")
        agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "failed"})
        response = client_for(contributor).post(f"/api/v1/task/{task.id}/restart/")
        assert response.status_code in (200, 201), response.json()
        assert WorkerActivity.objects.get(worker_run=runs[0], element_id=element).state == "queued"


def restart(user, task):
    response = client_for(user).post(f"/api/v1/task/{task.id}/restart/")
    assert response.status_code in (200, 201), response.json()
    return Task.objects.get(pk=response.json()["id"])


def chunks_of(worker_run, element_ids):
    return dict(
        WorkerActivity.objects.filter(
            worker_run=worker_run, element_id__in=element_ids
        ).values_list("element_id", "chunk")
    )


class TestRestartShares:
    """A restarted task whose chunk has nothing left takes a share of the run's other chunks."""

    def fail_after_processing(self, process, worker_run, chunk, agent):
        task = running(task_of(process, worker_run, chunk), agent)
        while (element := claim_activity(task)) is not None:
            WorkerActivity.objects.filter(worker_run=worker_run, element_id=element).update(
                state="processed"
            )
        agent_client(agent).patch(f"/api/v1/task/{task.id}/", {"state": "failed"})
        return task

    def test_an_empty_chunk_takes_its_share_with_the_child_runs_activities(
        self, started, runs, agent, contributor
    ):
        first, second = runs
        task = self.fail_after_processing(started, first, 1, agent)
        queued = WorkerActivity.objects.filter(worker_run=first, state="queued")
        before = dict(queued.values_list("element_id", "chunk"))
        assert set(before.values()) == {2, 3}

        new = restart(contributor, task)

        moved = {
            element for element, chunk in queued.values_list("element_id", "chunk") if chunk == 1
        }
        # Its share: the run's queued elements over its 3 chunks
        assert len(moved) == len(before) // 3 >= 1
        assert chunks_of(second, moved) == dict.fromkeys(moved, 1)
        assert states(worker_run=second, element_id__in=moved) == {"queued": len(moved)}
        # The others stay where they were, for both runs
        rest = set(before) - moved
        assert chunks_of(first, rest) == {element: before[element] for element in rest}
        assert chunks_of(second, rest) == {element: before[element] for element in rest}
        # The new task starts on one of them
        assert claim_activity(running(new, agent)) in moved

    def test_a_child_run_takes_only_what_its_parent_run_processed(
        self, started, runs, agent, contributor
    ):
        first, second = runs
        for chunk in (1, 2):
            self.fail_after_processing(started, first, chunk, agent)
        Task.objects.filter(process=started, worker_run=first, chunk__in=[1, 2]).update(
            state=State.COMPLETED
        )
        task = self.fail_after_processing(started, second, 1, agent)
        unprocessed_by_parent = set(
            WorkerActivity.objects.filter(worker_run=first, chunk=3).values_list(
                "element_id", flat=True
            )
        )

        restart(contributor, task)

        moved = set(
            WorkerActivity.objects.filter(worker_run=second, chunk=1, state="queued").values_list(
                "element_id", flat=True
            )
        )
        assert moved
        assert not moved & unprocessed_by_parent
        assert states(worker_run=first, element_id__in=moved) == {"processed": len(moved)}

    def test_nothing_left_anywhere_moves_nothing(self, started, runs, agent, contributor):
        first, _second = runs
        for chunk in (2, 3, 1):
            task = self.fail_after_processing(started, first, chunk, agent)
        chunks = dict(WorkerActivity.objects.values_list("id", "chunk"))

        restart(contributor, task)

        assert dict(WorkerActivity.objects.values_list("id", "chunk")) == chunks
        assert states(worker_run=first) == {"processed": 10}


class TestCounts:
    def test_counts_by_run_and_state(self, started, runs, agent, guest):
        task = running(task_of(started, runs[0], 1), agent)
        claim_activity(task)
        response = client_for(guest).get(counts_url(started))
        assert response.status_code == 200
        assert response.json() == {
            "activity_state": "ready",
            "worker_runs": [
                {
                    "worker_run_id": str(runs[0].id),
                    "queued": 9,
                    "started": 1,
                    "processed": 0,
                    "error": 0,
                },
                {
                    "worker_run_id": str(runs[1].id),
                    "queued": 10,
                    "started": 0,
                    "processed": 0,
                    "error": 0,
                },
            ],
        }

    def test_the_etag_changes_with_a_claim_only(self, started, runs, agent, guest):
        client = client_for(guest)
        etag = client.get(counts_url(started))["ETag"]
        assert client.get(counts_url(started), HTTP_IF_NONE_MATCH=etag).status_code == 304
        claim_activity(running(task_of(started, runs[0], 1), agent))
        response = client.get(counts_url(started), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200 and response["ETag"] != etag

    def test_a_constant_number_of_queries(
        self, started, runs, guest, corpus, page_type, django_assert_num_queries
    ):
        # The token; the process under the rights filter; the counts; the worker runs.
        with django_assert_num_queries(4):
            client_for(guest).get(counts_url(started))
        more = create_elements(corpus=corpus, type=page_type, names=["x"] * 50)
        from process.activities import insert_activities

        insert_activities(started, [runs[0].pk, runs[1].pk], timezone.now())
        with django_assert_num_queries(4):
            body = client_for(guest).get(counts_url(started)).json()
        assert body["worker_runs"][0]["queued"] == 10 + len(more)

    def test_strangers_get_a_404(self, started, outsider):
        assert_error(client_for(outsider).get(counts_url(started)), 404)


class TestWhatSurvives:
    def test_cleanup_keeps_activities_and_results(self, started, runs, pages):
        Transcription.objects.create(element=pages[0], text="kept", worker_run=runs[0])
        Task.objects.filter(process=started).update(
            state=State.COMPLETED, expiry=timezone.now() - timedelta(days=1)
        )
        refresh_process(started.pk)
        report = cleanup()
        assert report.tasks == 6
        assert not Task.objects.filter(process=started).exists()
        assert WorkerActivity.objects.filter(process=started).count() == 20
        assert Transcription.objects.filter(text="kept", worker_run=runs[0]).exists()

    def test_deleting_a_worker_run_or_a_process_keeps_the_results(
        self, started, runs, pages, contributor
    ):
        Task.objects.filter(process=started).update(state=State.COMPLETED)
        kept = Transcription.objects.create(element=pages[0], text="kept", worker_run=runs[1])
        response = client_for(contributor).delete(f"/api/v1/process/workers/{runs[1].id}/")
        assert response.status_code == 204
        kept.refresh_from_db()
        assert kept.worker_run_id is None and kept.text == "kept"
        assert not WorkerActivity.objects.filter(worker_run_id=runs[1].id).exists()

        other = Transcription.objects.create(element=pages[1], text="also kept", worker_run=runs[0])
        assert client_for(contributor).delete(f"/api/v1/process/{started.id}/").status_code == 204
        other.refresh_from_db()
        assert other.worker_run_id is None
        assert not WorkerActivity.objects.exists()
        assert not WorkerRun.objects.filter(pk=runs[0].pk).exists()
