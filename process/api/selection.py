from rest_framework import generics

from arkindex.documents.models import Element
from process.access import get_process_for_reader
from process.selection import selected_elements
from process.serializers.selection import ProcessElementSerializer

ELEMENT_COLUMNS = ["id", "type_id", "type__slug", "name", "confidence", "created"]


class ProcessElementList(generics.ListAPIView):
    """The elements a workers process works on, in creation order, paginated (page_size
    up to 500): its `element` (with its descendants when `load_children`), or the whole
    corpus, filtered by `element_type` and `name_contains`. Other modes select nothing."""

    operation_ids = {"get": "ListProcessElements"}
    serializer_class = ProcessElementSerializer
    queryset = Element.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        process = get_process_for_reader(self.request.user, self.kwargs["id"])
        if process.corpus_id is None:
            return Element.objects.none()
        # The page is sorted through element_corpus_created; the count reads no type.
        return selected_elements(process).order_by("created", "id")

    def list(self, request, *args, **kwargs):
        rows = self.paginator.paginate_queryset(
            self.get_queryset(), request, view=self, rows=lambda page: page.values(*ELEMENT_COLUMNS)
        )
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)
