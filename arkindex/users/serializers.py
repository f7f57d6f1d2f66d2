from rest_framework import serializers

from arkindex.users.models import User, UserToken


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "is_admin"]
        read_only_fields = fields


class SmallUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "display_name"]
        read_only_fields = fields


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)


class LoggedInUserSerializer(UserSerializer):
    """The user who just logged in, with the new API token Login issued (shown only here)."""

    auth_token = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["auth_token"]
        read_only_fields = fields

    def get_auth_token(self, user) -> str:
        return self.context["auth_token"]


class UserTokenSerializer(serializers.ModelSerializer):
    """An API token of the caller, without its key (only a digest is stored)."""

    class Meta:
        model = UserToken
        fields = ["id", "description", "created"]
        read_only_fields = fields
