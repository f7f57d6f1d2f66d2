from django.conf import settings
from rest_framework import serializers

from ponos.logs import max_log_size


class LogPieceSerializer(serializers.Serializer):
    """CreateLogPiece: declare the next bytes of a running task's log, then PUT exactly
    `size` bytes (Content-Type text/plain) to `s3_put_url`."""

    offset = serializers.IntegerField(
        min_value=0, help_text="Position in the log of the piece's first byte."
    )
    size = serializers.IntegerField(min_value=1, help_text="Bytes in the piece.")
    s3_put_url = serializers.CharField(read_only=True)
    log_max_size = serializers.SerializerMethodField(
        help_text="PONOS_LOG_MAX_SIZE: beyond it, the agent keeps the log's head and tail."
    )

    def get_log_max_size(self, piece) -> int:
        return settings.PONOS_LOG_MAX_SIZE

    def validate_offset(self, offset):
        if offset >= max_log_size():
            raise serializers.ValidationError(
                f"A log holds at most {settings.PONOS_LOG_MAX_SIZE} bytes (PONOS_LOG_MAX_SIZE)."
            )
        return offset
