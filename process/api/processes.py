from collections import defaultdict

from django.conf import settings
from django.db.models import Func, UUIDField
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from arkindex.api.conditional import (
    client_has,
    conditional,
    has_condition,
    make_etag,
    not_modified,
    tagged,
)
from arkindex.api.errors import validation_error
from arkindex.corpora.models import Level
from arkindex.rights import corpus_level
from ponos.models import Farm, Task
from ponos.rights import usable_farms
from process.access import get_process_for_manager, get_process_for_reader
from process.builder import retry_process, start_process
from process.conditional import current_process_etag, loaded_process_etag
from process.filters import ProcessFilter
from process.models import Process
from process.processes import delete_process, update_process
from process.serializers.processes import (
    ProcessCreateSerializer,
    ProcessListSerializer,
    ProcessRetrySerializer,
    ProcessSerializer,
    ProcessStartSerializer,
    ProcessUpdateSerializer,
)

# The fields of a task shown in RetrieveProcess: never its env or token.
TASK_FIELDS = [
    "id",
    "run",
    "depth",
    "slug",
    "state",
    "requires_gpu",
    "original_task_id",
    "worker_run_id",
    "expiry",
    "created",
    "updated",
    "started",
    "finished",
    # Not shown: versions the body (see process.conditional).
    "agent_id",
]


class UUIDText(Func):
    """A UUID column read as text on PostgreSQL: the same characters as `str(uuid)`,
    without psycopg2 building a UUID object for each value only for it to be printed
    again. Other databases read the column as it is.
    """

    output_field = UUIDField()

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.source_expressions[0])

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql}::text", params


# The columns of a ListProcesses item, farm and creator included, as ProcessListSerializer
# reads them; ids come as text, a page holding hundreds of them.
LIST_COLUMNS = [
    "name",
    "mode",
    "state",
    "created",
    "updated",
    "started",
    "finished",
    "farm__name",
    "creator__display_name",
]
LIST_IDS = {
    "id_text": UUIDText("id"),
    "corpus_id_text": UUIDText("corpus_id"),
    "farm_id_text": UUIDText("farm_id"),
    "creator_id_text": UUIDText("creator_id"),
}


def process_queryset():
    return Process.objects.select_related("farm", "creator", "element_type")


def load_tasks(process):
    """Attach the tasks of every run with their parents' ids, in two queries for any number
    of tasks, and the process expiry (the latest task expiry). No storage call.

    Tasks are read as plain rows (`values()`): a process may hold thousands of them.
    """
    tasks = list(
        Task.objects.filter(process_id=process.pk)
        .order_by("run", "depth", "slug")
        .values(*TASK_FIELDS)
    )
    position = {task["id"]: index for index, task in enumerate(tasks)}
    parents = defaultdict(list)
    edges = Task.parents.through.objects.filter(from_task__process_id=process.pk).values_list(
        "from_task_id", "to_task_id"
    )
    for child, parent in edges:
        parents[child].append(parent)
    for task in tasks:
        task["parents"] = sorted(parents[task["id"]], key=lambda pk: position.get(pk, -1))
    process.loaded_tasks = tasks
    process.expiry = max((task["expiry"] for task in tasks), default=None)
    return process


def process_body(process_id, request=None):
    """The RetrieveProcess body: the answer of every process operation."""
    process = load_tasks(process_queryset().get(pk=process_id))
    return ProcessSerializer(process, context={"request": request}).data


def check_farm(user, farm):
    """403 unless the user may run processes on the farm."""
    if not Farm.objects.filter(usable_farms(user), pk=farm.pk).exists():
        raise PermissionDenied(
            f"You may not run processes on the farm {farm.name!r} ({farm.pk}): ask its "
            "admins for guest access, or choose a farm from ListFarms."
        )
    return farm


def default_farm():
    farm = None
    if settings.PONOS_DEFAULT_FARM:
        farm = Farm.objects.filter(pk=settings.PONOS_DEFAULT_FARM).first()
    if farm is None:
        raise validation_error(
            "farm",
            "No farm was given and there is no default farm (PONOS_DEFAULT_FARM): give the "
            "id of a farm from ListFarms.",
        )
    return farm


