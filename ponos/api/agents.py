import math

from django.db.models import Count, Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from arkindex.api.errors import validation_error
from arkindex.api.permissions import caller_kind
from arkindex.api.throttling import ClientAddressThrottle
from ponos.agents import UnknownFarm, WrongSeed, register_agent
from ponos.assignment import poll_details
from ponos.logs import watched_tasks
from ponos.models import ACTIVE_STATES, Agent
from ponos.rights import administered_farms
from ponos.serializers.agents import (
    AgentRegistrationSerializer,
    AgentSerializer,
    AgentTokenSerializer,
)


class RegisterThrottle(ClientAddressThrottle):
    """Per client address: seed guessing is throttled (rate: ARKINDEX_REGISTER_RATE)."""

    scope = "register"


class AgentCreate(generics.GenericAPIView):
    """Join a farm with its seed; a host registering again gets a new token."""

    operation_ids = {"post": "CreateAgent"}
    serializer_class = AgentRegistrationSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        responses={201: AgentTokenSerializer, 200: AgentTokenSerializer},
        description="201 for a new agent; 200 when the host registered before: its previous "
        "token stops working and the tasks it held are handled as if it had died.",
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            agent, token, created = register_agent(
                data["farm"],
                data["seed"],
                data["hostname"],
                cpu_cores=data["cpu_cores"],
                cpu_frequency=data["cpu_frequency"],
                ram_total=data["ram_total"],
                gpus=data["gpus"],
            )
        except UnknownFarm:
            raise validation_error("farm", f"No farm has the id {data['farm']}.")
        except WrongSeed:
            raise PermissionDenied("Wrong seed for this farm.")
        return Response(
            AgentTokenSerializer({"id": agent.id, "token": token}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AgentList(generics.ListAPIView):
    """Agents of the farms the caller administers (every agent for superusers)."""

    operation_ids = {"get": "ListAgents"}
    serializer_class = AgentSerializer

    def get_queryset(self):
        return (
            Agent.objects.filter(administered_farms(self.request.user, prefix="farm__"))
            .select_related("farm")
            .prefetch_related("gpus")
            # One aggregate for the whole page, not a count per agent.
            .annotate(active_tasks=Count("tasks", filter=Q(tasks__state__in=ACTIVE_STATES)))
            .order_by("farm__name", "hostname", "id")
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


ActionsSerializer = inline_serializer(
    "AgentActions",
    {
        "actions": inline_serializer(
            "AgentAction",
            {
                "action": serializers.ChoiceField(choices=["start_task", "stop_task"]),
                "task_id": serializers.UUIDField(),
            },
            many=True,
        ),
        "watched": serializers.ListField(
            child=serializers.UUIDField(),
            help_text="Running tasks of this agent that someone is reading: their logs are "
            "sent every few seconds.",
        ),
    },
)


class AgentActions(generics.GenericAPIView):
    """Poll for work: records the ping and loads, then says which tasks to start and stop."""

    operation_ids = {"get": "RetrieveAgentActions"}
    allow_agents = True
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("cpu_load", float, description="Load average over the last minute."),
            OpenApiParameter("ram_load", float, description="Fraction of the RAM in use, 0 to 1."),
        ],
        responses={200: ActionsSerializer},
    )
    def get(self, request):
        if caller_kind(request) != "agent":
            raise PermissionDenied("Only agents poll for actions.")
        loads = {name: self.load(name) for name in ("cpu_load", "ram_load")}
        actions, running = poll_details(request.auth, **loads)
        return Response(
            {
                "actions": [{"action": a.action, "task_id": str(a.task_id)} for a in actions],
                "watched": [str(task_id) for task_id in watched_tasks(running)],
            }
        )

    def load(self, name):
        raw = self.request.query_params.get(name)
        if raw in (None, ""):
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        maximum = 1.0 if name == "ram_load" else math.inf
        # NaN fails both comparisons; infinity cannot be stored as JSON.
        if not (0 <= value <= maximum and math.isfinite(value)):
            bounds = "from 0 to 1" if name == "ram_load" else "a positive number"
            raise validation_error(name, f"{name} must be {bounds}, not {raw!r}.")
        return value
