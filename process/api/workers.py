from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from rest_framework import generics

from arkindex.api.errors import validation_error
from arkindex.api.permissions import IsSuperuserOrReadOnly
from process.models import Worker, WorkerVersion
from process.serializers.workers import (
    WorkerSerializer,
    WorkerVersionSerializer,
    WorkerVersionUpdateSerializer,
)
from process.workers import create_worker_version


class WorkerList(generics.ListCreateAPIView):
    """Every user lists workers; only superusers create them (they run code on agents)."""

    operation_ids = {"get": "ListWorkers", "post": "CreateWorker"}
    serializer_class = WorkerSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    queryset = Worker.objects.order_by("slug")

    def perform_create(self, serializer):
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            # A concurrent request took the slug after our validation.
            raise validation_error("slug", "A worker with this slug already exists.", "unique")


class WorkerVersionList(generics.ListCreateAPIView):
    operation_ids = {"get": "ListWorkerVersions", "post": "CreateWorkerVersion"}
    serializer_class = WorkerVersionSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    queryset = WorkerVersion.objects.none()

    def get_worker(self):
        if not hasattr(self, "_worker"):
            self._worker = get_object_or_404(Worker, pk=self.kwargs["id"])
        return self._worker

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return WorkerVersion.objects.filter(worker=self.get_worker()).order_by("-version")

    def create(self, request, *args, **kwargs):
        # An unknown worker is a 404 whatever the body: look it up before validating.
        self.get_worker()
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        worker = self.get_worker()
        serializer.instance = create_worker_version(worker.id, **serializer.validated_data)


class WorkerVersionDetail(generics.RetrieveUpdateAPIView):
    operation_ids = {"get": "RetrieveWorkerVersion", "patch": "PartialUpdateWorkerVersion"}
    permission_classes = [IsSuperuserOrReadOnly]
    queryset = WorkerVersion.objects.all()
    lookup_field = "id"
    http_method_names = ["get", "patch", "options"]

    def get_serializer_class(self):
        if self.request.method == "PATCH":
            return WorkerVersionUpdateSerializer
        return WorkerVersionSerializer
