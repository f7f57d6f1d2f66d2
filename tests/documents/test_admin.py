"""The admin pages of the documents: their lists cost the same whatever the number of rows."""

import pytest
from django.test import Client
from django.urls import reverse

from arkindex.documents.elements import create_elements
from arkindex.documents.models import Element, Transcription

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def grow(corpus, page_type, worker_run, count):
    pages = create_elements(
        corpus=corpus, type=page_type, names=[f"p{n}" for n in range(count)], worker_run=worker_run
    )
    Transcription.objects.bulk_create(
        Transcription(element=page, text="t", worker_run=worker_run) for page in pages
    )


@pytest.mark.parametrize(
    "page", ["documents_element", "documents_transcription", "documents_elementtype"]
)
def test_list_pages_do_not_grow_with_rows(
    browser, corpus, page_type, worker_run, page, django_assert_max_num_queries
):
    url = reverse(f"admin:{page}_changelist")
    grow(corpus, page_type, worker_run, 3)
    with django_assert_max_num_queries(100) as few:
        assert browser.get(url).status_code == 200
    grow(corpus, page_type, worker_run, 40)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = browser.get(url)
    assert response.status_code == 200
    # No full count of the table besides the paginator's.
    counts = [q["sql"] for q in few.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts


def test_elements_are_neither_added_nor_deleted_by_hand(browser, page):
    assert browser.get(reverse("admin:documents_element_add")).status_code == 403
    response = browser.post(
        reverse("admin:documents_element_changelist"),
        {"action": "delete_selected", "_selected_action": [page.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert Element.objects.filter(pk=page.pk).exists()


def test_an_element_name_is_changed_by_hand(browser, page):
    response = browser.post(
        reverse("admin:documents_element_change", args=[page.pk]),
        {"name": "Renamed", "confidence": ""},
    )
    assert response.status_code == 302, response.content
    assert Element.objects.get(pk=page.pk).name == "Renamed"
