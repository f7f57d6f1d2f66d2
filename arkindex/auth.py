"""Authentication of users: API tokens (`Token <key>`) and browser sessions."""

from rest_framework.authentication import SessionAuthentication, TokenAuthentication


class UserTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`. First class: its header turns failures into 401."""

    caller_kind = "user"
    keyword = "Token"


class CsrfSessionAuthentication(SessionAuthentication):
    """Session cookie, with CSRF enforced on writes (cookie `arkindex.csrf`)."""

    caller_kind = "user"
