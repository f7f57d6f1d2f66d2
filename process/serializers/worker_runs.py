from rest_framework import serializers

from process.models import Worker, WorkerRun, WorkerVersion


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

    class Meta:
        model = WorkerRun
        fields = [
            "id",
            "process_id",
            "version",
            "worker_version",
            "parents",
            "configuration",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "process_id", "worker_version", "created", "updated"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        process_id = self.context.get("process_id")
        if process_id is not None:
            self.fields["parents"].child_relation.queryset = WorkerRun.objects.filter(
                process_id=process_id
            )

    def validate_configuration(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The configuration must be a JSON object.")
        return value
