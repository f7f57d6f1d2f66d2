from rest_framework import serializers

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.documents.serializers.element_types import ElementTypeSerializer
from arkindex.users.models import User


class CorpusSerializer(serializers.ModelSerializer):
    class Meta:
        model = Corpus
        fields = ["id", "name", "public", "created"]
        read_only_fields = ["id", "created"]


class CorpusDetailSerializer(CorpusSerializer):
    """RetrieveCorpus: the corpus and its element types (base-worker reads `types`)."""

    types = ElementTypeSerializer(many=True, read_only=True)

    class Meta(CorpusSerializer.Meta):
        fields = [*CorpusSerializer.Meta.fields, "types"]
        read_only_fields = fields


class CorpusMembershipSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="email",
        queryset=User.objects.all(),
        help_text="The member's email address.",
        error_messages={"does_not_exist": "No user has the email address {value}."},
    )
    level = serializers.ChoiceField(choices=Level.choices)

    class Meta:
        model = CorpusMembership
        fields = ["id", "user", "level"]
        read_only_fields = ["id"]

    def validate_user(self, user):
        corpus = self.context["corpus"]
        if CorpusMembership.objects.filter(corpus=corpus, user=user).exists():
            raise serializers.ValidationError(f"{user.email} is already a member of this corpus.")
        return user
