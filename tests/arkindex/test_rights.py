"""The access rules of arkindex.rights, as filters through any lookup prefix (SPEC §3)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from arkindex.corpora.models import Level
from arkindex.rights import corpus_level, manageable_processes, readable_processes
from ponos.models import Task
from process.models import Process, ProcessMode
from tests.factories import CorpusFactory, CorpusMembershipFactory, ProcessFactory, TaskFactory

pytestmark = pytest.mark.django_db

CAST = ["superuser", "corpus_admin", "contributor", "guest", "outsider", "farm_guest"]

# Which of the processes below each caller reads and manages.
READS = {
    "superuser": {"cecils", "ginas", "public", "oscars"},
    "corpus_admin": {"cecils", "ginas", "public"},
    "contributor": {"cecils", "ginas", "public"},
    "guest": {"cecils", "ginas", "public"},
    "outsider": {"public", "oscars"},
    "farm_guest": {"public"},
}
MANAGES = {
    "superuser": {"cecils", "ginas", "public", "oscars"},
    # Admin on the corpus: every process of it.
    "corpus_admin": {"cecils", "ginas"},
    # The creator with contributor on the corpus.
    "contributor": {"cecils"},
    # Gina created a process, but only has guest on its corpus.
    "guest": set(),
    # The creator of a process without corpus manages it alone.
    "outsider": {"oscars"},
    "farm_guest": set(),
}


@pytest.fixture
def processes(corpus, superuser, contributor, guest, outsider, farm_guest):
    public = CorpusFactory(name="Public corpus", public=True)
    # A contributor of the private corpus has no membership on the public one.
    return {
        "cecils": ProcessFactory(corpus=corpus, creator=contributor),
        "ginas": ProcessFactory(corpus=corpus, creator=guest),
        "public": ProcessFactory(corpus=public, creator=superuser),
        "oscars": ProcessFactory(corpus=None, creator=outsider, mode=ProcessMode.REPOSITORY),
    }


def names_of(processes, ids):
    return {name for name, process in processes.items() if process.id in set(ids)}


@pytest.mark.parametrize("caller", CAST)
def test_readable_processes(request, processes, caller):
    user = request.getfixturevalue(caller)
    ids = Process.objects.filter(readable_processes(user)).values_list("id", flat=True)
    assert names_of(processes, ids) == READS[caller]


@pytest.mark.parametrize("caller", CAST)
def test_manageable_processes(request, processes, caller):
    user = request.getfixturevalue(caller)
    ids = Process.objects.filter(manageable_processes(user)).values_list("id", flat=True)
    assert names_of(processes, ids) == MANAGES[caller]


@pytest.mark.parametrize("caller", CAST)
def test_the_same_rules_apply_through_a_prefix(request, processes, caller):
    user = request.getfixturevalue(caller)
    for process in processes.values():
        TaskFactory(process=process)
    read = Task.objects.filter(readable_processes(user, prefix="process__"))
    managed = Task.objects.filter(manageable_processes(user, prefix="process__"))
    assert names_of(processes, read.values_list("process_id", flat=True)) == READS[caller]
    assert names_of(processes, managed.values_list("process_id", flat=True)) == MANAGES[caller]


def test_the_rules_give_nothing_to_anonymous_callers(processes):
    anonymous = AnonymousUser()
    assert not Process.objects.filter(readable_processes(anonymous)).exists()
    assert not Process.objects.filter(manageable_processes(anonymous)).exists()


def test_the_rules_are_single_queries(contributor, processes, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(Process.objects.filter(readable_processes(contributor))) == 3


def test_corpus_level(corpus, superuser, corpus_admin, contributor, guest, outsider):
    assert corpus_level(superuser, corpus) == Level.ADMIN
    assert corpus_level(corpus_admin, corpus) == Level.ADMIN
    assert corpus_level(contributor, corpus) == Level.CONTRIBUTOR
    assert corpus_level(guest, corpus) == Level.GUEST
    assert corpus_level(outsider, corpus) is None
    assert corpus_level(AnonymousUser(), corpus) is None


def test_a_public_corpus_gives_guest_to_everyone_and_keeps_higher_levels(outsider, contributor):
    public = CorpusFactory(public=True)
    CorpusMembershipFactory(corpus=public, user=contributor, level=Level.CONTRIBUTOR)
    assert corpus_level(outsider, public) == Level.GUEST
    assert corpus_level(contributor, public) == Level.CONTRIBUTOR
