import time

from django.conf import settings
from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from arkindex.api.conditional import conditional, make_etag
from arkindex.api.permissions import caller_kind
from ponos import additions, states
from ponos.api.access import calling_agent, check_manager, get_task
from ponos.logs import mark_watched
from ponos.models import Task
from ponos.serializers.tasks import (
    TaskCreateSerializer,
    TaskDefinitionSerializer,
    TaskDetailSerializer,
    TaskSerializer,
    TaskStateSerializer,
)
from ponos.tasks import caller_task, create_task, log_tail


def tasks_with_details():
    """Tasks with what TaskSerializer shows, in two queries whatever the number of parents."""
    return Task.objects.select_related("agent", "gpu").prefetch_related(
        Prefetch("parents", queryset=Task.objects.only("id"))
    )


def task_answer(task_id):
    """The body task operations answer with: the RetrieveTask body without `logs`."""
    return TaskSerializer(tasks_with_details().get(pk=task_id)).data


def reported_task_answer(task, agent):
    """The answer to an agent's report, from the task the state machine returned: only its
    parents are read (agents report on every task they run, often)."""
    # The agent holds the task: it is the task's agent, no need to read it again.
    task.agent = agent
    prefetch_related_objects([task], Prefetch("parents", queryset=Task.objects.only("id")))
    return TaskSerializer(task).data


def task_etag(body):
    """The ETag of a RetrieveTask body: the body itself (one task and its log tail), but
    for the signed URL of the full log, which is signed anew at each call.

    The tag also changes every half of PONOS_URL_EXPIRY, so that a client holding a tagged
    body always holds a `full_log` URL still valid for that long.
    """
    shown = {name: value for name, value in body.items() if name != "full_log"}
    window = int(time.time() // max(settings.PONOS_URL_EXPIRY // 2, 1))
    return make_etag("task", shown, body.get("full_log") is None, window)


class TaskCreate(generics.GenericAPIView):
    """Add a task to the caller's run: for the code of a task, or an agent running one."""

    operation_ids = {"post": "CreateTask"}
    serializer_class = TaskCreateSerializer
    allow_task_writes = True
    allow_agents = True

    @extend_schema(responses={201: TaskSerializer})
    def post(self, request):
        if caller_kind(request) == "user":
            raise PermissionDenied(
                "Tasks are added by the tasks of a process (with their task token) or by "
                "the agents running them."
            )
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        caller = caller_task(request, data.pop("process_id"))
        task = create_task(caller, **data)
        return Response(task_answer(task.pk), status=status.HTTP_201_CREATED)


class TaskDetail(generics.GenericAPIView):
    """A task, for readers of its process, the task itself and the agent holding it.

    PATCH changes its state: the holding agent reports what it did; a user with manage
    rights sends `stopping`.
    """

    operation_ids = {"get": "RetrieveTask", "patch": "PartialUpdateTask"}
    allow_agents = True
    http_method_names = ["get", "patch", "options"]
    serializer_class = TaskDetailSerializer

    conditional_get = True

    @extend_schema(responses={200: TaskDetailSerializer})
    def get(self, request, id):
        task = get_task(request, id, tasks_with_details())
        if caller_kind(request) == "user":
            # A person reads it (the task itself and its agent do not count)
            mark_watched(task)
        # Bounded storage reads, outside any transaction.
        context = {**self.get_serializer_context(), "log_tail": log_tail(task)}
        body = TaskDetailSerializer(task, context=context).data
        return conditional(request, task_etag(body), lambda: Response(body))

    @extend_schema(request=TaskStateSerializer, responses={200: TaskSerializer})
    def patch(self, request, id):
        task = get_task(request, id)
        serializer = TaskStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state = serializer.validated_data["state"]
        exit_code = serializer.validated_data.get("exit_code")
        agent = calling_agent(request)
        if agent is not None:
            # get_task found it among the tasks this agent holds.
            task = states.report_state(
                task.pk, state, agent=agent, process_id=task.process_id, exit_code=exit_code
            )
            return Response(reported_task_answer(task, agent))
        else:
            check_manager(request, task)
            states.user_set_state(task.pk, state)
        return Response(task_answer(task.pk))


class TaskRestart(generics.GenericAPIView):
    """Run a failed, errored, cancelled or stopped task of the last run again."""

    operation_ids = {"post": "RestartTask"}
    serializer_class = TaskSerializer

    @extend_schema(request=None, responses={201: TaskSerializer})
    def post(self, request, id):
        task = get_task(request, id)
        check_manager(request, task)
        new = additions.restart_task(task.pk)
        return Response(task_answer(new.pk), status=status.HTTP_201_CREATED)


class TaskDefinition(generics.GenericAPIView):
    """What the holding agent runs: image, command, env (with the task's token), parents,
    and a fresh signed URL for the log."""

    operation_ids = {"get": "RetrieveTaskDefinition"}
    allow_agents = True
    serializer_class = TaskDefinitionSerializer

    def get(self, request, id):
        queryset = (
            Task.objects.select_related("process", "gpu")
            .prefetch_related(Prefetch("parents", queryset=Task.objects.only("id", "slug")))
            .order_by()
        )
        task = get_task(request, id, queryset)
        if calling_agent(request) is None:
            raise PermissionDenied("Only the agent holding the task reads its definition.")
        return Response(TaskDefinitionSerializer(task).data)
