from django.conf import settings
from rest_framework import serializers

from ponos.artifacts import MAX_PATH_LENGTH, content_type_errors, path_errors
from ponos.models import Artifact


class ArtifactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Artifact
        fields = ["id", "path", "size", "content_type", "created", "updated"]
        read_only_fields = fields


class ArtifactCreateSerializer(serializers.ModelSerializer):
    """CreateArtifact: declare a file, then PUT it to `s3_put_url` with the same type and
    exactly `size` bytes."""

    path = serializers.CharField(
        max_length=MAX_PATH_LENGTH, trim_whitespace=False, help_text="Relative, '/'-separated."
    )
    size = serializers.IntegerField(min_value=0, help_text="Bytes.")
    content_type = serializers.CharField(
        max_length=250, default="application/octet-stream", trim_whitespace=False
    )
    s3_put_url = serializers.CharField(read_only=True)

    class Meta:
        model = Artifact
        fields = ["id", "path", "size", "content_type", "created", "updated", "s3_put_url"]
        read_only_fields = ["id", "created", "updated", "s3_put_url"]
        # (task, path) is unique, but declaring a path again updates its artifact.
        validators = []

    def validate_path(self, path):
        error = path_errors(path)
        if error:
            raise serializers.ValidationError(error)
        return path

    def validate_content_type(self, content_type):
        error = content_type_errors(content_type)
        if error:
            raise serializers.ValidationError(error)
        return content_type

    def validate_size(self, size):
        limit = settings.PONOS_ARTIFACT_MAX_SIZE
        if size > limit:
            raise serializers.ValidationError(
                f"An artifact holds at most {limit} bytes; this one declares {size}."
            )
        return size
