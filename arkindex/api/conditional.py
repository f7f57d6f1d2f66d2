"""Conditional GETs: answers carry an ETag; a client sending it back in `If-None-Match`
gets `304 Not Modified`, without a body, while nothing the body shows has changed.

Each view decides what versions its body (see `process.conditional`); this module only
builds the tags and compares them. Answers may be kept by the client only (`private`) and
must be revalidated at each use (`no-cache`): a poll is always a request, but one that
changes nothing costs a few statements and no body.
"""

import hashlib
import json

from django.utils.http import parse_etags, quote_etag
from rest_framework import status
from rest_framework.response import Response

CACHE_CONTROL = "private, no-cache"


def make_etag(*parts) -> str:
    """A strong ETag naming these parts (ids, revisions, texts, dates...)."""
    text = json.dumps(parts, default=str, separators=(",", ":"))
    return quote_etag(hashlib.blake2b(text.encode(), digest_size=16).hexdigest())


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def client_has(request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (weak comparison, as for GET)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = parse_etags(header)
    if tags == ["*"]:
        return True
    return _opaque(etag) in {_opaque(tag) for tag in tags}


def has_condition(request) -> bool:
    return bool(request.headers.get("If-None-Match"))


def tagged(response, etag: str):
    """Put the ETag and the caching rule on an answer."""
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def not_modified(etag: str) -> Response:
    return tagged(Response(status=status.HTTP_304_NOT_MODIFIED), etag)


def conditional(request, etag: str, build):
    """304 when the client holds `etag`, else the answer `build()` makes, tagged."""
    if client_has(request, etag):
        return not_modified(etag)
    return tagged(build(), etag)
