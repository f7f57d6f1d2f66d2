from datetime import UTC

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arkindex.corpora.models import Corpus
from arkindex.rights import readable_corpora
from arkindex.users.serializers import SmallUserSerializer
from ponos.models import Farm, State
from ponos.serializers.farms import FarmSerializer
from process.models import CORPUSLESS_MODES, Process, ProcessMode
from process.selection import resolve_selection

CHUNKS_HELP = "Number of chunks the corpus is split into, from 1 to 10; one task per chunk."
USE_GPU_HELP = "Run on a GPU the worker versions that support one."


def iso_datetime(value):
    """DRF's output format for dates (ISO 8601, `Z` for UTC), without its per-call overhead."""
    if value is None:
        return None
    formatted = value.astimezone(UTC).isoformat()
    return formatted[:-6] + "Z" if formatted.endswith("+00:00") else formatted


def uuid_or_none(value):
    return None if value is None else str(value)


class ProcessTaskSerializer(serializers.Serializer):
    """A task inside RetrieveProcess (up to thousands): its fields are declared for the
    schema, and written by hand from plain rows in `to_representation`, to keep large
    processes fast.
    """

    id = serializers.UUIDField(read_only=True)
    run = serializers.IntegerField(read_only=True)
    depth = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=State.choices, read_only=True)
    parents = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="Ids of the parent tasks."
    )
    requires_gpu = serializers.BooleanField(read_only=True)
    original_task_id = serializers.UUIDField(read_only=True, allow_null=True)
    worker_run_id = serializers.UUIDField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)
    started = serializers.DateTimeField(read_only=True, allow_null=True)
    finished = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, task):
        # `task` is a row from `values()` with its `parents` ids (see load_tasks).
        return {
            "id": str(task["id"]),
            "run": task["run"],
            "depth": task["depth"],
            "slug": task["slug"],
            "state": task["state"],
            "parents": [str(parent) for parent in task["parents"]],
            "requires_gpu": task["requires_gpu"],
            "original_task_id": uuid_or_none(task["original_task_id"]),
            "worker_run_id": uuid_or_none(task["worker_run_id"]),
            "created": iso_datetime(task["created"]),
            "updated": iso_datetime(task["updated"]),
            "started": iso_datetime(task["started"]),
            "finished": iso_datetime(task["finished"]),
        }


class ProcessListSerializer(serializers.ModelSerializer):
    """A process in ListProcesses, with its farm and creator; no tasks."""

    corpus = serializers.UUIDField(source="corpus_id", read_only=True, allow_null=True)
    state = serializers.ChoiceField(choices=State.choices, read_only=True)
    farm = FarmSerializer(read_only=True, allow_null=True)
    creator = SmallUserSerializer(read_only=True)

    class Meta:
        model = Process
        fields = [
            "id",
            "name",
            "mode",
            "corpus",
            "state",
            "farm",
            "creator",
            "created",
            "updated",
            "started",
            "finished",
        ]
        read_only_fields = fields

    def to_representation(self, row):
        # Written by hand from a row of ProcessList's columns, ids as text: the list is
        # polled, and DRF's field-by-field output was most of its time. The declared fields
        # above still describe it in the schema.
        farm_id = row["farm_id_text"]
        return {
            "id": str(row["id_text"]),
            "name": row["name"],
            "mode": row["mode"],
            "corpus": uuid_or_none(row["corpus_id_text"]),
            "state": row["state"],
            "farm": None if farm_id is None else {"id": str(farm_id), "name": row["farm__name"]},
            "creator": {
                "id": str(row["creator_id_text"]),
                "display_name": row["creator__display_name"],
            },
            "created": iso_datetime(row["created"]),
            "updated": iso_datetime(row["updated"]),
            "started": iso_datetime(row["started"]),
            "finished": iso_datetime(row["finished"]),
        }


ELEMENT_HELP = (
    "Workers mode: the element to work on (of the process's corpus); without it, every "
    "element of the corpus. Only before the process starts."
)
LOAD_CHILDREN_HELP = "Workers mode: also work on every descendant of `element`, at any depth."
ELEMENT_TYPE_HELP = "Workers mode: only elements of this type (its slug in the corpus)."
NAME_CONTAINS_HELP = "Workers mode: only elements whose name contains this (any case)."


class SelectionFields(serializers.Serializer):
    """The selection of a workers process as a body gives it (checked against the corpus
    by `process.selection.resolve_selection`)."""

    element = serializers.UUIDField(required=False, allow_null=True, help_text=ELEMENT_HELP)
    load_children = serializers.BooleanField(required=False, help_text=LOAD_CHILDREN_HELP)
    element_type = serializers.SlugField(
        max_length=100, required=False, allow_null=True, help_text=ELEMENT_TYPE_HELP
    )
    name_contains = serializers.CharField(
        max_length=250,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=NAME_CONTAINS_HELP,
    )


