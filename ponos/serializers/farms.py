from rest_framework import serializers

from ponos.models import Farm


class FarmSerializer(serializers.ModelSerializer):
    """A farm, never with its seed."""

    class Meta:
        model = Farm
        fields = ["id", "name"]
        read_only_fields = fields