@extend_schema_view(
    post=extend_schema(request=ProcessCreateSerializer, responses={201: ProcessSerializer}),
)
class ProcessList(generics.ListCreateAPIView):
    """Processes the caller can read, newest first; any user creates processes."""

    operation_ids = {"get": "ListProcesses", "post": "CreateProcess"}
    filterset_class = ProcessFilter
    conditional_get = True

    def get_queryset(self):
        # Newest first through process_newest_idx.
        return Process.objects.readable_by(self.request.user).order_by("-created", "-id")

    def list(self, request, *args, **kwargs):
        processes = self.filter_queryset(self.get_queryset())
        # The processes are counted without joins; the page alone reads its columns, farm
        # and creator included, as plain rows: building models took as long as the query.
        rows = self.paginator.paginate_queryset(
            processes, request, view=self, rows=lambda page: page.values(*LIST_COLUMNS, **LIST_IDS)
        )
        # The page's ETag is made of what it shows: its address (filters, page), the count
        # and the rows themselves. A poll that finds them unchanged skips building the body.
        etag = make_etag(
            "processes", request.build_absolute_uri(), self.paginator.page.paginator.count, rows
        )
        return conditional(
            request,
            etag,
            lambda: self.get_paginated_response(self.get_serializer(rows, many=True).data),
        )

    def get_serializer_class(self):
        if self.request.method == "POST":
            return ProcessCreateSerializer
        return ProcessListSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        corpus = serializer.validated_data.get("corpus")
        if corpus is not None and (corpus_level(request.user, corpus) or 0) < Level.CONTRIBUTOR:
            raise PermissionDenied(
                "Creating a process on a corpus needs at least contributor rights on it."
            )
        process = serializer.save(creator=request.user)
        return Response(process_body(process.pk, request), status=status.HTTP_201_CREATED)


@extend_schema_view(
    put=extend_schema(request=ProcessUpdateSerializer, responses=ProcessSerializer),
    patch=extend_schema(request=ProcessUpdateSerializer, responses=ProcessSerializer),
)
class ProcessDetail(generics.RetrieveUpdateDestroyAPIView):
    operation_ids = {
        "get": "RetrieveProcess",
        "put": "UpdateProcess",
        "patch": "PartialUpdateProcess",
        "delete": "DestroyProcess",
    }
    conditional_get = True
    serializer_class = ProcessSerializer
    queryset = Process.objects.none()

    def retrieve(self, request, *args, **kwargs):
        # A poll holding the current ETag costs the token and one statement.
        if has_condition(request):
            etag = current_process_etag(request.user, self.kwargs["id"])
            if etag is None:
                raise Http404
            if client_has(request, etag):
                return not_modified(etag)
        process = self.get_object()
        body = self.get_serializer(process).data
        return tagged(Response(body), loaded_process_etag(process))

    def get_object(self):
        if self.request.method == "GET":
            process = get_process_for_reader(
                self.request.user, self.kwargs["id"], process_queryset()
            )
            return load_tasks(process)
        return get_process_for_manager(self.request.user, self.kwargs["id"])

    def update(self, request, *args, **kwargs):
        process = self.get_object()
        serializer = ProcessUpdateSerializer(data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        update_process(process.pk, **serializer.validated_data)
        return Response(process_body(process.pk, request))

    def perform_destroy(self, process):
        delete_process(process.pk)


@extend_schema(request=ProcessStartSerializer, responses=ProcessSerializer)
class ProcessStart(generics.GenericAPIView):
    """Build run 0 of a process on a farm (PONOS_DEFAULT_FARM by default)."""

    operation_ids = {"post": "StartProcess"}
    serializer_class = ProcessStartSerializer
    queryset = Process.objects.none()

    def post(self, request, *args, **kwargs):
        process = get_process_for_manager(request.user, self.kwargs["id"])
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        farm = check_farm(request.user, data.get("farm") or default_farm())
        start_process(
            process.pk,
            farm=farm,
            chunks=data.get("chunks"),
            use_gpu=data.get("use_gpu"),
            worker_activity=data["worker_activity"],
        )
        return Response(process_body(process.pk, request))


@extend_schema(request=ProcessRetrySerializer, responses=ProcessSerializer)
class ProcessRetry(generics.GenericAPIView):
    """Build the next run of a started process that is not active."""

    operation_ids = {"post": "RetryProcess"}
    serializer_class = ProcessRetrySerializer
    queryset = Process.objects.none()

    def post(self, request, *args, **kwargs):
        process = get_process_for_manager(
            request.user, self.kwargs["id"], Process.objects.select_related("farm")
        )
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A started process always has a farm; one that never started is refused by the
        # builder, whatever the farm.
        farm = serializer.validated_data.get("farm") or process.farm
        if farm is not None:
            check_farm(request.user, farm)
        retry_process(
            process.pk, farm=farm, worker_activity=serializer.validated_data["worker_activity"]
        )
        return Response(process_body(process.pk, request))
