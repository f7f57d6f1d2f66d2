from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from process.models import ActivityState, Process, Worker, WorkerRun, WorkerVersion


class WorkerRunWorkerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Worker
        fields = ["id", "name", "slug", "type"]
        read_only_fields = fields


class WorkerRunVersionSerializer(serializers.ModelSerializer):
    """The version a worker run runs, with its worker (from select_related)."""

    worker = WorkerRunWorkerSerializer(read_only=True)

    class Meta:
        model = WorkerVersion
        fields = ["id", "version", "worker", "docker_image", "gpu_usage", "state"]
        read_only_fields = fields


class WorkerRunProcessSerializer(serializers.ModelSerializer):
    """The process of a worker run, as arkindex-base-worker reads it at start."""

    corpus = serializers.UUIDField(source="corpus_id", read_only=True, allow_null=True)
    skip_elements_json = serializers.SerializerMethodField(
        help_text=(
            "True when the worker takes its elements from worker activities "
            "(StartWorkerActivity) rather than from a JSON file."
        )
    )

    class Meta:
        model = Process
        fields = ["id", "name", "state", "mode", "corpus", "activity_state", "skip_elements_json"]
        read_only_fields = fields

    def get_skip_elements_json(self, process) -> bool:
        return process.activity_state != ActivityState.DISABLED


class WorkerRunSerializer(serializers.ModelSerializer):
    """A worker run. `parents` are worker runs of the same process (set by the view)."""

    process_id = serializers.UUIDField(read_only=True)
    version = serializers.PrimaryKeyRelatedField(
        queryset=WorkerVersion.objects.all(),
        pk_field=serializers.UUIDField(),
        help_text="Id of the worker version to run.",
        error_messages={
            "does_not_exist": "No worker version has the id {pk_value}: see ListWorkerVersions."
        },
    )
    worker_version = WorkerRunVersionSerializer(source="version", read_only=True)
    parents = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=WorkerRun.objects.none(),
        required=False,
        pk_field=serializers.UUIDField(),
        help_text="Worker runs of the same process whose tasks must complete first.",
        error_messages={
            "does_not_exist": (
                "No worker run of this process has the id {pk_value}: parents must be "
                "worker runs of the same process."
            )
        },
    )
    configuration = serializers.JSONField(
        required=False, help_text="A JSON object given to the worker."
    )
    process = WorkerRunProcessSerializer(read_only=True)
    summary = serializers.SerializerMethodField(help_text="A one-line description of the run.")
    model_version = serializers.SerializerMethodField(
        help_text="Always null: worker runs have no model versions here."
    )

    class Meta:
        model = WorkerRun
        fields = [
            "id",
            "process_id",
            "process",
            "version",
            "worker_version",
            "parents",
            "configuration",
            "summary",
            "model_version",
            "created",
            "updated",
        ]
        read_only_fields = [
            "id",
            "process_id",
            "process",
            "worker_version",
            "summary",
            "model_version",
            "created",
            "updated",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        process_id = self.context.get("process_id")
        if process_id is not None:
            self.fields["parents"].child_relation.queryset = WorkerRun.objects.filter(
                process_id=process_id
            )

    def get_summary(self, worker_run) -> str:
        version = worker_run.version
        return f"Worker {version.worker.name} @ version {version.version}"

    @extend_schema_field({"type": "object", "nullable": True})
    def get_model_version(self, worker_run):
        return None

    def validate_configuration(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The configuration must be a JSON object.")
        return value


class ConfigurationItemSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    value = serializers.JSONField(read_only=True)
    secret = serializers.BooleanField(
        read_only=True, help_text="Always false: worker configurations hold no secrets."
    )


class WorkerRunConfigurationSerializer(serializers.Serializer):
    """The configuration a worker runs with: its run's over its version's, key by key, in
    key order (PostgreSQL does not keep the order of a JSON object's keys)."""

    configuration = ConfigurationItemSerializer(many=True, read_only=True)

    def to_representation(self, worker_run):
        merged = {**worker_run.version.configuration, **worker_run.configuration}
        return {
            "configuration": [
                {"key": key, "value": value, "secret": False}
                for key, value in sorted(merged.items())
            ]
        }
