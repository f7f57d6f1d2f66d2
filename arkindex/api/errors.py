"""The error format of the API: {"type", "errors": [{"code", "detail", "attr"}]}.

drf-standardized-errors does the exception handling; our formatter writes `attr` as null or
a list of field names and indexes, the shape the Arkindex client decodes into typed errors.
"""

from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from drf_standardized_errors.formatter import ExceptionFormatter
from drf_standardized_errors.handler import exception_handler as standardized_handler
from rest_framework import exceptions
from rest_framework.settings import api_settings


def exception_handler(exc, context):
    return standardized_handler(exc, context)


def flatten(detail, attr=()):
    """Yield (code, message, attr list) for every leaf of a DRF error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            child = attr if key == api_settings.NON_FIELD_ERRORS_KEY else (*attr, key)
            yield from flatten(value, child)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                yield from flatten(item, (*attr, index))
            else:
                yield from flatten(item, attr)
    else:
        yield getattr(detail, "code", "invalid"), str(detail), list(attr) or None


class ErrorFormatter(ExceptionFormatter):
    def run(self):
        return {
            "type": self.get_error_type(),
            "errors": [
                {"code": code, "detail": detail, "attr": attr}
                for code, detail, attr in flatten(self.exc.detail)
            ],
        }


def error_body(error_type, code, detail, attr=None):
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}


def json_error(status, code, detail):
    error_type = "server_error" if status >= 500 else "client_error"
    return JsonResponse(error_body(error_type, code, detail), status=status)


def validation_error(attr, detail, code="invalid"):
    """A 400 naming one field, e.g. validation_error("state", "...")."""
    return exceptions.ValidationError({attr: [exceptions.ErrorDetail(detail, code=code)]})


def handler400(request, exception=None):
    """Django's own 400s, raised before any view (an unknown Host header, ...)."""
    if isinstance(exception, DisallowedHost):
        return json_error(
            400, "invalid_host", "The Host header is not one of ARKINDEX_ALLOWED_HOSTS."
        )
    return json_error(400, "bad_request", "Bad request.")


def handler403(request, exception=None):
    return json_error(403, "permission_denied", "You do not have permission to do this.")


def handler404(request, exception=None):
    return json_error(404, "not_found", "Not found.")


def handler500(request):
    return json_error(500, "error", "A server error occurred.")
