from rest_framework import serializers

from process.models import GPUUsage, VersionState, Worker, WorkerVersion


class WorkerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Worker
        fields = ["id", "name", "slug", "type"]
        read_only_fields = ["id"]


class WorkerVersionSerializer(serializers.ModelSerializer):
    worker_id = serializers.UUIDField(read_only=True)
    gpu_usage = serializers.ChoiceField(choices=GPUUsage.choices, default=GPUUsage.DISABLED)
    state = serializers.ChoiceField(choices=VersionState.choices, required=False)
    configuration = serializers.JSONField(required=False)

    class Meta:
        model = WorkerVersion
        fields = [
            "id",
            "worker_id",
            "version",
            "docker_image",
            "command",
            "gpu_usage",
            "configuration",
            "state",
            "created",
        ]
        read_only_fields = ["id", "worker_id", "version", "created"]

    def validate_configuration(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The configuration must be a JSON object.")
        return value


class WorkerVersionUpdateSerializer(WorkerVersionSerializer):
    """Only the state and configuration of a version change; its code never does."""

    # Declared fields ignore Meta.read_only_fields: gpu_usage is declared on the parent
    # serializer, so it must be redeclared read-only here.
    gpu_usage = serializers.ChoiceField(choices=GPUUsage.choices, read_only=True)

    class Meta(WorkerVersionSerializer.Meta):
        read_only_fields = [
            "id",
            "worker_id",
            "version",
            "docker_image",
            "command",
            "gpu_usage",
            "created",
        ]
