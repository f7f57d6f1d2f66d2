from rest_framework import serializers

from arkindex.corpora.models import Corpus
from arkindex.documents.models import ElementType
from arkindex.documents.serializers.fields import corpus_field


class ElementTypeSerializer(serializers.ModelSerializer):
    """An element type, as RetrieveCorpus lists them."""

    class Meta:
        model = ElementType
        fields = ["id", "slug", "display_name", "folder"]
        read_only_fields = fields


class ElementTypeCreateSerializer(serializers.ModelSerializer):
    corpus = serializers.PrimaryKeyRelatedField(
        queryset=Corpus.objects.none(), help_text="The corpus of the type."
    )
    slug = serializers.SlugField(
        max_length=100, help_text="Unique in the corpus: letters, digits, '-' and '_'."
    )

    class Meta:
        model = ElementType
        fields = ["id", "corpus", "slug", "display_name", "folder"]
        read_only_fields = ["id"]
        # The (corpus, slug) uniqueness is checked below, with a message that says what to do.
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["corpus"].queryset = corpus_field(self.context.get("request"))

    def validate(self, data):
        if ElementType.objects.filter(corpus=data["corpus"], slug=data["slug"]).exists():
            raise serializers.ValidationError(
                {"slug": [f"The corpus already has a type with the slug {data['slug']}."]}
            )
        return data
