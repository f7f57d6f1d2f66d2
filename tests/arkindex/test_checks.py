"""System checks of arkindex.checks, on settings that can be wrong without breaking start-up."""

from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from arkindex.checks import check_secret_key, check_storage

S3 = {
    "ARKINDEX_STORAGE": "s3",
    "ARKINDEX_S3_REGION": "eu-west-3",
    "PONOS_ARTIFACTS_BUCKET": "ponos-artifacts",
    "PONOS_LOGS_BUCKET": "ponos-logs",
}


def ids(errors):
    return [error.id for error in errors]


@override_settings(ARKINDEX_DEBUG=False, ARKINDEX_SECRET_KEY=None)
def test_a_missing_secret_key_outside_debug_is_an_error():
    errors = check_secret_key()
    assert ids(errors) == ["arkindex.E001"]
    assert "ARKINDEX_SECRET_KEY" in errors[0].msg
    assert "ARKINDEX_DEBUG" in errors[0].hint


@override_settings(ARKINDEX_DEBUG=True, ARKINDEX_SECRET_KEY=None)
def test_debug_mode_needs_no_secret_key():
    assert check_secret_key() == []


@override_settings(ARKINDEX_DEBUG=False, ARKINDEX_SECRET_KEY="a-long-random-key")
def test_a_secret_key_passes():
    assert check_secret_key() == []


def test_the_default_local_storage_passes():
    assert check_storage() == []


@override_settings(ARKINDEX_STORAGE="ftp")
def test_an_unknown_storage_backend_is_an_error():
    errors = check_storage()
    assert ids(errors) == ["arkindex.E002"]
    assert "ARKINDEX_STORAGE" in errors[0].msg
    assert "'ftp'" in errors[0].msg
    assert "'local' or 's3'" in errors[0].hint


@override_settings(**S3)
def test_a_complete_s3_configuration_passes():
    assert check_storage() == []


@override_settings(**{**S3, "PONOS_ARTIFACTS_BUCKET": "", "PONOS_LOGS_BUCKET": None})
def test_s3_without_bucket_names_is_an_error_per_bucket():
    errors = check_storage()
    assert ids(errors) == ["arkindex.E003", "arkindex.E003"]
    assert "PONOS_ARTIFACTS_BUCKET" in errors[0].msg
    assert "PONOS_LOGS_BUCKET" in errors[1].msg


@override_settings(**{**S3, "ARKINDEX_S3_REGION": ""})
def test_s3_without_a_region_is_an_error():
    errors = check_storage()
    assert ids(errors) == ["arkindex.E003"]
    assert "ARKINDEX_S3_REGION" in errors[0].msg


@override_settings(PONOS_ARTIFACTS_BUCKET="ponos", PONOS_LOGS_BUCKET="ponos")
def test_the_same_bucket_twice_is_an_error():
    errors = check_storage()
    assert ids(errors) == ["arkindex.E004"]
    assert "PONOS_ARTIFACTS_BUCKET" in errors[0].msg
    assert "PONOS_LOGS_BUCKET" in errors[0].msg


@override_settings(ARKINDEX_STORAGE="ftp", ARKINDEX_DEBUG=False, ARKINDEX_SECRET_KEY=None)
def test_the_checks_are_registered_and_stop_manage_py():
    try:
        call_command("check")
    except SystemCheckError as error:
        message = str(error)
    else:
        raise AssertionError("manage.py check passed on a broken configuration")
    assert "arkindex.E001" in message
    assert "arkindex.E002" in message
