from rest_framework import serializers

from process.serializers.processes import iso_datetime


class ProcessElementSerializer(serializers.Serializer):
    """An element a process works on (ListProcessElements), from a `values()` row: pages
    hold up to 500 of them."""

    id = serializers.UUIDField(read_only=True)
    type_id = serializers.UUIDField(read_only=True)
    type = serializers.CharField(read_only=True, help_text="The slug of the element's type.")
    name = serializers.CharField(read_only=True)
    confidence = serializers.FloatField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)

    def to_representation(self, row):
        return {
            "id": str(row["id"]),
            "type_id": str(row["type_id"]),
            "type": row["type__slug"],
            "name": row["name"],
            "confidence": row["confidence"],
            "created": iso_datetime(row["created"]),
        }
