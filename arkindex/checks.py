"""System checks for settings that can be wrong without breaking start-up."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs=None, **kwargs):
    if settings.ARKINDEX_DEBUG or settings.ARKINDEX_SECRET_KEY:
        return []
    return [
        Error(
            "ARKINDEX_SECRET_KEY is not set.",
            hint="Set ARKINDEX_SECRET_KEY to a long random string, or ARKINDEX_DEBUG=true "
            "for development.",
            id="arkindex.E001",
        )
    ]


@register()
def check_storage(app_configs=None, **kwargs):
    errors = []
    if settings.ARKINDEX_STORAGE not in settings.STORAGE_BACKENDS:
        errors.append(
            Error(
                f"ARKINDEX_STORAGE is {settings.ARKINDEX_STORAGE!r}.",
                hint="Use 'local' or 's3'.",
                id="arkindex.E002",
            )
        )
    if settings.ARKINDEX_STORAGE == "s3":
        for name in ("PONOS_ARTIFACTS_BUCKET", "PONOS_LOGS_BUCKET", "ARKINDEX_S3_REGION"):
            if not getattr(settings, name):
                errors.append(
                    Error(
                        f"{name} is empty while ARKINDEX_STORAGE is 's3'.",
                        hint=f"Set {name}.",
                        id="arkindex.E003",
                    )
                )
    if settings.PONOS_ARTIFACTS_BUCKET == settings.PONOS_LOGS_BUCKET:
        errors.append(
            Error(
                "PONOS_ARTIFACTS_BUCKET and PONOS_LOGS_BUCKET are the same bucket.",
                hint="Cleanup and the storage migration need two distinct buckets.",
                id="arkindex.E004",
            )
        )
    return errors
