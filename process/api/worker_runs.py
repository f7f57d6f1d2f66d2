from rest_framework import generics, status
from rest_framework.response import Response

from process.access import (
    get_process_for_manager,
    get_process_for_reader,
    get_worker_run_for_manager,
    get_worker_run_for_reader,
    worker_run_queryset,
)
from process.models import WorkerRun
from process.serializers.worker_runs import (
    WorkerRunConfigurationSerializer,
    WorkerRunSerializer,
)
from process.worker_runs import create_worker_run, delete_worker_run, update_worker_run


def worker_run_body(worker_run_id, request):
    worker_run = worker_run_queryset().get(pk=worker_run_id)
    return WorkerRunSerializer(worker_run, context={"request": request}).data


class WorkerRunList(generics.ListCreateAPIView):
    """Worker runs of a process, in creation order; managers add them between runs."""

    operation_ids = {"get": "ListWorkerRuns", "post": "CreateWorkerRun"}
    serializer_class = WorkerRunSerializer
    queryset = WorkerRun.objects.none()

    def get_process(self):
        if self.request.method == "GET":
            return get_process_for_reader(self.request.user, self.kwargs["id"])
        return get_process_for_manager(self.request.user, self.kwargs["id"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        process = self.get_process()
        return worker_run_queryset().filter(process=process).order_by("created", "id")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "id" in self.kwargs:
            context["process_id"] = self.kwargs["id"]
        return context

    def create(self, request, *args, **kwargs):
        process = self.get_process()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        worker_run = create_worker_run(process.pk, **serializer.validated_data)
        return Response(worker_run_body(worker_run.pk, request), status=status.HTTP_201_CREATED)


class WorkerRunDetail(generics.RetrieveUpdateDestroyAPIView):
    """Changes are refused while the process is active; tasks already built keep theirs."""

    operation_ids = {
        "get": "RetrieveWorkerRun",
        "put": "UpdateWorkerRun",
        "patch": "PartialUpdateWorkerRun",
        "delete": "DestroyWorkerRun",
    }
    serializer_class = WorkerRunSerializer
    queryset = WorkerRun.objects.none()

    def get_object(self):
        if self.request.method == "GET":
            return get_worker_run_for_reader(self.request.user, self.kwargs["id"])
        return get_worker_run_for_manager(self.request.user, self.kwargs["id"])

    def update(self, request, *args, **kwargs):
        worker_run = self.get_object()
        serializer = self.get_serializer(
            worker_run,
            data=request.data,
            partial=kwargs.get("partial", False),
            context={**self.get_serializer_context(), "process_id": worker_run.process_id},
        )
        serializer.is_valid(raise_exception=True)
        update_worker_run(worker_run, **serializer.validated_data)
        return Response(worker_run_body(worker_run.pk, request))

    def perform_destroy(self, worker_run):
        delete_worker_run(worker_run)


class WorkerRunConfiguration(generics.RetrieveAPIView):
    """The configuration a worker runs with: the worker run's configuration merged over its
    version's (the run's value wins for a key both have), for readers of the process and
    its task tokens."""

    operation_ids = {"get": "RetrieveWorkerRunConfiguration"}
    serializer_class = WorkerRunConfigurationSerializer
    queryset = WorkerRun.objects.none()

    def get_object(self):
        return get_worker_run_for_reader(
            self.request.user, self.kwargs["id"], WorkerRun.objects.select_related("version")
        )
