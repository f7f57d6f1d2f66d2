from django.db import IntegrityError, transaction
from rest_framework import generics

from arkindex.api.errors import validation_error
from arkindex.documents.access import check_writer
from arkindex.documents.serializers.element_types import ElementTypeCreateSerializer


class ElementTypeCreate(generics.CreateAPIView):
    """Add an element type to a corpus (contributors; tasks on their process's corpus).

    A slug already in the corpus is a 400.
    """

    operation_ids = {"post": "CreateElementType"}
    serializer_class = ElementTypeCreateSerializer
    allow_task_writes = True

    def perform_create(self, serializer):
        check_writer(self.request, serializer.validated_data["corpus"])
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            # A concurrent request created the same slug after our validation.
            slug = serializer.validated_data["slug"]
            raise validation_error("slug", f"The corpus already has a type with the slug {slug}.")
