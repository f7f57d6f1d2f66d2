from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from arkindex.api.errors import validation_error
from ponos.api.access import calling_agent, calling_task, get_task_for_artifacts
from ponos.artifacts import declare_artifact, path_errors, put_url
from ponos.models import Artifact
from ponos.serializers.artifacts import ArtifactCreateSerializer, ArtifactSerializer
from ponos.storage import ATTACHMENT, InvalidKeyError, artifact_key, get_storage


class ArtifactList(generics.ListCreateAPIView):
    """The files a task produced (a plain list); the task itself, or its agent while the task
    is active, declares new ones and uploads them to the signed URL of the answer."""

    operation_ids = {"get": "ListArtifacts", "post": "CreateArtifact"}
    allow_task_writes = True
    allow_agents = True
    # A plain list: a task has few artifacts, and the agent reads them all at once.
    pagination_class = None
    queryset = Artifact.objects.none()

    def get_serializer_class(self):
        if self.request.method == "POST":
            return ArtifactCreateSerializer
        return ArtifactSerializer

    def get_task(self):
        if not hasattr(self, "_task"):
            self._task = get_task_for_artifacts(self.request, self.kwargs["id"])
        return self._task

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return Artifact.objects.filter(task=self.get_task()).order_by("path", "id")

    @extend_schema(responses={201: ArtifactCreateSerializer, 200: ArtifactCreateSerializer})
    def post(self, request, id):
        task = self.get_task()
        self.check_uploader(task)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            # Signed first: a key the storage refuses creates no artifact.
            url = put_url(task, data["path"], data["content_type"], data["size"])
        except InvalidKeyError as e:
            raise validation_error("path", f"The storage refuses this path: {e}")
        artifact, created = declare_artifact(task, data["path"], data["content_type"], data["size"])
        artifact.s3_put_url = url
        return Response(
            ArtifactCreateSerializer(artifact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def check_uploader(self, task):
        """Only the task itself, or the agent holding it, adds artifacts, while it is active."""
        own_task = calling_task(self.request)
        agent = calling_agent(self.request)
        if not (
            (own_task is not None and own_task.pk == task.pk)
            or (agent is not None and task.agent_id == agent.pk)
        ):
            raise PermissionDenied("Only the task itself or the agent running it adds artifacts.")
        if not task.is_active:
            raise ValidationError(
                f"The task is {task.state}: artifacts can only be added while it is active."
            )


class ArtifactDownload(generics.GenericAPIView):
    """Redirect to a signed URL of an artifact, for whoever may list the task's artifacts."""

    operation_ids = {"get": "DownloadArtifact"}
    allow_agents = True
    queryset = Artifact.objects.none()

    @extend_schema(
        responses={302: OpenApiResponse(description="Redirection to a signed download URL.")}
    )
    def get(self, request, id, path):
        task = get_task_for_artifacts(request, id)
        # No artifact has an invalid path, and one with a NUL cannot even be looked up.
        artifact = None
        if not path_errors(path):
            artifact = Artifact.objects.filter(task=task, path=path).only("content_type").first()
        if artifact is None:
            raise Http404
        # Saved, never shown: a task chooses its artifacts' contents and declared types
        url = get_storage().presigned_get(
            settings.PONOS_ARTIFACTS_BUCKET,
            artifact_key(task.id, path),
            content_type=artifact.content_type,
            disposition=ATTACHMENT,
            filename=path.rsplit("/", 1)[-1],
        )
        return HttpResponseRedirect(url)
