from rest_framework import serializers

from arkindex.documents.models import Orientation, Transcription

WORKER_RUN_HELP = (
    "A task must omit it or send its own worker run. A user may name a worker run of a "
    "process they manage on the element's corpus, or omit it."
)
CONFIDENCE_HELP = "From 0 to 1."
# A CreateTranscriptions body holds at most this many transcriptions (base-worker sends
# batches of 50).
MAX_BULK = 1000


class TranscriptionSerializer(serializers.ModelSerializer):
    """A transcription, as every transcription operation answers it."""

    element_id = serializers.UUIDField(read_only=True)
    worker_run_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The worker run that wrote the transcription; null when a user did.",
    )

    class Meta:
        model = Transcription
        fields = [
            "id",
            "element_id",
            "text",
            "confidence",
            "orientation",
            "worker_run_id",
            "created",
        ]
        read_only_fields = fields


class TranscriptionFields(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)
    confidence = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1, help_text=CONFIDENCE_HELP
    )
    orientation = serializers.ChoiceField(
        choices=Orientation.choices, default=Orientation.HORIZONTAL_LR
    )


class TranscriptionCreateSerializer(TranscriptionFields):
    """The body of CreateTranscription, as base-worker's `create_transcription` sends it."""

    worker_run_id = serializers.UUIDField(
        required=False, allow_null=True, help_text=WORKER_RUN_HELP
    )


class BulkTranscriptionSerializer(TranscriptionFields):
    element_id = serializers.UUIDField()


class TranscriptionBulkCreateSerializer(serializers.Serializer):
    """The body of CreateTranscriptions, as base-worker's `create_transcriptions` sends it:
    transcriptions on elements of one corpus, all written by one worker run (or user)."""

    worker_run_id = serializers.UUIDField(
        required=False, allow_null=True, help_text=WORKER_RUN_HELP
    )
    transcriptions = BulkTranscriptionSerializer(
        many=True, allow_empty=False, max_length=MAX_BULK, help_text=f"At most {MAX_BULK}."
    )


class TranscriptionBulkAnswerSerializer(serializers.Serializer):
    worker_run_id = serializers.UUIDField(allow_null=True, read_only=True)
    transcriptions = TranscriptionSerializer(many=True, read_only=True)
