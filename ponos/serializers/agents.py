from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ponos.models import Agent
from ponos.serializers.farms import FarmSerializer

# The largest value a 64-bit signed column holds (RAM in bytes, frequencies in Hz).
MAX_BIGINT = 2**63 - 1


class GPUSerializer(serializers.Serializer):
    """A GPU as the agent names it: `id` is the agent's own identifier for it."""

    id = serializers.CharField(source="gpu_id", max_length=250)
    name = serializers.CharField(max_length=250)
    index = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    ram_total = serializers.IntegerField(min_value=0, max_value=MAX_BIGINT, help_text="bytes")


class AgentRegistrationSerializer(serializers.Serializer):
    """CreateAgent's body: the farm and its seed, and the host's resources."""

    farm = serializers.UUIDField()
    seed = serializers.CharField(max_length=250, trim_whitespace=False, write_only=True)
    hostname = serializers.CharField(max_length=250)
    cpu_cores = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    cpu_frequency = serializers.IntegerField(min_value=0, max_value=MAX_BIGINT, help_text="Hz")
    ram_total = serializers.IntegerField(min_value=0, max_value=MAX_BIGINT, help_text="bytes")
    gpus = GPUSerializer(many=True, required=False, default=list)

    def validate_gpus(self, gpus):
        ids = [gpu["gpu_id"] for gpu in gpus]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Each GPU must have its own id.")
        return gpus


class AgentTokenSerializer(serializers.Serializer):
    """CreateAgent's answer: the only response that ever holds the agent's token."""

    id = serializers.UUIDField(read_only=True)
    token = serializers.CharField(read_only=True)


class AgentSerializer(serializers.ModelSerializer):
    """An agent for farm administrators; never its token."""

    farm = FarmSerializer(read_only=True)
    gpus = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()
    active_tasks = serializers.IntegerField(
        read_only=True, help_text="Number of pending, running and stopping tasks it holds."
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "farm",
            "hostname",
            "enabled",
            "cpu_cores",
            "cpu_frequency",
            "ram_total",
            "gpus",
            "cpu_load",
            "ram_load",
            "last_ping",
            "active",
            "active_tasks",
        ]
        read_only_fields = fields

    @extend_schema_field(GPUSerializer(many=True))
    def get_gpus(self, agent):
        # Prefetched by the view: no query per agent.
        return GPUSerializer(sorted(agent.gpus.all(), key=lambda gpu: gpu.index), many=True).data

    def get_active(self, agent) -> bool:
        # Compared with the request's own `now`, so that one page tells one consistent story.
        now = self.context["now"]
        if agent.last_ping is None:
            return False
        return (now - agent.last_ping).total_seconds() <= settings.PONOS_AGENT_TIMEOUT
