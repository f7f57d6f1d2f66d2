"""Authentication of users: API tokens (`Token <key>`) and browser sessions."""

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication


class UserTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`. First class: its header turns failures into 401."""

    caller_kind = "user"
    keyword = "Token"

    def authenticate_credentials(self, key):
        if "\x00" in key:
            # PostgreSQL refuses a NUL in a query parameter: no key has one.
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


class CsrfSessionAuthentication(SessionAuthentication):
    """Session cookie, with CSRF enforced on writes (cookie `arkindex.csrf`)."""

    caller_kind = "user"
