"""The storage built from the Django settings."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from ponos.storage import get_storage, reset_storage
from ponos.storage.local import LocalStorage
from ponos.storage.s3 import S3Storage


@pytest.fixture(autouse=True)
def _fresh_storage():
    # Neither take a storage cached by an earlier test nor leave one behind
    reset_storage()
    yield
    reset_storage()


def test_the_local_backend_is_built_from_the_settings(settings, tmp_path):
    settings.ARKINDEX_STORAGE = "local"
    settings.ARKINDEX_STORAGE_DIR = str(tmp_path)
    settings.ARKINDEX_PUBLIC_URL = "https://arkindex.example.com"
    settings.PONOS_URL_EXPIRY = 600

    storage = get_storage()

    assert isinstance(storage, LocalStorage)
    assert storage.root == str(tmp_path)
    assert storage.buckets == (settings.PONOS_ARTIFACTS_BUCKET, settings.PONOS_LOGS_BUCKET)
    assert storage.url_expiry == 600
    assert storage.presigned_get(settings.PONOS_LOGS_BUCKET, "a.log").startswith(
        f"https://arkindex.example.com/storage/{settings.PONOS_LOGS_BUCKET}/a.log?"
    )


def test_the_s3_backend_is_built_from_the_settings(settings):
    settings.ARKINDEX_STORAGE = "s3"
    settings.ARKINDEX_S3_ENDPOINT = "http://minio.example.com:9000"
    settings.ARKINDEX_S3_REGION = "eu-west-3"
    settings.ARKINDEX_S3_ACCESS_KEY = "access"
    settings.ARKINDEX_S3_SECRET_KEY = "secret"
    settings.PONOS_ARTIFACTS_BUCKET = "artifacts"
    settings.PONOS_LOGS_BUCKET = "logs"

    storage = get_storage()

    assert isinstance(storage, S3Storage)
    assert storage.client.meta.endpoint_url == "http://minio.example.com:9000"
    assert storage.client.meta.region_name == "eu-west-3"
    assert storage.client._request_signer._credentials.access_key == "access"
    assert storage.buckets == ("artifacts", "logs")
    assert storage.presigned_get("logs", "a.log").startswith(
        "http://minio.example.com:9000/logs/a.log?"
    )


def test_an_unknown_backend_is_a_configuration_error(settings):
    settings.ARKINDEX_STORAGE = "ftp"

    with pytest.raises(ImproperlyConfigured, match="'local' or 's3'"):
        get_storage()


def test_the_storage_is_built_once_until_a_storage_setting_changes(settings):
    storage = get_storage()
    assert get_storage() is storage

    settings.PONOS_URL_EXPIRY = 60

    assert get_storage() is not storage
    assert get_storage().url_expiry == 60


def test_reset_storage_drops_the_cached_storage():
    storage = get_storage()

    reset_storage()

    assert get_storage() is not storage
