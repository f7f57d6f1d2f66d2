"""A real `ElementsWorker` of arkindex-base-worker 0.6.0 runs as the command of worker
versions, through the reference agent, against the API under gunicorn (PostgreSQL with S3,
and SQLite with the local storage).

base-worker helpers exercised for real: `ElementsWorker.run()` (its `configure()` reading
RetrieveWorkerRun and RetrieveWorkerRunConfiguration, its `WorkerActivityIterator` claiming
with StartWorkerActivity, `retrieve_element` through RetrieveElement, `update_activity`
through UpdateWorkerActivity) and `create_transcription` (CreateTranscription).
"""

import shlex
import uuid
from collections import Counter

import pytest

from tests.e2e import base_worker

ELEMENTS = 200
TIMEOUT = 300


@pytest.fixture(scope="module")
def reader(stack, tmp_path_factory):
    """A worker version running the base-worker script (one per stack)."""
    interpreter = base_worker.python()
    script = tmp_path_factory.mktemp("base-worker") / "reader.py"
    script.write_text(base_worker.SCRIPT)
    api = stack.api
    worker = api.post("workers/", {"name": "Reader", "slug": "reader-bw", "type": "recognizer"})
    command = f"{shlex.quote(str(interpreter))} {shlex.quote(str(script))}"
    version = api.post(
        f"workers/{worker['id']}/versions/", {"docker_image": "tests/reader:1", "command": command}
    )
    return version["id"]


def make_folder(stack, name, count):
    """A corpus with a folder of `count` pages, made through the document operations."""
    api = stack.api
    corpus = api.post("corpus/", {"name": name})["id"]
    for slug, folder in (("folder", True), ("page", False)):
        api.post(
            "elements/type/",
            {"corpus": corpus, "slug": slug, "display_name": slug.title(), "folder": folder},
        )
    folder = api.post("elements/create/", {"corpus": corpus, "type": "folder", "name": name})
    pages = {}
    for n in range(count):
        page = api.post(
            "elements/create/",
            {"corpus": corpus, "type": "page", "name": f"page {n:03}", "parent": folder["id"]},
        )
        pages[page["id"]] = page["name"]
    return corpus, folder["id"], pages


def transcriptions(stack, pages):
    """(element id, worker run id) of every transcription of these pages, with repeats."""
    rows = stack.db.rows("SELECT element_id, worker_run_id FROM documents_transcription")
    found = [(str(uuid.UUID(str(e))), str(uuid.UUID(str(w)))) for e, w in rows if w]
    return Counter(pair for pair in found if pair[0] in pages)


def create_process(stack, corpus, folder, runs, chunks):
    api = stack.api
    process = api.post(
        "process/",
        {
            "mode": "workers",
            "corpus": corpus,
            "name": "Base worker",
            "element": folder,
            "load_children": True,
            "element_type": "page",
            "chunks": chunks,
        },
    )
    worker_runs = []
    for version, parents, configuration in runs:
        body = {
            "version": version,
            "parents": [worker_runs[i] for i in parents],
            "configuration": configuration,
        }
        worker_runs.append(api.post(f"process/{process['id']}/workers/", body)["id"])
    return process["id"], worker_runs


def counts(stack, process_id):
    body = stack.api.get(f"process/{process_id}/activity-counts/")
    return {
        run["worker_run_id"]: {k: v for k, v in run.items() if k != "worker_run_id" and v}
        for run in body["worker_runs"]
    }


def test_two_runs_over_200_elements_in_3_chunks(stack, reader):
    corpus, folder, pages = make_folder(stack, "Two hundred pages", ELEMENTS)
    process_id, (first, second) = create_process(
        stack, corpus, folder, [(reader, [], {}), (reader, [0], {"second": True})], chunks=3
    )
    listed = stack.api.get(f"process/{process_id}/elements/", params={"page_size": 500})
    assert listed["count"] == ELEMENTS

    stack.api.post(f"process/{process_id}/start/", {}, expected=200)
    process = stack.wait_finished(process_id, timeout=TIMEOUT)

    assert process["state"] == "completed", stack.logs()
    assert process["activity_state"] == "ready"
    assert {task["state"] for task in process["tasks"]} == {"completed"}
    assert len(process["tasks"]) == 6
    assert counts(stack, process_id) == {
        first: {"processed": ELEMENTS},
        second: {"processed": ELEMENTS},
    }
    # A transcription per element and run: no element was claimed twice, none was missed.
    written = transcriptions(stack, pages)
    assert set(written.values()) == {1}
    assert set(written) == {(page, run) for page in pages for run in (first, second)}


def test_a_retry_processes_only_the_elements_that_failed(stack, reader, tmp_path):
    corpus, folder, pages = make_folder(stack, "Failing pages", 12)
    failing = ["page 002", "page 005", "page 009"]
    fixed = tmp_path / "fixed"
    process_id, (run,) = create_process(
        stack,
        corpus,
        folder,
        [(reader, [], {"fail_on": failing, "fixed_by": str(fixed)})],
        chunks=2,
    )
    stack.api.post(f"process/{process_id}/start/", {}, expected=200)
    process = stack.wait_finished(process_id, timeout=TIMEOUT)

    # base-worker exits 0 when some elements succeeded: the tasks complete.
    assert process["state"] == "completed", stack.logs()
    assert counts(stack, process_id) == {run: {"processed": 9, "error": 3}}
    written = transcriptions(stack, pages)
    assert sorted(pages[page] for page, _run in written) == sorted(
        name for name in pages.values() if name not in failing
    )

    fixed.touch()
    stack.api.post(f"process/{process_id}/retry/", {}, expected=200)
    process = stack.wait_finished(process_id, timeout=TIMEOUT)

    assert process["state"] == "completed", stack.logs()
    assert counts(stack, process_id) == {run: {"processed": 12}}
    # The retry wrote only the three missing transcriptions: none twice.
    written = transcriptions(stack, pages)
    assert set(written.values()) == {1}
    assert len(written) == 12
