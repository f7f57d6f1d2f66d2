from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.response import Response

from arkindex.api.conditional import conditional, make_etag
from arkindex.api.errors import validation_error
from arkindex.api.permissions import caller_kind
from process.access import get_process_for_reader
from process.activities import activity_counts, claim_activity, report_activity
from process.models import ActivityState, WorkerActivityState, WorkerRun
from process.serializers.activities import (
    ActivityElementSerializer,
    ProcessActivityCountsSerializer,
    WorkerActivityReportSerializer,
)


class NoActivities(APIException):
    """The caller has no worker activities: a 400 that ends base-worker's loop."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "no_activities"


def calling_worker_task(request, worker_run_id=None):
    """The task of a worker run calling with its task token, in a process with activities;
    of the worker run `worker_run_id` when given (403 otherwise)."""
    if caller_kind(request) != "task":
        raise PermissionDenied(
            "Worker activities are claimed and reported by the tasks of a worker run, with "
            "their task token."
        )
    task = request.auth
    if worker_run_id is not None and task.worker_run_id != worker_run_id:
        raise PermissionDenied("A task reports on the activities of its own worker run only.")
    if task.worker_run_id is None:
        raise NoActivities(
            "This task is not the task of a worker run: it has no worker activities.",
            code="no_worker_run",
        )
    if task.process.activity_state != ActivityState.READY:
        raise NoActivities(
            f"This process has no worker activities (activity_state: "
            f"{task.process.activity_state}).",
            code="no_activities",
        )
    return task


@extend_schema(request=None, responses={200: ActivityElementSerializer})
class WorkerActivityStart(generics.GenericAPIView):
    """Claim the next queued element of the calling task's worker run and chunk: it is now
    `started`, and no other task gets it. A 404 when none is left."""

    operation_ids = {"post": "StartWorkerActivity"}
    allow_task_writes = True
    serializer_class = ActivityElementSerializer

    def post(self, request):
        task = calling_worker_task(request)
        element_id = claim_activity(task)
        if element_id is None:
            raise NotFound("No element is left to process in this chunk of the worker run.")
        return Response({"id": str(element_id)})


@extend_schema(request=WorkerActivityReportSerializer, responses=WorkerActivityReportSerializer)
class WorkerActivityUpdate(generics.GenericAPIView):
    """The outcome of one element, reported by the task of the worker run (`id`): `processed`
    or `error` after `started`. The same state again is a 200; another change a 409."""

    operation_ids = {"put": "UpdateWorkerActivity"}
    allow_task_writes = True
    http_method_names = ["put", "options"]
    serializer_class = WorkerActivityReportSerializer
    queryset = WorkerRun.objects.none()

    def put(self, request, id):
        task = calling_worker_task(request, worker_run_id=id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["process_id"] != task.process_id:
            raise validation_error(
                "process_id", f"The calling task belongs to process {task.process_id}."
            )
        state = report_activity(id, data["element_id"], data["state"])
        if state is None:
            raise NotFound(f"Element {data['element_id']} has no activity in this worker run.")
        return Response(
            {
                "element_id": str(data["element_id"]),
                "process_id": str(task.process_id),
                "state": state,
            }
        )


@extend_schema(extensions={"x-paginated": False})
class ProcessActivityCounts(generics.GenericAPIView):
    """The number of worker activities of each worker run of a process, by state, with an
    ETag of their own: a page polls it to show progress. Claims and reports change these
    counts only, never the process's revision."""

    operation_ids = {"get": "ListProcessActivityCounts"}
    serializer_class = ProcessActivityCountsSerializer
    conditional_get = True

    def get(self, request, id):
        process = get_process_for_reader(request.user, id)
        counts = activity_counts(process.pk)
        runs = WorkerRun.objects.filter(process_id=process.pk).order_by("created", "id")
        body = {
            "activity_state": process.activity_state,
            "worker_runs": [
                {
                    "worker_run_id": str(worker_run_id),
                    **{
                        state: counts.get(worker_run_id, {}).get(state, 0)
                        for state in WorkerActivityState.values
                    },
                }
                for worker_run_id in runs.values_list("pk", flat=True)
            ],
        }
        etag = make_etag("activity-counts", str(process.pk), body)
        return conditional(request, etag, lambda: Response(body))
