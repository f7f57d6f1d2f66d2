"""What the security tests share: the operations of the schema, a world of objects to name
in paths, and a snapshot of the database to prove that a refused request changed nothing."""

from dataclasses import dataclass

from drf_spectacular.generators import SchemaGenerator

from arkindex.corpora.models import Corpus, CorpusMembership
from arkindex.documents.elements import create_element
from arkindex.documents.models import Element, ElementPath, ElementType, Transcription
from ponos.models import Agent, Artifact, Task
from process.models import Process, Worker, WorkerRun, WorkerVersion


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    has_body: bool


def schema_operations():
    """Every operation of the generated schema, by operationId."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (
            Operation(operation["operationId"], method, path, "requestBody" in operation)
            for path, item in schema["paths"].items()
            for method, operation in item.items()
        ),
        key=lambda operation: operation.id,
    )


def object_kind(operation):
    """The kind of object the `{id}` of an operation's path names."""
    return path_kind(operation.path)


def path_kind(path):
    """The kind of object the `{id}` of a path names."""
    if path.startswith("/api/v1/process/workers/"):
        return "worker_run"
    if path.startswith("/api/v1/workers/versions/"):
        return "version"
    for prefix, kind in [
        ("/api/v1/element/", "element"),
        ("/api/v1/elements/", "element"),
        ("/api/v1/corpus/", "corpus"),
        ("/api/v1/process/", "process"),
        ("/api/v1/task/", "task"),
        ("/api/v1/workers/", "worker"),
    ]:
        if path.startswith(prefix):
            return kind
    return None


def element_of(corpus):
    """An element (of a new type `page`) in the corpus, for the paths that name one."""
    page_type = ElementType.objects.create(corpus=corpus, slug="page", display_name="Page")
    return create_element(corpus=corpus, type=page_type, name="Page")


def url(operation, ids, **values):
    """The operation's path with the id of the right kind of object (or `values`)."""
    kind = object_kind(operation)
    params = {"path": "out/a.txt", "corpus": ids.get("corpus")}
    if kind is not None:
        params["id"] = ids[kind]
    params.update(values)
    return operation.path.format(**params)


def snapshot():
    """Counts of every kind of row, and the fields of processes and tasks a request changes."""
    counts = {
        model.__name__: model.objects.count()
        for model in (
            Corpus,
            CorpusMembership,
            Process,
            WorkerRun,
            Worker,
            WorkerVersion,
            Task,
            Artifact,
            Agent,
            ElementType,
            Element,
            ElementPath,
            Transcription,
        )
    }
    processes = sorted(
        Process.objects.values_list("id", "name", "state", "chunks", "use_gpu", "started")
    )
    tasks = sorted(Task.objects.values_list("id", "state", "agent_id", "env"))
    runs = sorted(WorkerRun.objects.values_list("id", "version_id", "configuration"))
    versions = sorted(WorkerVersion.objects.values_list("id", "state", "configuration"))
    return counts, processes, tasks, runs, versions
