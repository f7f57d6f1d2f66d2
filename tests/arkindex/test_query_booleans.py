"""Booleans in query strings (SPEC §2): true/false/1/0/True/False, anything else is a 400.

The foundation has no boolean filter on its own endpoints yet, so a small list view with a
StrictBooleanFilter is routed here, through the project's filter backend, exception
handler and error format.
"""

import django_filters
import pytest
from django.urls import path
from rest_framework import generics

from arkindex.api.filters import StrictBooleanFilter, parse_bool
from arkindex.corpora.models import Corpus
from arkindex.corpora.serializers import CorpusSerializer
from tests.arkindex.assertions import assert_error
from tests.conftest import client_for
from tests.factories import CorpusFactory


class CorpusFilter(django_filters.FilterSet):
    public = StrictBooleanFilter()

    class Meta:
        model = Corpus
        fields = []


class FilteredCorpora(generics.ListAPIView):
    queryset = Corpus.objects.order_by("name")
    serializer_class = CorpusSerializer
    filterset_class = CorpusFilter


urlpatterns = [path("corpora/", FilteredCorpora.as_view())]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def corpora(db):
    CorpusFactory(name="Open", public=True)
    CorpusFactory(name="Closed", public=False)


def names(response):
    assert response.status_code == 200, response.content
    return [corpus["name"] for corpus in response.json()["results"]]


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1"])
def test_true_values(superuser, corpora, value):
    assert names(client_for(superuser).get("/corpora/", {"public": value})) == ["Open"]


@pytest.mark.parametrize("value", ["false", "False", "0"])
def test_false_values(superuser, corpora, value):
    assert names(client_for(superuser).get("/corpora/", {"public": value})) == ["Closed"]


def test_a_missing_or_empty_boolean_does_not_filter(superuser, corpora):
    client = client_for(superuser)
    assert names(client.get("/corpora/")) == ["Closed", "Open"]
    assert names(client.get("/corpora/", {"public": ""})) == ["Closed", "Open"]


@pytest.mark.parametrize("value", ["yes", "2", "maybe", "tru", "-1", "null"])
def test_junk_is_a_400_naming_the_parameter(superuser, corpora, value):
    response = client_for(superuser).get("/corpora/", {"public": value})
    errors = assert_error(response, 400, code="invalid", attr=["public"])
    assert "true, false, 1 or 0" in errors[0]["detail"]


def test_the_python_client_sends_true_as_True(superuser, corpora):
    # arkindex-client sends Python booleans as `True`/`False` in query strings.
    assert names(client_for(superuser).get("/corpora/?public=True")) == ["Open"]
    assert names(client_for(superuser).get("/corpora/?public=False")) == ["Closed"]


def test_parse_bool():
    assert [parse_bool(v) for v in ("true", " 1 ", "False", "0")] == [True, True, False, False]
    assert parse_bool("yes") is None
