from rest_framework import serializers

from process.models import ActivityState, WorkerActivityState


class ActivityElementSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True, help_text="The element to process.")


class WorkerActivityReportSerializer(serializers.Serializer):
    element_id = serializers.UUIDField()
    process_id = serializers.UUIDField(help_text="The process of the calling task.")
    state = serializers.ChoiceField(
        choices=[
            WorkerActivityState.STARTED,
            WorkerActivityState.PROCESSED,
            WorkerActivityState.ERROR,
        ]
    )


class ActivityCountsSerializer(serializers.Serializer):
    worker_run_id = serializers.UUIDField(read_only=True)
    queued = serializers.IntegerField(read_only=True)
    started = serializers.IntegerField(read_only=True)
    processed = serializers.IntegerField(read_only=True)
    error = serializers.IntegerField(read_only=True)


class ProcessActivityCountsSerializer(serializers.Serializer):
    activity_state = serializers.ChoiceField(choices=ActivityState.choices, read_only=True)
    worker_runs = ActivityCountsSerializer(
        many=True, read_only=True, help_text="Every worker run of the process, in creation order."
    )