class ProcessSerializer(ProcessListSerializer):
    """RetrieveProcess, and the answer of every process change.

    The view loads `process.loaded_tasks` (rows with their `parents`) and `process.expiry`.
    """

    tasks = ProcessTaskSerializer(
        source="loaded_tasks",
        many=True,
        read_only=True,
        help_text="Tasks of every run, ordered by run, depth and slug.",
    )
    expiry = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="The latest expiry of its tasks."
    )
    element = serializers.UUIDField(
        source="element_id", read_only=True, allow_null=True, help_text=ELEMENT_HELP
    )
    element_type = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text=ELEMENT_TYPE_HELP
    )

    class Meta(ProcessListSerializer.Meta):
        fields = ProcessListSerializer.Meta.fields + [
            "tasks",
            "chunks",
            "use_gpu",
            "repository_url",
            "expiry",
            "element",
            "load_children",
            "element_type",
            "name_contains",
            "activity_state",
        ]
        read_only_fields = fields

    def to_representation(self, process):
        # The generic path: a single process, with its loaded tasks.
        return serializers.ModelSerializer.to_representation(self, process)


class ProcessCreateSerializer(SelectionFields, serializers.ModelSerializer):
    """The mode rules of CreateProcess; corpus rights are checked by the view (403)."""

    mode = serializers.ChoiceField(choices=ProcessMode.choices)
    corpus = serializers.PrimaryKeyRelatedField(
        queryset=Corpus.objects.none(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
        error_messages={
            "does_not_exist": "No corpus you can read has the id {pk_value}.",
        },
    )
    chunks = serializers.IntegerField(min_value=1, max_value=10, default=1, help_text=CHUNKS_HELP)
    use_gpu = serializers.BooleanField(default=False, help_text=USE_GPU_HELP)
    repository_url = serializers.URLField(
        max_length=500, required=False, allow_null=True, help_text="Repository mode only."
    )

    class Meta:
        model = Process
        fields = [
            "mode",
            "corpus",
            "name",
            "chunks",
            "use_gpu",
            "repository_url",
            "element",
            "load_children",
            "element_type",
            "name_contains",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["corpus"].queryset = Corpus.objects.filter(readable_corpora(request.user))

    def validate(self, data):
        mode = data["mode"]
        corpus = data.get("corpus")
        repository_url = data.get("repository_url")
        errors = {}
        if mode == ProcessMode.WORKERS and corpus is None:
            errors["corpus"] = (
                "A workers process needs a corpus: give the id of a corpus where you are at "
                "least a contributor."
            )
        if mode in CORPUSLESS_MODES and corpus is not None:
            errors["corpus"] = f"A {mode} process has no corpus: remove this field."
        if mode == ProcessMode.REPOSITORY and not repository_url:
            errors["repository_url"] = (
                "A repository process needs a repository_url: the repository its import task reads."
            )
        if mode != ProcessMode.REPOSITORY and repository_url:
            errors["repository_url"] = (
                f"Only repository processes have a repository_url, not {mode} ones."
            )
        if errors:
            raise serializers.ValidationError({key: [value] for key, value in errors.items()})
        return resolve_selection(getattr(corpus, "pk", None), mode, data)


# A plain string in the schema: an inline enum would clash with the other `state` enums.
@extend_schema_field({"type": "string", "example": State.STOPPING.value})
class StopField(serializers.CharField):
    """`stopping` is the only state a user sends to a process."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value != State.STOPPING:
            raise serializers.ValidationError(
                f'Only "stopping" can be set, to stop an active process; {value!r} cannot: '
                "the other states follow from the tasks.",
                code="invalid_state",
            )
        return value


class ProcessUpdateSerializer(SelectionFields):
    """UpdateProcess / PartialUpdateProcess: every field is optional, for PUT too."""

    name = serializers.CharField(max_length=250, required=False, allow_blank=True)
    chunks = serializers.IntegerField(
        min_value=1,
        max_value=10,
        required=False,
        help_text=CHUNKS_HELP + " Only before the process starts (its current value is fine).",
    )
    use_gpu = serializers.BooleanField(
        required=False, help_text=USE_GPU_HELP + " Only before the process starts."
    )
    state = StopField(
        required=False,
        help_text="`stopping` stops an active process; a no-op when it is already stopping.",
    )


class FarmField(serializers.PrimaryKeyRelatedField):
    def __init__(self, **kwargs):
        super().__init__(
            queryset=Farm.objects.all(),
            required=False,
            allow_null=True,
            pk_field=serializers.UUIDField(),
            error_messages={
                "does_not_exist": "No farm has the id {pk_value}: ListFarms lists yours."
            },
            **kwargs,
        )


WORKER_ACTIVITY_HELP = (
    "Workers mode: create a worker activity per selected element and worker run, which the "
    "workers claim with StartWorkerActivity (the tasks wait until they exist); false runs "
    "the workers without activities."
)


class ProcessStartSerializer(serializers.Serializer):
    farm = FarmField(help_text="The farm to run on; PONOS_DEFAULT_FARM when omitted.")
    worker_activity = serializers.BooleanField(default=True, help_text=WORKER_ACTIVITY_HELP)
    chunks = serializers.IntegerField(
        min_value=1, max_value=10, required=False, help_text=CHUNKS_HELP
    )
    use_gpu = serializers.BooleanField(required=False, help_text=USE_GPU_HELP)


class ProcessRetrySerializer(serializers.Serializer):
    farm = FarmField(help_text="The farm to run on; the farm of the previous run when omitted.")
    worker_activity = serializers.BooleanField(
        default=True,
        help_text=WORKER_ACTIVITY_HELP
        + " A retry queues again the activities that did not end processed.",
    )
