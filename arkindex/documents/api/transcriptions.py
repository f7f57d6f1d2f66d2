from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from arkindex.api.filters import parse_bool
from arkindex.documents.access import check_writer, get_element_for_reader
from arkindex.documents.filters import TranscriptionFilter
from arkindex.documents.models import Element, Transcription
from arkindex.documents.queries import descendant_ids
from arkindex.documents.serializers.transcriptions import (
    TranscriptionBulkAnswerSerializer,
    TranscriptionBulkCreateSerializer,
    TranscriptionCreateSerializer,
    TranscriptionSerializer,
)
from arkindex.rights import readable_in_corpus


@extend_schema_view(
    post=extend_schema(
        request=TranscriptionCreateSerializer, responses={201: TranscriptionSerializer}
    )
)
class TranscriptionCreate(generics.GenericAPIView):
    """Add a transcription to an element."""

    operation_ids = {"post": "CreateTranscription"}
    serializer_class = TranscriptionCreateSerializer
    allow_task_writes = True

    def post(self, request, *args, **kwargs):
        element = get_element_for_reader(
            request, self.kwargs["id"], Element.objects.select_related("corpus")
        )
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        worker_run_id = check_writer(request, element.corpus, data.get("worker_run_id"))
        transcription = Transcription.objects.create(
            element=element,
            text=data["text"],
            confidence=data.get("confidence"),
            orientation=data["orientation"],
            worker_run_id=worker_run_id,
        )
        return Response(TranscriptionSerializer(transcription).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(
        request=TranscriptionBulkCreateSerializer,
        responses={201: TranscriptionBulkAnswerSerializer},
    )
)
class TranscriptionBulkCreate(generics.GenericAPIView):
    """Add transcriptions to elements of one corpus, all at once or none."""

    operation_ids = {"post": "CreateTranscriptions"}
    serializer_class = TranscriptionBulkCreateSerializer
    allow_task_writes = True

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        items = data["transcriptions"]
        wanted = {item["element_id"] for item in items}
        elements = {
            element.id: element
            for element in Element.objects.filter(readable_in_corpus(request.user))
            .filter(id__in=wanted)
            .select_related("corpus")
            .order_by()
        }
        for index, item in enumerate(items):
            if item["element_id"] not in elements:
                raise validation_error_at(index, f"No element {item['element_id']}.")
        corpora = {element.corpus_id: element.corpus for element in elements.values()}
        if len(corpora) > 1:
            first = items[0]["element_id"]
            for index, item in enumerate(items):
                if elements[item["element_id"]].corpus_id != elements[first].corpus_id:
                    raise validation_error_at(
                        index,
                        "Every element must be in the same corpus: send one request per corpus.",
                    )
        (corpus,) = corpora.values()
        worker_run_id = check_writer(request, corpus, data.get("worker_run_id"))
        with transaction.atomic():
            created = Transcription.objects.bulk_create(
                Transcription(
                    element_id=item["element_id"],
                    text=item["text"],
                    confidence=item.get("confidence"),
                    orientation=item["orientation"],
                    worker_run_id=worker_run_id,
                )
                for item in items
            )
        body = {"worker_run_id": worker_run_id, "transcriptions": created}
        return Response(
            TranscriptionBulkAnswerSerializer(body).data, status=status.HTTP_201_CREATED
        )


def validation_error_at(index, detail):
    """A 400 naming `transcriptions[index].element_id`."""
    return ValidationError(
        {"transcriptions": {index: {"element_id": [ErrorDetail(detail, code="invalid")]}}}
    )


class TranscriptionList(generics.ListAPIView):
    """The transcriptions of an element (with `recursive`, of its descendants too), in
    creation order."""

    operation_ids = {"get": "ListTranscriptions"}
    serializer_class = TranscriptionSerializer
    filterset_class = TranscriptionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Transcription.objects.none()
        element = get_element_for_reader(self.request, self.kwargs["id"])
        if parse_bool(self.request.query_params.get("recursive", "")) is True:
            elements = {"element_id__in": descendant_ids([element.id], include_self=True)}
        else:
            elements = {"element_id": element.id}
        return Transcription.objects.filter(**elements).order_by("created", "id")
