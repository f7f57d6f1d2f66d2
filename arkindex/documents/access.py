"""Who reads and writes documents (SPEC §3, §11).

- Reading: guest on the corpus (public corpora too). A task token reads with the rights of
  its process's creator.
- Writing (element types, elements, transcriptions): contributor on the corpus. A task token
  writes with its process creator's rights, only on its process's corpus, and always as its
  own worker run: `worker_run_id` may be omitted or must be the task's own.
- A user may attribute a write to a worker run of a process they manage on the same corpus
  (`worker_run_id`), or omit it: the write is then the user's own (no worker run).

Unknown or unreadable objects are 404 in a path and 400 in a body; readable but not
writable is 403.
"""

from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from arkindex.api.errors import validation_error
from arkindex.api.permissions import caller_kind
from arkindex.corpora.models import Level
from arkindex.documents.models import Element
from arkindex.rights import corpus_level, manageable_processes, readable_in_corpus

WRITE_DENIED = "Writing documents needs at least the contributor level on the corpus."
TASK_CORPUS_DENIED = "A task writes documents only on the corpus of its own process."
TASK_RUN_DENIED = (
    "A task writes documents only as its own worker run: omit worker_run_id, or send the "
    "one of this task ({expected})."
)


def calling_task(request):
    return request.auth if caller_kind(request) == "task" else None


def get_element_for_reader(request, element_id, queryset=None):
    """An element the caller may read, or a 404 (one query)."""
    queryset = Element.objects.all() if queryset is None else queryset
    # No ordering: a single row needs none.
    readable = queryset.filter(readable_in_corpus(request.user)).order_by()
    element = readable.filter(pk=element_id).first()
    if element is None:
        raise Http404
    return element


def _worker_run_model():
    # The worker run model belongs to `process`, which this package does not import.
    return Element._meta.get_field("worker_run").related_model


def check_writer(request, corpus, worker_run_id=None, worker_run_attr="worker_run_id"):
    """Check that the caller may write documents on `corpus` (403 otherwise) and return the
    id of the worker run the write is attributed to (or None)."""
    task = calling_task(request)
    if task is not None:
        if task.process.corpus_id != corpus.id:
            raise PermissionDenied(TASK_CORPUS_DENIED)
        if worker_run_id is not None and worker_run_id != task.worker_run_id:
            raise PermissionDenied(TASK_RUN_DENIED.format(expected=task.worker_run_id))
    if (corpus_level(request.user, corpus) or 0) < Level.CONTRIBUTOR:
        raise PermissionDenied(WRITE_DENIED)
    if task is not None:
        return task.worker_run_id
    if worker_run_id is None:
        return None
    attributable = _worker_run_model().objects.filter(
        manageable_processes(request.user, "process__"),
        process__corpus_id=corpus.id,
        pk=worker_run_id,
    )
    if not attributable.exists():
        raise validation_error(
            worker_run_attr,
            f"No worker run {worker_run_id} of a process you manage on this corpus: omit "
            "worker_run_id to write as yourself.",
        )
    return worker_run_id
