"""Signed, expiring URL parameters for the local storage backend."""

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

# Derives the HMAC key from the project secret, so that a signature made here can never be
# replayed against another use of the same secret (sessions, password reset tokens...).
KEY_SALT = b"ponos.storage.signing.UrlSigner"


class SignatureError(Exception):
    """A signed URL is malformed, was tampered with or has expired."""


@dataclass(frozen=True)
class SignedRequest:
    """What a valid signature allows: the upload constraints are None on downloads."""

    expires: int
    # Uploads: the type the body must be sent with. Downloads: the type it is served with.
    content_type: str | None = None
    content_length: int | None = None
    # Downloads only: the Content-Disposition of the answer
    disposition: str | None = None


class UrlSigner:
    """
    Signs and checks the query parameters of local storage URLs.

    The signature binds the method, bucket, key, expiry time and, for uploads, the content
    type and length, for downloads the content type and disposition of the answer: changing
    any of them invalidates it.
    """

    def __init__(self, secret_key: str, url_expiry: int):
        if not secret_key:
            raise ValueError("Signing storage URLs needs a secret key")
        self.key = hmac.new(secret_key.encode(), KEY_SALT, hashlib.sha256).digest()
        self.url_expiry = url_expiry

    def signature(
        self,
        method,
        bucket,
        key,
        expires,
        content_type=None,
        content_length=None,
        disposition=None,
    ):
        """The hexadecimal HMAC-SHA256 of every bound value."""
        # JSON keeps the fields apart whatever characters a key holds, so that no two
        # different requests can produce the same message.
        fields = [method, bucket, key, expires, content_type, content_length]
        if disposition is not None:
            fields.append(disposition)
        message = json.dumps(fields)
        return hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()

    def sign(
        self, method, bucket, key, content_type=None, content_length=None, disposition=None
    ) -> dict:
        """Query parameters of a URL valid for ``url_expiry`` seconds from now."""
        expires = int(time.time()) + self.url_expiry
        if content_length is not None:
            # Signed as a number, as verify() parses it back
            content_length = int(content_length)
        params = {}
        if content_type is not None:
            params["content_type"] = content_type
        if content_length is not None:
            params["content_length"] = str(content_length)
        if disposition is not None:
            params["disposition"] = disposition
        params["expires"] = str(expires)
        params["signature"] = self.signature(
            method, bucket, key, expires, content_type, content_length, disposition
        )
        return params

    def verify(self, method: str, bucket: str, key: str, params: Mapping) -> SignedRequest:
        """Check the query parameters of a request; raise SignatureError when invalid."""
        expires = parse_int(params.get("expires"), "expires")
        content_length = params.get("content_length")
        if content_length is not None:
            content_length = parse_int(content_length, "content_length")
        content_type = params.get("content_type")
        disposition = params.get("disposition")
        expected = self.signature(
            method, bucket, key, expires, content_type, content_length, disposition
        )
        # Constant-time comparison: timing must not reveal how much of a guess is right
        if not hmac.compare_digest(expected, str(params.get("signature", ""))):
            raise SignatureError("The signature does not match this request.")
        # Checked after the signature, so that the expiry time cannot have been altered
        if time.time() > expires:
            raise SignatureError("This URL has expired: request a new one from the API.")
        return SignedRequest(expires, content_type, content_length, disposition)


def parse_int(value, name: str) -> int:
    """A non-negative decimal integer from a query parameter."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise SignatureError(f"The {name} parameter is missing or not a number.")
    return int(value)
