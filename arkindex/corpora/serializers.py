from rest_framework import serializers

from arkindex.corpora.models import Corpus, CorpusMembership, Level
from arkindex.documents.serializers.element_types import ElementTypeSerializer
from arkindex.rights import known_users
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
        help_text="The email address of a user who shares a corpus or a farm with the caller.",
        error_messages={
            "does_not_exist": "No user you share a corpus or a farm with has the email "
            "address {value}."
        },
    )
    level = serializers.ChoiceField(choices=Level.choices)

    class Meta:
        model = CorpusMembership
        fields = ["id", "user", "level"]
        read_only_fields = ["id"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            # Unknown and unknowable addresses answer alike (arkindex.rights.known_users)
            fields["user"].queryset = User.objects.filter(known_users(request.user)).distinct()
        return fields

    def validate_user(self, user):
        corpus = self.context["corpus"]
        if CorpusMembership.objects.filter(corpus=corpus, user=user).exists():
            raise serializers.ValidationError(f"{user.email} is already a member of this corpus.")
        return user
