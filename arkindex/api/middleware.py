from django.conf import settings
from django.middleware.gzip import GZipMiddleware

from arkindex.api.errors import json_error


class BodySizeLimitMiddleware:
    """Refuse API bodies over ARKINDEX_MAX_BODY_SIZE with 413, before anything reads them.

    DRF's JSON parser reads the stream itself, so Django's own upload limit does not bound
    JSON bodies. The declared Content-Length is checked here, and Django's WSGI handler never
    reads more than that length. Signed storage URLs stream large uploads to disk and
    enforce their own, signed, limit.
    """

    exempt_prefix = "/storage/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.exempt_prefix):
            limit = settings.ARKINDEX_MAX_BODY_SIZE
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error(400, "invalid", "Content-Length must be an integer.")
            if length > limit:
                return json_error(
                    413,
                    "request_too_large",
                    f"The request body is {length} bytes; the limit is {limit} bytes.",
                )
        return self.get_response(request)


class StrictTransportSecurityMiddleware:
    """Send Strict-Transport-Security on every answer when the public URL is HTTPS.

    Django's SecurityMiddleware sends it only on requests it sees as secure, which behind a
    TLS proxy depends on the proxy setting X-Forwarded-Proto. The public URL says how users
    reach the service whatever the proxy sends; browsers ignore the header over plain HTTP.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.ARKINDEX_PUBLIC_URL.startswith("https://"):
            response.setdefault(
                "Strict-Transport-Security", f"max-age={settings.ARKINDEX_HSTS_SECONDS}"
            )
        return response


class CompressionMiddleware(GZipMiddleware):
    """GZip the pages' HTML and the API's JSON for clients that accept it (a 3,000-task
    RetrieveProcess is about 1 MB of JSON), so that `make run` gets it too, without a proxy.

    Never the storage responses: streamed files and ranged reads keep their exact bytes
    and lengths (a Range names offsets of the stored object, not of a compressed copy).
    Django's middleware also pads each answer with random bytes and the CSRF tokens of
    forms are masked per answer, against compression side channels (BREACH).
    """

    compressed_types = ("text/html", "application/json", "application/vnd.oai.openapi+json")
    exempt_prefix = "/storage/"

    def process_response(self, request, response):
        if response.streaming or request.path.startswith(self.exempt_prefix):
            return response
        if response.status_code == 206 or response.has_header("Content-Range"):
            return response
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if content_type not in self.compressed_types:
            return response
        return super().process_response(request, response)
