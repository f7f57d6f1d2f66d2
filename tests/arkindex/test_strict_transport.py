"""Strict-Transport-Security whenever the public URL is HTTPS, behind the TLS proxy too."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

YEAR = "max-age=31536000"


@pytest.mark.parametrize("path", ["/health/", "/api/v1/openapi/", "/ui/login/", "/admin/login/"])
def test_an_https_public_url_sends_hsts_on_every_answer(settings, path):
    settings.ARKINDEX_PUBLIC_URL = "https://ark.example.com"

    response = Client().get(path)

    assert response["Strict-Transport-Security"] == YEAR


def test_behind_the_tls_proxy_with_or_without_its_header(settings):
    settings.ARKINDEX_PUBLIC_URL = "https://ark.example.com"

    # The proxy talks plain HTTP to the app, saying (or not) that the client used HTTPS
    forwarded = Client().get("/health/", HTTP_X_FORWARDED_PROTO="https")
    bare = Client().get("/health/")

    assert forwarded["Strict-Transport-Security"] == YEAR
    assert bare["Strict-Transport-Security"] == YEAR


def test_a_plain_http_public_url_sends_no_hsts(settings):
    settings.ARKINDEX_PUBLIC_URL = "http://127.0.0.1:8000"

    response = Client().get("/health/", HTTP_X_FORWARDED_PROTO="https")

    assert "Strict-Transport-Security" not in response
