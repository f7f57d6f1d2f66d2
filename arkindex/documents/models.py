"""The documents a process works on: element types, elements and their transcriptions.

Elements form a directed acyclic graph inside one corpus (an element may have any number of
parents). `ElementPath` is its closure table: one row per (ancestor, descendant) pair, with
the length of the shortest path between them, and one row (element, element, 0) per element.
Descendants and ancestors at any depth are then one indexed lookup, on PostgreSQL and SQLite
alike; see `arkindex.documents.queries`. The rows are written by `add_parent`, the only way
a link between two elements is made.
"""

import uuid

from django.db import models

from arkindex.corpora.models import Corpus


class ElementType(models.Model):
    """A kind of element in one corpus (`page`, `folder`, ...)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    corpus = models.ForeignKey(
        Corpus, on_delete=models.CASCADE, related_name="types", db_index=False
    )
    # Indexed by the unique (corpus, slug) constraint.
    slug = models.SlugField(max_length=100, db_index=False)
    display_name = models.CharField(max_length=250)
    folder = models.BooleanField(default=False)

    class Meta:
        ordering = ["corpus", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["corpus", "slug"], name="unique_element_type_slug")
        ]

    def __str__(self):
        return self.slug


class Orientation(models.TextChoices):
    HORIZONTAL_LR = "horizontal-lr"
    HORIZONTAL_RL = "horizontal-rl"
    VERTICAL_LR = "vertical-lr"
    VERTICAL_RL = "vertical-rl"


class Element(models.Model):
    """A document or a part of one: a folder, a page, a line..."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (corpus, created, id) index below.
    corpus = models.ForeignKey(
        Corpus, on_delete=models.CASCADE, related_name="elements", db_index=False
    )
    # RESTRICT rather than PROTECT: a type in use cannot be deleted on its own, but deleting
    # the corpus deletes its types and elements together.
    type = models.ForeignKey(ElementType, on_delete=models.RESTRICT, related_name="elements")
    name = models.CharField(max_length=250)
    # The worker run that created the element; null for elements made by a user.
    worker_run = models.ForeignKey(
        "process.WorkerRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="elements",
    )
    confidence = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        # Every list of elements is in creation order: (corpus, created, id) serves
        # ListElements' page and count; children and descendants are read through
        # ElementPath, then sorted the same way.
        ordering = ["created", "id"]
        indexes = [
            models.Index(fields=["corpus", "created", "id"], name="element_corpus_created"),
            models.Index(fields=["corpus", "type", "created", "id"], name="element_corpus_type"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1)
                | models.Q(confidence__isnull=True),
                name="element_confidence_range",
            )
        ]

    def __str__(self):
        return self.name


class ElementPath(models.Model):
    """`descendant` is `ancestor` itself (depth 0) or below it; `depth` is the length of the
    shortest path. A direct parent is an ancestor at depth 1."""

    id = models.BigAutoField(primary_key=True)
    # Both indexed by the composite indexes below, which lead with them.
    ancestor = models.ForeignKey(
        Element, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    descendant = models.ForeignKey(
        Element, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    depth = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Also the index of descendants: ancestor first.
            models.UniqueConstraint(fields=["ancestor", "descendant"], name="unique_element_path")
        ]
        indexes = [
            # Children (depth 1) and descendants (depth > 0) of an element.
            models.Index(fields=["ancestor", "depth"], name="element_path_ancestor_depth"),
            # Parents and ancestors of an element.
            models.Index(fields=["descendant", "depth"], name="element_path_descendant_depth"),
        ]

    def __str__(self):
        return f"{self.ancestor_id} > {self.descendant_id} ({self.depth})"


class Transcription(models.Model):
    """Text read on an element, by a user or by a worker run."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (element, created, id) index below.
    element = models.ForeignKey(
        Element, on_delete=models.CASCADE, related_name="transcriptions", db_index=False
    )
    text = models.TextField()
    confidence = models.FloatField(null=True, blank=True)
    orientation = models.CharField(
        max_length=16, choices=Orientation.choices, default=Orientation.HORIZONTAL_LR
    )
    # The worker run that wrote it; null for a user's transcription.
    worker_run = models.ForeignKey(
        "process.WorkerRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transcriptions",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [
            # ListTranscriptions of an element (or of its descendants), in creation order.
            models.Index(fields=["element", "created", "id"], name="transcription_element"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1)
                | models.Q(confidence__isnull=True),
                name="transcription_confidence_range",
            )
        ]

    def __str__(self):
        return f"Transcription {self.id}"
