from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arkindex.corpora.models import Corpus


@extend_schema_field({"type": "object", "nullable": True, "readOnly": True})
class NullField(serializers.Field):
    """A field that is always null in answers (zones: images are not supported)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None


class NullOnlyField(serializers.Field):
    """A field accepted only as null: base-worker sends `image` and `polygon` as null, and
    this server has no images nor zones."""

    default_error_messages = {
        "not_null": "Images and zones are not supported: send null or leave {name} out.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("write_only", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        self.fail("not_null", name=self.field_name)

    def to_representation(self, value):
        return None


class CorpusSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Corpus
        fields = ["id", "name", "public"]
        read_only_fields = fields


def corpus_field(request):
    """The queryset of a `corpus` field of a body: corpora the caller can read, so that
    another corpus is a field error like any id nobody can read."""
    from arkindex.rights import readable_corpora

    if request is None:
        return Corpus.objects.none()
    return Corpus.objects.filter(readable_corpora(request.user))


@extend_schema_field({"type": "string", "format": "uuid", "nullable": True})
class NullImageField(NullOnlyField):
    pass


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}},
        "nullable": True,
    }
)
class NullPolygonField(NullOnlyField):
    pass
