"""OpenAPI conventions of the API (SPEC §2).

Views declare their Arkindex operationIds as `operation_ids = {"get": "ListProcesses", ...}`.
The schema class and the post-processing hook add what the Arkindex client relies on:
`x-name: body` on request bodies, `x-paginated` on lists, and one shared error component
for the 400/401/403/404/413 responses.
"""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

ERROR_COMPONENT = {
    "type": "object",
    "description": "Every error of the API.",
    "required": ["type", "errors"],
    "properties": {
        "type": {"type": "string", "enum": ["client_error", "validation_error", "server_error"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "detail", "attr"],
                "properties": {
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                    "attr": {
                        "type": "array",
                        "nullable": True,
                        "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "description": "The path of the invalid field, or null.",
                    },
                },
            },
        },
    },
}

ERROR_STATUSES = {
    "400": "Invalid input.",
    "401": "Missing, malformed, unknown or expired credentials.",
    "403": "The caller may read the object but lacks the rights for this operation.",
    "404": "Unknown object, or an object the caller may not read.",
    "413": "The request body is too large.",
    "429": "Too many requests from this client address.",
}


class ArkindexAutoSchema(AutoSchema):
    def get_operation_id(self):
        ids = getattr(self.view, "operation_ids", None) or {}
        method = self.method.lower()
        if method not in ids:
            raise AssertionError(
                f"{self.view.__class__.__name__} has no operationId for {method.upper()}: "
                "add it to its `operation_ids`."
            )
        return ids[method]

    def get_summary(self):
        """The line the docs page shows beside the operationId: the first sentence of the
        method's own docstring, else the operationId in words (`PartialUpdateTask`:
        "Partial update task"). The view's docstring, shared by its methods, stays the
        description."""
        summary = super().get_summary()
        if summary:
            return summary
        handler = getattr(self.view, self.method.lower(), None)
        doc = " ".join((getattr(handler, "__doc__", None) or "").split())
        if doc:
            sentence = doc.split(". ")[0].rstrip(".")
            return sentence if len(sentence) <= 100 else sentence[:99] + "…"
        words = re.findall(r"[A-Z][a-z]*", self.get_operation_id())
        return " ".join([words[0], *(word.lower() for word in words[1:])])

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if "requestBody" in operation:
            operation["requestBody"]["x-name"] = "body"
        if method.upper() == "GET" and self._is_list_view():
            operation["x-paginated"] = self._get_paginator() is not None
        if method.upper() == "GET" and getattr(self.view, "conditional_get", False):
            document_conditional_get(operation)
        return operation


def document_conditional_get(operation):
    """The ETag of the answer, the If-None-Match header and the 304 answer of a view that
    sets `conditional_get = True` (see arkindex.api.conditional)."""
    operation.setdefault("parameters", []).append(
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "The ETag of an earlier answer: the answer is 304 Not Modified, "
            "without a body, while it is still current.",
        }
    )
    responses = operation.setdefault("responses", {})
    responses.setdefault("200", {"description": ""}).setdefault("headers", {})["ETag"] = {
        "schema": {"type": "string"},
        "description": "Names this version of the body; it changes whenever the body does.",
    }
    responses["304"] = {
        "description": "Not Modified: the ETag sent in If-None-Match is still current; no body.",
        "headers": {"ETag": {"schema": {"type": "string"}}},
    }


def postprocess_schema(result, generator, request, public):
    """Add the shared error component and the error responses of every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_COMPONENT
    ref = {"$ref": "#/components/schemas/Error"}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result


class TaskTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ponos.auth.TaskTokenAuthentication"
    name = "taskTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Ponos <task token>`: code running inside a task.",
        }


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ponos.auth.AgentTokenAuthentication"
    name = "agentTokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An agent's token."}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "arkindex.auth.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Browser session; writes need the X-CSRFToken header.",
        }
