from django.db import IntegrityError, transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.shortcuts import get_object_or_404
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied

from arkindex.api.errors import validation_error
from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.corpora.serializers import (
    CorpusDetailSerializer,
    CorpusMembershipSerializer,
    CorpusSerializer,
)
from arkindex.documents.models import ElementType
from arkindex.rights import corpus_level, readable_corpora


def get_corpus_for_user(user, corpus_id, level=Level.GUEST):
    """A corpus the user may read (404 otherwise), with at least `level` (403 otherwise)."""
    corpus = get_object_or_404(Corpus.objects.filter(readable_corpora(user)), pk=corpus_id)
    # Reading the corpus already means being at least a guest.
    if level > Level.GUEST and (corpus_level(user, corpus) or 0) < level:
        raise PermissionDenied(f"This needs the level {Level(level).label} on the corpus.")
    return corpus


class CorpusList(generics.ListCreateAPIView):
    """Corpora the caller can read; any user may create one and becomes its admin."""

    operation_ids = {"get": "ListCorpus", "post": "CreateCorpus"}
    serializer_class = CorpusSerializer

    def get_queryset(self):
        return Corpus.objects.filter(readable_corpora(self.request.user)).order_by("name", "id")

    @transaction.atomic
    def perform_create(self, serializer):
        corpus = serializer.save()
        CorpusMembership.objects.create(corpus=corpus, user=self.request.user, level=Level.ADMIN)


class CorpusDetail(generics.RetrieveAPIView):
    """A corpus with its element types, ordered by slug."""

    operation_ids = {"get": "RetrieveCorpus"}
    serializer_class = CorpusDetailSerializer

    def get_object(self):
        corpus = get_corpus_for_user(self.request.user, self.kwargs["id"])
        prefetch_related_objects([corpus], Prefetch("types", ElementType.objects.order_by("slug")))
        return corpus


class CorpusMembershipList(generics.ListCreateAPIView):
    """Members of a corpus, for its admins."""

    operation_ids = {"get": "ListCorpusMemberships", "post": "CreateCorpusMembership"}
    serializer_class = CorpusMembershipSerializer
    queryset = CorpusMembership.objects.none()

    def get_corpus(self):
        if not hasattr(self, "_corpus"):
            self._corpus = get_corpus_for_user(self.request.user, self.kwargs["id"], Level.ADMIN)
        return self._corpus

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return (
            CorpusMembership.objects.filter(corpus=self.get_corpus())
            .select_related("user")
            .order_by("user__email")
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "id" in self.kwargs and not getattr(self, "swagger_fake_view", False):
            context["corpus"] = self.get_corpus()
        return context

    def perform_create(self, serializer):
        try:
            with transaction.atomic():
                serializer.save(corpus=self.get_corpus())
        except IntegrityError:
            # A concurrent request added the same member after our validation.
            user = serializer.validated_data["user"]
            raise validation_error("user", f"{user.email} is already a member of this corpus.")
