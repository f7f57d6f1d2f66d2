import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from arkindex.users.models import UserToken
from arkindex.users.tokens import hash_key
from tests.arkindex.assertions import assert_error, assert_unauthorized
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/user/login/"


def login_rate(rate, **extra):
    """Override the Login rate (read from REST_FRAMEWORK on each request)."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": rate}
    return override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates, **extra}
    )


PASSWORD = "hunter22hunter"  # the factories' password


def login(client, email="carol@example.com", password=PASSWORD, **headers):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **headers)


def test_login_answers_the_user_and_a_new_token(api, corpus_admin):
    response = login(api)
    assert response.status_code == 200, response.content
    body = response.json()
    key = body.pop("auth_token")
    assert body == {
        "id": str(corpus_admin.id),
        "email": "carol@example.com",
        "display_name": "Carol",
        "is_admin": False,
    }
    # A token of its own: the user's earlier token is neither returned nor revoked.
    assert key != corpus_admin.auth_token_key
    tokens = UserToken.objects.filter(user=corpus_admin).order_by("created")
    assert [(t.key_hash, t.description) for t in tokens][1:] == [(hash_key(key), "Login")]
    assert len(tokens) == 2


def test_each_login_issues_a_token_and_every_token_keeps_working(api, corpus_admin):
    UserToken.objects.filter(user=corpus_admin).delete()
    keys = [login(api).json()["auth_token"] for _ in range(3)]
    assert len(set(keys)) == 3
    assert {t.key_hash for t in UserToken.objects.filter(user=corpus_admin)} == {
        hash_key(key) for key in keys
    }
    for key in keys:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/user/").json()["email"] == "carol@example.com"


def test_only_a_digest_of_the_issued_key_is_stored(api, corpus_admin):
    key = login(api).json()["auth_token"]
    rows = list(UserToken.objects.filter(user=corpus_admin).values())
    assert key not in str(rows)
    assert hash_key(key) in {row["key_hash"] for row in rows}


def test_the_token_from_login_authenticates(api, corpus_admin):
    token = login(api).json()["auth_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/user/").json()["email"] == "carol@example.com"


def test_login_opens_a_session_with_the_csrf_cookie(api, corpus_admin):
    response = login(api)
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME in response.cookies
    assert "arkindex.csrf" in response.cookies
    # The session alone authenticates reads.
    assert api.get("/api/v1/user/").json()["email"] == "carol@example.com"


def test_a_superuser_logs_in_as_admin(api, superuser):
    response = login(api, email="alice@example.com")
    assert response.status_code == 200
    assert response.json()["is_admin"] is True


def test_a_wrong_password_is_a_401_in_the_error_format(api, corpus_admin):
    response = login(api, password="wrong password")
    errors = assert_unauthorized(response, code="authentication_failed")
    assert errors[0]["detail"] == "Wrong email or password."
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_an_unknown_email_is_the_same_401(api, corpus_admin):
    response = login(api, email="nobody@example.com")
    errors = assert_unauthorized(response, code="authentication_failed")
    assert errors[0]["detail"] == "Wrong email or password."


def test_an_inactive_user_cannot_log_in(api):
    UserFactory(email="gone@example.com", is_active=False)
    assert_unauthorized(login(api, email="gone@example.com"), code="authentication_failed")


def test_missing_fields_name_each_field(api):
    response = api.post(LOGIN, {}, format="json")
    errors = assert_error(response, 400, code="required", attr=["email"])
    assert [error["attr"] for error in errors] == [["email"], ["password"]]


def test_a_malformed_email_is_refused(api):
    response = login(api, email="not an email")
    assert_error(response, 400, code="invalid", attr=["email"])


def test_a_stale_token_header_does_not_prevent_login(api, corpus_admin):
    response = login(api, HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 200


@login_rate("3/min")
def test_login_is_throttled_per_client_address(api, corpus_admin):
    statuses = [login(api, password="wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    # Over the rate, even the right password is refused.
    response = login(api)
    errors = assert_error(response, 429, code="throttled")
    assert "available in" in errors[0]["detail"]
    assert int(response["Retry-After"]) > 0
    # Another address has its own count.
    assert login(api, REMOTE_ADDR="192.0.2.10").status_code == 200


@login_rate("3/min")
def test_a_forged_forwarded_address_does_not_escape_the_throttle(api, corpus_admin):
    statuses = [
        login(api, password="wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


@login_rate("2/min", NUM_PROXIES=1)
def test_behind_a_proxy_the_address_it_appends_is_throttled(api, corpus_admin):
    def attempt(forwarded_for):
        return login(api, password="wrong", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # The proxy appends the address it saw; what the client wrote before it is ignored.
    assert [attempt(f"10.0.0.{n}, 203.0.113.1") for n in range(3)] == [401, 401, 429]
    assert attempt("203.0.113.2") == 401


def test_login_is_let_through_when_the_shared_cache_is_unreachable(settings, superuser, caplog):
    """Redis down: the throttle lets requests through (and says so) rather than failing."""
    import socket

    from django.core.cache import caches

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed}/0",
        }
    }
    try:
        client = APIClient()
        assert login(client, email=superuser.email, password="wrong").status_code == 401
        response = login(client, email=superuser.email)
        assert response.status_code == 200
        assert UserToken.objects.filter(key_hash=hash_key(response.json()["auth_token"])).exists()
        assert "not applied, its cache is unreachable" in caplog.text
    finally:
        caches["default"].close()
