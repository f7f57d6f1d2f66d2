"""The run builder of SPEC §7, shared by StartProcess and RetryProcess."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from ponos.models import State, Task
from process.builder import retry_process, start_process
from process.models import GPUUsage, ProcessMode, VersionState
from tests.factories import ProcessFactory, WorkerFactory
from tests.process.helpers import add_worker_run, finish_run, parent_slugs, tasks_by_slug

pytestmark = pytest.mark.django_db


@pytest.fixture
def workers_process(corpus, contributor):
    return ProcessFactory(corpus=corpus, creator=contributor, mode=ProcessMode.WORKERS)


@pytest.fixture
def dag(workers_process):
    """init → (ocr, ocr again with another configuration) → export"""
    init = add_worker_run(workers_process, slug="init")
    ocr = WorkerFactory(slug="ocr")
    first = add_worker_run(workers_process, ocr, parents=[init], configuration={"lang": "fr"})
    second = add_worker_run(workers_process, ocr, parents=[init], configuration={"lang": "en"})
    export = add_worker_run(workers_process, slug="export", parents=[first, second])
    return {"init": init, "ocr": first, "ocr_2": second, "export": export}


def refuse_message(error):
    return str(error.value.detail[0])


def test_one_chunk_gives_one_task_per_worker_run_with_worker_slugs(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm)

    tasks = tasks_by_slug(workers_process)
    assert set(tasks) == {"init", "ocr", "ocr_2", "export"}
    assert parent_slugs(tasks["export"]) == ["ocr", "ocr_2"]
    assert parent_slugs(tasks["ocr"]) == parent_slugs(tasks["ocr_2"]) == ["init"]
    assert {slug: task.depth for slug, task in tasks.items()} == {
        "init": 0,
        "ocr": 1,
        "ocr_2": 1,
        "export": 2,
    }
    assert {slug: task.worker_run_id for slug, task in tasks.items()} == {
        slug: run.id for slug, run in dag.items()
    }


def test_chunks_multiply_the_dag_and_keep_parents_within_their_chunk(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm, chunks=3)

    tasks = tasks_by_slug(workers_process)
    assert len(tasks) == 12
    for chunk in (1, 2, 3):
        assert parent_slugs(tasks[f"init_{chunk}"]) == []
        assert parent_slugs(tasks[f"ocr_{chunk}"]) == [f"init_{chunk}"]
        # The repeated worker is numbered first, then the chunk.
        assert parent_slugs(tasks[f"ocr_2_{chunk}"]) == [f"init_{chunk}"]
        assert parent_slugs(tasks[f"export_{chunk}"]) == sorted([f"ocr_{chunk}", f"ocr_2_{chunk}"])
        assert tasks[f"export_{chunk}"].depth == 2
        assert {tasks[f"{worker}_{chunk}"].chunk for worker in ("init", "ocr", "ocr_2")} == {chunk}
    workers_process.refresh_from_db()
    assert workers_process.chunks == 3


def test_an_unchunked_run_stores_no_chunk(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm)

    assert {task.chunk for task in tasks_by_slug(workers_process).values()} == {None}


def test_a_worker_appearing_three_times_is_numbered_in_creation_order(workers_process, farm):
    worker = WorkerFactory(slug="reco")
    runs = [add_worker_run(workers_process, worker, configuration={"n": n}) for n in range(3)]

    start_process(workers_process.pk, farm=farm, chunks=2)

    tasks = tasks_by_slug(workers_process)
    assert {slug: task.worker_run_id for slug, task in tasks.items()} == {
        "reco_1": runs[0].id,
        "reco_2": runs[0].id,
        "reco_2_1": runs[1].id,
        "reco_2_2": runs[1].id,
        "reco_3_1": runs[2].id,
        "reco_3_2": runs[2].id,
    }


def test_tasks_carry_the_version_image_command_and_the_run_settings(
    workers_process, dag, farm, settings
):
    settings.PONOS_DEFAULT_TTL = 3600
    settings.PONOS_TASK_EXPIRY_DAYS = 7
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        start_process(workers_process.pk, farm=farm)

    tasks = tasks_by_slug(workers_process)
    init = tasks["init"]
    assert init.image == dag["init"].version.docker_image
    assert init.command == dag["init"].version.command
    assert init.run == 0
    assert init.priority == 10
    assert init.ttl == 3600
    assert init.expiry == now + timedelta(days=7)
    # The stored env is the task's own only: configuration, ids and tokens come at read time.
    assert all(task.env == {} for task in tasks.values())
    assert len({task.token for task in tasks.values()}) == 4


def test_parentless_tasks_are_pending_and_the_others_unscheduled(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm, chunks=2)

    states = {slug: task.state for slug, task in tasks_by_slug(workers_process).items()}
    assert {slug for slug, state in states.items() if state == State.PENDING} == {
        "init_1",
        "init_2",
    }
    assert all(state == State.UNSCHEDULED for slug, state in states.items() if "init" not in slug)
    workers_process.refresh_from_db()
    assert workers_process.state == State.PENDING
    assert workers_process.finished is None


@pytest.mark.parametrize(
    ("gpu_usage", "use_gpu", "expected"),
    [
        (GPUUsage.DISABLED, False, False),
        (GPUUsage.DISABLED, True, False),
        (GPUUsage.SUPPORTED, False, False),
        (GPUUsage.SUPPORTED, True, True),
        (GPUUsage.REQUIRED, False, True),
        (GPUUsage.REQUIRED, True, True),
    ],
)
def test_gpu_rules(workers_process, farm, gpu_usage, use_gpu, expected):
    add_worker_run(workers_process, slug="gpu-worker", gpu_usage=gpu_usage)

    start_process(workers_process.pk, farm=farm, use_gpu=use_gpu)

    assert tasks_by_slug(workers_process)["gpu-worker"].requires_gpu is expected


def test_repository_mode_builds_one_import_task(contributor, farm, settings):
    settings.PONOS_IMPORT_IMAGE = "registry.example.com/importer:2"
    settings.PONOS_IMPORT_COMMAND = "python3 -m process.importer --verbose"
    process = ProcessFactory(
        creator=contributor,
        mode=ProcessMode.REPOSITORY,
        repository_url="https://git.example.com/repo",
        chunks=4,
    )

    start_process(process.pk, farm=farm)

    [task] = Task.objects.filter(process=process)
    assert task.slug == "import"
    assert task.image == "registry.example.com/importer:2"
    assert task.command == "python3 -m process.importer --verbose"
    assert task.state == State.PENDING
    assert task.worker_run_id is None
    assert task.env == {}


def test_start_and_retry_give_the_same_tasks(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm, chunks=2)
    finish_run(workers_process, State.FAILED)

    retry_process(workers_process.pk, farm=farm)

    def shape(run):
        return {
            slug: (task.depth, task.requires_gpu, task.worker_run_id, parent_slugs(task))
            for slug, task in tasks_by_slug(workers_process, run=run).items()
        }

    assert shape(0) == shape(1)


def test_retry_after_cleanup_removed_every_task_builds_the_next_run(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm)
    finish_run(workers_process, State.COMPLETED)
    Task.objects.filter(process=workers_process).delete()

    retry_process(workers_process.pk, farm=farm)

    workers_process.refresh_from_db()
    assert workers_process.last_run == 1
    assert set(Task.objects.filter(process=workers_process).values_list("run", flat=True)) == {1}
    assert workers_process.state == State.PENDING


def test_two_retries_make_runs_one_and_two(workers_process, dag, farm):
    start_process(workers_process.pk, farm=farm)
    finish_run(workers_process, State.FAILED)
    retry_process(workers_process.pk, farm=farm)
    finish_run(workers_process, State.COMPLETED)
    retry_process(workers_process.pk, farm=farm)

    runs = Task.objects.filter(process=workers_process).values_list("run", flat=True)
    assert sorted(set(runs)) == [0, 1, 2]
    workers_process.refresh_from_db()
    assert workers_process.last_run == 2


def test_start_and_retry_stamp_started_and_clear_finished(workers_process, dag, farm, other_farm):
    start_time = timezone.now()
    with time_machine.travel(start_time, tick=False):
        start_process(workers_process.pk, farm=farm)
    finish_run(workers_process, State.COMPLETED)
    workers_process.refresh_from_db()
    assert workers_process.started == start_time
    assert workers_process.finished is not None

    retry_time = start_time + timedelta(hours=1)
    with time_machine.travel(retry_time, tick=False):
        retry_process(workers_process.pk, farm=other_farm)

    workers_process.refresh_from_db()
    assert workers_process.started == retry_time
    assert workers_process.finished is None
    assert workers_process.farm == other_farm


def test_the_builder_makes_a_constant_number_of_queries(
    workers_process, farm, django_assert_num_queries
):
    worker_runs = []
    for index in range(20):
        worker_runs.append(add_worker_run(workers_process, parents=worker_runs[-2:]))
        assert index == len(worker_runs) - 1

    # 1 SAVEPOINT, 2 SELECT … FOR UPDATE the process, 3 worker runs with versions and
    # workers, 4 worker-run parents, 5 INSERT the 200 tasks, 6 INSERT their parent links,
    # 7 UPDATE the process; refresh_process: 8 SAVEPOINT, 9 lock the process again,
    # 10 the states of the run, 11 UPDATE the summary, 12 RELEASE; 13 RELEASE SAVEPOINT.
    # SQLite binds at most 999 parameters per statement: Django splits the 200 tasks into
    # 5 INSERTs and their 370 parent links into 2, whatever else the process holds.
    expected = 13 if connection.vendor == "postgresql" else 18
    with django_assert_num_queries(expected):
        start_process(workers_process.pk, farm=farm, chunks=10)

    assert Task.objects.filter(process=workers_process).count() == 200


class TestRefusals:
    def test_a_started_process_is_not_started_again(self, workers_process, dag, farm):
        start_process(workers_process.pk, farm=farm)
        with pytest.raises(ValidationError) as error:
            start_process(workers_process.pk, farm=farm)
        assert "already been started: use RetryProcess" in refuse_message(error)

    @pytest.mark.parametrize("mode", [ProcessMode.TEMPLATE, ProcessMode.LOCAL])
    def test_template_and_local_processes_never_run(self, contributor, farm, mode):
        process = ProcessFactory(creator=contributor, mode=mode)
        with pytest.raises(ValidationError) as error:
            start_process(process.pk, farm=farm)
        assert f"A {mode} process holds a configuration and never runs" in refuse_message(error)

    def test_a_workers_process_needs_worker_runs(self, workers_process, farm):
        with pytest.raises(ValidationError) as error:
            start_process(workers_process.pk, farm=farm)
        assert "no worker runs: add at least one" in refuse_message(error)

    @pytest.mark.parametrize("state", [VersionState.CREATED, VersionState.ERROR])
    def test_every_version_must_be_available(self, workers_process, farm, state):
        add_worker_run(workers_process, slug="ready")
        add_worker_run(workers_process, slug="broken", state=state)
        with pytest.raises(ValidationError) as error:
            start_process(workers_process.pk, farm=farm)
        assert "these are not: broken version " in refuse_message(error)
        assert f"({state})" in refuse_message(error)
        assert not Task.objects.filter(process=workers_process).exists()

    def test_a_process_that_never_started_cannot_be_retried(self, workers_process, dag, farm):
        with pytest.raises(ValidationError) as error:
            retry_process(workers_process.pk, farm=farm)
        assert "not been started yet: use StartProcess" in refuse_message(error)

    def test_an_active_process_cannot_be_retried(self, workers_process, dag, farm):
        start_process(workers_process.pk, farm=farm)
        with pytest.raises(ValidationError) as error:
            retry_process(workers_process.pk, farm=farm)
        assert "This process is still active (pending)" in refuse_message(error)
        assert Task.objects.filter(process=workers_process, run=1).count() == 0

    def test_a_failed_task_beside_a_pending_one_is_still_active(self, workers_process, farm):
        add_worker_run(workers_process, slug="a")
        add_worker_run(workers_process, slug="b")
        start_process(workers_process.pk, farm=farm)
        Task.objects.filter(process=workers_process, slug="a").update(state=State.FAILED)
        with pytest.raises(ValidationError) as error:
            retry_process(workers_process.pk, farm=farm)
        assert "still active" in refuse_message(error)

    def test_clashing_slugs_are_refused(self, workers_process, farm):
        ocr = WorkerFactory(slug="ocr")
        add_worker_run(workers_process, ocr, configuration={"a": 1})
        add_worker_run(workers_process, ocr, configuration={"a": 2})
        add_worker_run(workers_process, slug="ocr_2")
        with pytest.raises(ValidationError) as error:
            start_process(workers_process.pk, farm=farm)
        assert "Two tasks would get the slug ocr_2" in refuse_message(error)


def run_in_threads(count, target):
    """Run `target()` in `count` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as error:
            results[index] = error
        finally:
            # Each thread has its own database connection: close it before the test ends.
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_make_one_run(corpus, contributor, farm):
    process = ProcessFactory(corpus=corpus, creator=contributor)
    add_worker_run(process, slug="first")
    add_worker_run(process, slug="second")

    results = run_in_threads(2, lambda: start_process(process.pk, farm=farm))

    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], ValidationError)
    assert "already been started" in str(errors[0].detail[0])
    assert list(Task.objects.filter(process=process).values_list("run", flat=True)) == [0, 0]
    process.refresh_from_db()
    assert process.last_run == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_retries_make_one_run(corpus, contributor, farm):
    process = ProcessFactory(corpus=corpus, creator=contributor)
    add_worker_run(process, slug="only")
    start_process(process.pk, farm=farm)
    finish_run(process, State.FAILED)

    results = run_in_threads(2, lambda: retry_process(process.pk, farm=farm))

    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1, results
    assert "still active" in str(errors[0].detail[0])
    assert sorted(Task.objects.filter(process=process).values_list("run", flat=True)) == [0, 1]
