"""The process list: exactly what ListProcesses shows the caller, with its filters, in a
number of queries that does not depend on the number of processes."""

import re

import pytest
from django.utils import timezone

from ponos.models import State
from tests.factories import CorpusFactory, ProcessFactory
from tests.pages.conftest import assert_error_page, page_client, text
from tests.process.helpers import make_run

pytestmark = pytest.mark.django_db


def listed(response):
    """The ids of the processes of the page's table, in order."""
    return re.findall(r'<tr data-process="([0-9a-f-]+)"', response.content.decode())


def test_a_guest_of_the_corpus_sees_its_processes_with_their_columns(guest, process, farm):
    process.state = State.FAILED
    process.started = timezone.now()
    process.save()
    response = page_client(guest).get("/ui/")
    assert response.status_code == 200
    assert listed(response) == [str(process.id)]
    body = text(response)
    for column in ["Name", "Mode", "Corpus", "State", "Progress", "Farm", "Creator", "Started",
                   "Finished", "Duration"]:  # fmt: skip
        assert column in body
    row = body[body.index("Main process") :]
    assert row.startswith("Main process workers Private corpus failed — Main farm Cecil")
    assert " UTC" in row
    assert 'class="state state-failed"' in response.content.decode()
    # The script refreshing the rows asks for the same page of rows.
    assert 'data-refresh-list="/ui/processes/rows/"' in response.content.decode()


def test_an_outsider_sees_no_process(outsider, process):
    response = page_client(outsider).get("/ui/")
    assert response.status_code == 200
    assert listed(response) == []
    assert "No process." in text(response)
    assert "Main process" not in text(response)


def test_the_list_shows_what_the_api_lists_in_the_same_order(guest, contributor, corpus):
    public = CorpusFactory(name="Public corpus", public=True)
    mine = ProcessFactory(corpus=None, creator=guest, mode="repository", name="Guest's own")
    others = [ProcessFactory(corpus=corpus, creator=contributor) for _ in range(3)]
    open_ = ProcessFactory(corpus=public, creator=contributor, name="Open")
    ProcessFactory(corpus=CorpusFactory(), creator=contributor, name="Hidden")
    client = page_client(guest)
    api = client.get("/api/v1/process/").json()
    assert listed(client.get("/ui/")) == [item["id"] for item in api["results"]]
    assert set(listed(client.get("/ui/"))) == {str(p.id) for p in [mine, open_, *others]}


def test_filters_are_those_of_list_processes(guest, contributor, corpus):
    running = ProcessFactory(corpus=corpus, creator=contributor, name="OCR run", state="running")
    ProcessFactory(corpus=corpus, creator=contributor, name="Other", state="completed")
    template = ProcessFactory(
        corpus=corpus, creator=contributor, name="ocr template", mode="template"
    )
    mine = ProcessFactory(corpus=corpus, creator=guest, name="Mine")
    client = page_client(guest)
    assert listed(client.get("/ui/?state=running")) == [str(running.id)]
    assert listed(client.get("/ui/?name=OCR")) == [str(template.id), str(running.id)]
    assert listed(client.get("/ui/?mode=template")) == [str(template.id)]
    assert listed(client.get("/ui/?created=true")) == [str(mine.id)]
    assert listed(client.get("/ui/?name=ocr&state=running")) == [str(running.id)]
    # The form keeps the chosen filters.
    page = client.get("/ui/?state=running&created=true").content.decode()
    assert '<option value="running" selected>' in page
    assert 'name="created" value="true" checked' in page


def test_unknown_filter_values_are_a_400_saying_what_is_wrong(guest, process):
    client = page_client(guest)
    response = client.get("/ui/?state=sleeping&created=maybe")
    assert response.status_code == 400
    body = text(response)
    assert "state: Select a valid choice. sleeping is not one of the available choices." in body
    assert "created:" in body
    assert listed(response) == []


def test_pages_of_twenty_processes(guest, contributor, corpus):
    processes = [ProcessFactory(corpus=corpus, creator=contributor) for _ in range(45)]
    newest_first = [str(p.id) for p in sorted(processes, key=lambda p: (p.created, p.id))][::-1]
    client = page_client(guest)
    first = client.get("/ui/?name=Process")
    assert listed(first) == newest_first[:20]
    assert "45 processes." in text(first)
    assert listed(client.get("/ui/processes/rows/?name=Process")) == newest_first[:20]
    assert 'href="?name=Process&amp;page=2"' in first.content.decode()
    assert listed(client.get("/ui/?name=Process&page=3")) == newest_first[40:]
    for page in ["4", "0", "x", "99999999999999999999999"]:
        assert_error_page(client.get(f"/ui/?page={page}"), 404, "pages go from 1 to 3")


@pytest.mark.parametrize("count", [3, 40])
def test_the_list_takes_five_queries_whatever_the_number_of_processes(
    count, guest, contributor, corpus, farm, django_assert_num_queries
):
    for index in range(count):
        process = ProcessFactory(corpus=corpus, creator=contributor, farm=farm)
        make_run(process, **{f"t{i}": State.COMPLETED for i in range(index % 3)})
    client = page_client(guest)
    # The session, the user, the count, the page with its farms, creators and corpora, the
    # progress of the last runs of the page's processes.
    with django_assert_num_queries(5):
        response = client.get("/ui/")
    assert len(listed(response)) == min(count, 20)
    # The rows the script refreshes: the same queries, and while nothing changed, a 304.
    with django_assert_num_queries(5):
        rows = client.get("/ui/processes/rows/")
    assert len(listed(rows)) == min(count, 20)
    with django_assert_num_queries(5):
        again = client.get("/ui/processes/rows/", HTTP_IF_NONE_MATCH=rows["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_the_list_shows_the_progress_of_the_last_run(guest, process):
    make_run(process, a=State.COMPLETED, b=State.FAILED, c=State.RUNNING, d=State.PENDING)
    make_run(process, run=1, **{f"t{i}": State.COMPLETED for i in range(1200)}, e=State.ERROR)
    response = page_client(guest).get("/ui/")
    assert "error 1,200/1,201 done, 1 failed" in text(response)


def test_the_rows_show_a_new_process_and_a_changed_state(guest, contributor, corpus, process):
    client = page_client(guest)
    first = client.get("/ui/processes/rows/")
    assert listed(first) == [str(process.id)]
    assert first["Content-Security-Policy"].startswith("default-src 'self'")
    unchanged = client.get("/ui/processes/rows/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert unchanged.status_code == 304
    new = ProcessFactory(corpus=corpus, creator=contributor, name="Newcomer")
    second = client.get("/ui/processes/rows/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert listed(second) == [str(new.id), str(process.id)]
    assert "Newcomer" in text(second)
    make_run(process, a=State.RUNNING)
    third = client.get("/ui/processes/rows/", HTTP_IF_NONE_MATCH=second["ETag"])
    assert third.status_code == 200 and "running 0/1 done" in text(third)


def test_the_rows_have_the_rights_and_the_filters_of_the_list(outsider, guest, process):
    assert listed(page_client(outsider).get("/ui/processes/rows/")) == []
    response = page_client().get("/ui/processes/rows/")
    assert response.status_code == 302
    bad = page_client(guest).get("/ui/processes/rows/?state=sleeping")
    assert bad.status_code == 400 and b"state:" in bad.content
