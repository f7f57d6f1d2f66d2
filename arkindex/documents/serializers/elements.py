from rest_framework import serializers

from arkindex.corpora.models import Corpus
from arkindex.documents.models import Element, ElementType
from arkindex.documents.serializers.fields import (
    CorpusSummarySerializer,
    NullField,
    NullImageField,
    NullPolygonField,
    corpus_field,
)

TYPE_HELP = "The slug of the element's type."
WORKER_RUN_HELP = "The worker run that created the element; null when a user did."


class ElementSerializer(serializers.ModelSerializer):
    """An element, as RetrieveElement and CreateElement answer it."""

    type = serializers.CharField(source="type.slug", read_only=True, help_text=TYPE_HELP)
    corpus = CorpusSummarySerializer(read_only=True)
    zone = NullField(help_text="Always null: this server has no images.")
    worker_run_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text=WORKER_RUN_HELP
    )

    class Meta:
        model = Element
        fields = [
            "id",
            "name",
            "type",
            "corpus",
            "zone",
            "worker_run_id",
            "confidence",
            "created",
            "updated",
        ]
        read_only_fields = fields


class ElementListSerializer(ElementSerializer):
    """An item of ListElements, ListElementChildren and ListElementParents.

    `corpus`, `zone`, `has_children`, `classes` and `metadata` are only present when asked
    for with `with_corpus`, `with_zone`, `with_has_children`, `with_classes` and
    `with_metadata`; `zone` is always null, `classes` and `metadata` always empty (this
    server has neither images, classifications nor metadata).
    """

    OPTIONAL = {
        "with_corpus": "corpus",
        "with_zone": "zone",
        "with_has_children": "has_children",
        "with_classes": "classes",
        "with_metadata": "metadata",
    }

    corpus = CorpusSummarySerializer(read_only=True, required=False)
    zone = NullField(required=False, help_text="Always null: this server has no images.")
    has_children = serializers.BooleanField(
        read_only=True, required=False, help_text="Whether the element has children."
    )
    classes = serializers.ListField(
        child=serializers.DictField(), read_only=True, required=False, default=list
    )
    metadata = serializers.ListField(
        child=serializers.DictField(), read_only=True, required=False, default=list
    )

    class Meta(ElementSerializer.Meta):
        fields = [
            "id",
            "name",
            "type",
            "corpus",
            "zone",
            "has_children",
            "classes",
            "metadata",
            "worker_run_id",
            "confidence",
            "created",
        ]
        read_only_fields = fields

    def get_fields(self):
        fields = super().get_fields()
        asked = self.context.get("with", set())
        for flag, name in self.OPTIONAL.items():
            if flag not in asked:
                fields.pop(name)
        return fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in ("classes", "metadata"):
            if name in data:
                data[name] = []
        return data


class ElementCreateSerializer(serializers.Serializer):
    """The body of CreateElement, as base-worker's `create_sub_element` sends it."""

    type = serializers.SlugField(max_length=100, help_text=TYPE_HELP)
    name = serializers.CharField(max_length=250)
    corpus = serializers.PrimaryKeyRelatedField(queryset=Corpus.objects.none())
    parent = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="An element of the same corpus to create this one under.",
    )
    image = NullImageField(help_text="Only null: this server has no images.")
    polygon = NullPolygonField(help_text="Only null: this server has no zones.")
    worker_run_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A task must omit it or send its own worker run. A user may name a worker "
        "run of a process they manage on this corpus, or omit it.",
    )
    confidence = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["corpus"].queryset = corpus_field(self.context.get("request"))

    def validate(self, data):
        corpus = data["corpus"]
        errors = {}
        element_type = ElementType.objects.filter(corpus=corpus, slug=data["type"]).first()
        if element_type is None:
            errors["type"] = [
                f"The corpus has no element type {data['type']}: create it first "
                "(CreateElementType)."
            ]
        data["type"] = element_type
        if data.get("parent") is not None:
            parent = Element.objects.filter(corpus=corpus, pk=data["parent"]).first()
            if parent is None:
                errors["parent"] = [f"No element {data['parent']} in this corpus."]
            data["parent"] = parent
        if errors:
            raise serializers.ValidationError(errors)
        return data
