"""Authentication of users: API tokens (`Token <key>`) and browser sessions."""

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication

from arkindex.users.tokens import find_token


class UserTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`. First class: its header turns failures into 401."""

    caller_kind = "user"
    keyword = "Token"

    def authenticate_credentials(self, key):
        if "\x00" in key:
            # PostgreSQL refuses a NUL in a query parameter: no key has one.
            raise exceptions.AuthenticationFailed("Invalid token.")
        # Found by the digest of the key through its unique index: no stored key to leak,
        # and no secret compared in Python.
        token = find_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token


class CsrfSessionAuthentication(SessionAuthentication):
    """Session cookie, with CSRF enforced on writes (cookie `arkindex.csrf`)."""

    caller_kind = "user"
