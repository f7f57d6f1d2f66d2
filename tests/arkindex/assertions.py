"""Assertions on the error format of SPEC §2, shared by the API tests of every package."""

ERROR_KEYS = {"code", "detail", "attr"}


def assert_error(response, status, *, code=None, attr=None, error_type=None):
    """Check an error answer: its status, the exact shape of its body, and return its errors.

    `attr` is the expected `attr` of the first error (None by default); `error_type`
    defaults to `validation_error` for 400s naming a field, `server_error` for 5xx, and
    `client_error` otherwise.
    """
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    if error_type is None:
        if status >= 500:
            error_type = "server_error"
        elif status == 400 and attr is not None:
            error_type = "validation_error"
        else:
            error_type = "client_error"
    assert body["type"] == error_type, body
    errors = body["errors"]
    assert errors, body
    for error in errors:
        assert set(error) == ERROR_KEYS, error
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["detail"], str) and error["detail"], error
        assert error["attr"] is None or (
            isinstance(error["attr"], list)
            and all(isinstance(part, str | int) for part in error["attr"])
        ), error
    assert errors[0]["attr"] == attr, errors
    if code is not None:
        assert errors[0]["code"] == code, errors
    return errors


def assert_unauthorized(response, code="not_authenticated"):
    """A 401 in the error format, with the WWW-Authenticate header clients rely on."""
    errors = assert_error(response, 401, code=code)
    assert response.has_header("WWW-Authenticate"), dict(response.headers)
    return errors
