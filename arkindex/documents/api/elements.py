from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response

from arkindex.api.filters import parse_bool
from arkindex.corpora.models import Corpus
from arkindex.documents.access import check_writer, get_element_for_reader
from arkindex.documents.elements import create_element
from arkindex.documents.filters import ElementFilter, ElementRelativesFilter
from arkindex.documents.models import Element, ElementPath
from arkindex.documents.queries import ancestor_ids, descendant_ids
from arkindex.documents.serializers.elements import (
    ElementCreateSerializer,
    ElementListSerializer,
    ElementSerializer,
)
from arkindex.rights import readable_corpora


@extend_schema_view(
    post=extend_schema(request=ElementCreateSerializer, responses={201: ElementSerializer})
)
class ElementCreate(generics.GenericAPIView):
    """Create an element, under a parent of the same corpus when `parent` is given."""

    operation_ids = {"post": "CreateElement"}
    serializer_class = ElementCreateSerializer
    allow_task_writes = True

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        worker_run_id = check_writer(request, data["corpus"], data.get("worker_run_id"))
        element = create_element(
            corpus=data["corpus"],
            type=data["type"],
            name=data["name"],
            parent=data.get("parent"),
            worker_run=worker_run_id,
            confidence=data.get("confidence"),
        )
        element.corpus = data["corpus"]
        return Response(ElementSerializer(element).data, status=status.HTTP_201_CREATED)


class ElementRetrieve(generics.RetrieveAPIView):
    operation_ids = {"get": "RetrieveElement"}
    serializer_class = ElementSerializer

    def get_object(self):
        # One query: the element, its type and its corpus, readable by the caller.
        return get_element_for_reader(
            self.request, self.kwargs["id"], Element.objects.select_related("type", "corpus")
        )


class ElementListBase(generics.ListAPIView):
    """Elements in creation order; the count runs without the joins of the items."""

    serializer_class = ElementListSerializer
    filterset_class = ElementFilter

    def flags(self):
        return {
            flag
            for flag in ElementListSerializer.OPTIONAL
            if parse_bool(self.request.query_params.get(flag, "")) is True
        }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "with": self.flags()}

    def elements(self):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Element.objects.none()
        return self.elements().order_by("created", "id")

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        flags = self.flags()

        def rows(page):
            page = page.select_related("type")
            if "with_corpus" in flags:
                page = page.select_related("corpus")
            if "with_has_children" in flags:
                page = page.annotate(
                    has_children=Exists(
                        ElementPath.objects.filter(ancestor_id=OuterRef("pk"), depth=1)
                    )
                )
            return page

        items = self.paginator.paginate_queryset(queryset, request, view=self, rows=rows)
        return self.get_paginated_response(self.get_serializer(items, many=True).data)


class CorpusElementList(ElementListBase):
    """The elements of a corpus (guests of the corpus, public corpora included)."""

    operation_ids = {"get": "ListElements"}

    def elements(self):
        corpus = get_object_or_404(
            Corpus.objects.filter(readable_corpora(self.request.user)), pk=self.kwargs["corpus"]
        )
        return Element.objects.filter(corpus_id=corpus.id)


class ElementRelativesBase(ElementListBase):
    filterset_class = ElementRelativesFilter
    relatives = None

    def elements(self):
        element = get_element_for_reader(self.request, self.kwargs["id"])
        recursive = parse_bool(self.request.query_params.get("recursive", "")) is True
        ids = self.relatives([element.id], max_depth=None if recursive else 1)
        return Element.objects.filter(id__in=ids)


class ElementChildrenList(ElementRelativesBase):
    """The children of an element; with `recursive`, all of its descendants (each once)."""

    operation_ids = {"get": "ListElementChildren"}
    relatives = staticmethod(descendant_ids)


class ElementParentsList(ElementRelativesBase):
    """The parents of an element; with `recursive`, all of its ancestors (each once)."""

    operation_ids = {"get": "ListElementParents"}
    relatives = staticmethod(ancestor_ids)
