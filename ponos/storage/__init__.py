"""
Storage of task logs and artifacts, behind one interface with two backends: S3 for
production and a local directory served by the application itself.

Code outside this package calls :func:`get_storage` and catches :class:`StorageError`.
"""

import functools

from django.core.signals import setting_changed
from django.dispatch import receiver

from ponos.storage.base import (
    ATTACHMENT,
    INLINE,
    InvalidKeyError,
    ObjectInfo,
    Segment,
    Storage,
    StorageError,
    artifact_key,
    log_key,
    log_piece_key,
    log_piece_prefix,
)
from ponos.storage.local import check_key

__all__ = [
    "ATTACHMENT",
    "INLINE",
    "InvalidKeyError",
    "ObjectInfo",
    "Segment",
    "Storage",
    "StorageError",
    "artifact_key",
    "check_key",
    "get_storage",
    "log_key",
    "log_piece_key",
    "log_piece_prefix",
    "reset_storage",
]

# Settings read by get_storage(): changing one of them (override_settings) drops the cache
STORAGE_SETTINGS = {
    "ARKINDEX_STORAGE",
    "ARKINDEX_STORAGE_DIR",
    "ARKINDEX_PUBLIC_URL",
    "ARKINDEX_S3_ENDPOINT",
    "ARKINDEX_S3_REGION",
    "ARKINDEX_S3_ACCESS_KEY",
    "ARKINDEX_S3_SECRET_KEY",
    "PONOS_ARTIFACTS_BUCKET",
    "PONOS_LOGS_BUCKET",
    "PONOS_URL_EXPIRY",
    "SECRET_KEY",
}


@functools.cache
def get_storage() -> Storage:
    """The storage configured in the Django settings, built once per process."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    common = {
        "artifacts_bucket": settings.PONOS_ARTIFACTS_BUCKET,
        "logs_bucket": settings.PONOS_LOGS_BUCKET,
        "url_expiry": settings.PONOS_URL_EXPIRY,
    }
    if settings.ARKINDEX_STORAGE == "local":
        # Imported here: a process only loads the backend it uses (boto3 is slow to import)
        from ponos.storage.local import LocalStorage

        return LocalStorage(
            root=settings.ARKINDEX_STORAGE_DIR,
            public_url=settings.ARKINDEX_PUBLIC_URL,
            secret_key=settings.SECRET_KEY,
            **common,
        )
    if settings.ARKINDEX_STORAGE == "s3":
        from ponos.storage.s3 import S3Storage

        return S3Storage(
            endpoint=settings.ARKINDEX_S3_ENDPOINT,
            region=settings.ARKINDEX_S3_REGION,
            access_key=settings.ARKINDEX_S3_ACCESS_KEY,
            secret_key=settings.ARKINDEX_S3_SECRET_KEY,
            **common,
        )
    raise ImproperlyConfigured(
        f"ARKINDEX_STORAGE must be 'local' or 's3', not {settings.ARKINDEX_STORAGE!r}."
    )


def reset_storage() -> None:
    """Forget the cached storage, so that the next get_storage() reads the settings again."""
    get_storage.cache_clear()


@receiver(setting_changed)
def reset_storage_on_setting_change(*, setting, **kwargs):
    """Tests changing a storage setting get a storage built from the new value."""
    if setting in STORAGE_SETTINGS:
        reset_storage()
