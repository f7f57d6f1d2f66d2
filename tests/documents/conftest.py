"""The documents of the shared cast's private corpus: a folder type and a page type, a
worker run of Cecil's process, and a running task of that run."""

import pytest
from django.utils import timezone

from arkindex.documents.elements import create_element
from ponos.models import State
from tests.documents.factories import ElementTypeFactory
from tests.factories import TaskFactory, WorkerRunFactory


@pytest.fixture
def folder_type(corpus):
    return ElementTypeFactory(corpus=corpus, slug="folder", display_name="Folder", folder=True)


@pytest.fixture
def page_type(corpus):
    return ElementTypeFactory(corpus=corpus, slug="page", display_name="Page")


@pytest.fixture
def folder(corpus, folder_type):
    return create_element(corpus=corpus, type=folder_type, name="Volume 1")


@pytest.fixture
def page(corpus, page_type, folder):
    return create_element(corpus=corpus, type=page_type, name="Page 1", parent=folder)


@pytest.fixture
def worker_run(process):
    return WorkerRunFactory(process=process)


@pytest.fixture
def run_task(process, agent, worker_run):
    """A running task of `worker_run`, in Cecil's process on the private corpus."""
    return TaskFactory(
        process=process,
        slug="recognizer",
        state=State.RUNNING,
        agent=agent,
        started=timezone.now(),
        worker_run=worker_run,
    )
