"""Logging in and out: one session for the pages and the API, CSRF on every form."""

import pytest
from django.contrib.sessions.models import Session

from tests.factories import UserFactory
from tests.pages.conftest import assert_error_page, csrf_token, page_client, text

pytestmark = pytest.mark.django_db

PASSWORD = "hunter22hunter"


def test_the_root_redirects_to_the_pages(anonymous):
    response = anonymous.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/ui/"


def test_without_a_session_the_pages_lead_to_the_login_form(anonymous):
    for path in ["/ui/", "/ui/agents/", "/ui/process/00000000-0000-0000-0000-000000000000/"]:
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/ui/login/?next=/ui/"), response["Location"]
    response = anonymous.get("/ui/login/")
    assert response.status_code == 200
    body = text(response)
    assert "Log in" in body and "Email" in body and "Password" in body
    assert response.cookies["arkindex.csrf"].value


def test_logging_in_opens_a_session_the_api_accepts_too(outsider):
    client = page_client(csrf=True)
    token = csrf_token(client)
    response = client.post(
        "/ui/login/",
        {"email": outsider.email, "password": PASSWORD, "next": "/ui/agents/",
         "csrfmiddlewaretoken": token},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == "/ui/agents/"
    assert "Farms and agents" in text(client.get("/ui/agents/"))
    # The same session answers the API, as the frontend uses it.
    api = client.get("/api/v1/user/")
    assert api.status_code == 200
    assert api.json()["email"] == outsider.email
    assert Session.objects.count() == 1


def test_the_api_login_opens_a_session_the_pages_accept(contributor, process):
    client = page_client()
    response = client.post(
        "/api/v1/user/login/",
        {"email": contributor.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["email"] == contributor.email
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "Main process" in text(page)


def test_a_wrong_password_shows_the_form_again_with_the_reason(outsider):
    client = page_client()
    response = client.post("/ui/login/", {"email": outsider.email, "password": "nope"})
    assert response.status_code == 400
    body = text(response)
    assert "Wrong email or password." in body
    assert outsider.email in response.content.decode()
    assert Session.objects.count() == 0
    assert client.get("/ui/").status_code == 302


def test_a_malformed_login_form_is_a_400_naming_the_field(anonymous):
    response = anonymous.post("/ui/login/", {"email": "not an email", "password": ""})
    assert response.status_code == 400
    body = text(response)
    assert "email: Enter a valid email address." in body
    assert "password: This field may not be blank." in body
    assert Session.objects.count() == 0


def test_login_attempts_are_throttled_like_the_api_login(settings, outsider):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "2/min"},
    }
    client = page_client()
    for _ in range(2):
        response = client.post("/ui/login/", {"email": outsider.email, "password": "x"})
        assert response.status_code == 400
    response = client.post("/ui/login/", {"email": outsider.email, "password": PASSWORD})
    assert_error_page(response, 429, "Too many login attempts")
    assert Session.objects.count() == 0


def test_only_pages_of_this_site_are_reached_after_logging_in(outsider):
    for target in ["https://elsewhere.example/ui/", "//elsewhere.example/ui/", "/admin/", ""]:
        client = page_client()
        response = client.post(
            "/ui/login/", {"email": outsider.email, "password": PASSWORD, "next": target}
        )
        assert response.status_code == 302, target
        assert response["Location"] == "/ui/", target


def test_the_login_form_needs_its_csrf_token(outsider):
    client = page_client(csrf=True)
    response = client.post("/ui/login/", {"email": outsider.email, "password": PASSWORD})
    assert_error_page(response, 403, "Form refused", "reload the page")
    assert Session.objects.count() == 0


def test_logging_out_ends_the_session_for_the_api_too(outsider):
    client = page_client(csrf=True)
    client.post(
        "/ui/login/",
        {"email": outsider.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(client)},
    )
    token = csrf_token(client, "/ui/")
    assert Session.objects.count() == 1
    # Without the token, the logout form is refused and the session stays.
    assert_error_page(client.post("/ui/logout/"), 403, "Form refused")
    assert Session.objects.count() == 1
    response = client.post("/ui/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == "/ui/login/"
    assert Session.objects.count() == 0
    assert client.get("/ui/").status_code == 302
    assert client.get("/api/v1/user/").status_code in (401, 403)


def test_logging_out_is_a_form_not_a_link(outsider):
    client = page_client(outsider)
    assert_error_page(client.get("/ui/logout/"), 405, "Log out with the button")
    assert Session.objects.count() == 1


def test_a_user_without_a_usable_password_cannot_log_in(db):
    user = UserFactory(email="nopass@example.com")
    user.set_unusable_password()
    user.save()
    response = page_client().post("/ui/login/", {"email": user.email, "password": "!"})
    assert response.status_code == 400
    assert Session.objects.count() == 0
