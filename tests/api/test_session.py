"""Signing in and out as JSON (``api/session.py``): what the document declares for the session
case, and what a client without a browser does with it: GET for the CSRF token, POST the
credentials with it, DELETE to sign out. Every response is checked against the document."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest
from django.test import Client, override_settings
from django.views.debug import ExceptionReporter

from nxwa_onboarding.api.app import document
from nxwa_onboarding.api.urls import api
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import ApiClient, problem, validate
from tests.helpers.users import PASSWORD

pytestmark = pytest.mark.django_db


def delete(client: ApiClient, path: str, *, csrf: bool = True) -> Any:
    headers = {"X-CSRFToken": client.client.cookies["csrftoken"].value} if csrf else {}
    response = client.client.delete(client.root + path, headers=headers)
    validate("DELETE", client.root + path, response, client.root)
    return response


def test_a_client_signs_in_with_the_token_of_a_get_and_then_uses_the_one_sign_in_returns(
    customer: Any, nxcloud: FakeNXCloud
) -> None:
    client = ApiClient()
    first = client.get("/session")
    assert first.status_code == 200
    body = first.json()
    assert body["authenticated"] is False
    assert body["username"] is None
    assert client.client.cookies["csrftoken"].value  # the cookie Django compares the header with

    login = {"username": "customer", "password": PASSWORD}
    problem(client.post("/session", login, csrf=False), 403, "csrf")  # like Django's login form
    signed_in = client.post("/session", login)
    assert signed_in.status_code == 200, signed_in.content
    session = signed_in.json()
    assert session["authenticated"] is True
    assert session["username"] == "customer"
    assert session["csrf_token"] != body["csrf_token"]  # rotated at sign-in
    assert client.get("/session").json()["authenticated"] is True

    created = client.post("/registrations", {"phone_number": "+86 138 0013 8000"})
    assert created.status_code == 201, created.content
    assert created.json()["phone_e164"] == "+8613800138000"
    assert created.json()["phone_number"] == "8613800138000"  # kept for older clients

    problem(delete(client, "/session", csrf=False), 403, "csrf")
    assert delete(client, "/session").status_code == 204
    problem(client.get("/registrations"), 401, "unauthenticated")
    problem(delete(client, "/session"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "login",
    [
        {"username": "customer", "password": "not-the-password"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_one_problem_that_names_neither_and_echoes_nothing(
    customer: Any, login: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client = ApiClient()
    client.get("/session")
    with caplog.at_level(logging.DEBUG):
        response = client.post("/session", login)
    body = problem(response, 400, "login-failed")
    assert login["password"] not in response.content.decode()
    assert login["password"] not in caplog.text
    assert "customer" not in json.dumps(body)
    assert client.get("/session").json()["authenticated"] is False


def test_an_inactive_account_cannot_sign_in(customer: Any) -> None:
    customer.is_active = False
    customer.save()
    client = ApiClient()
    client.get("/session")
    problem(client.post("/session", {"username": "customer", "password": PASSWORD}), 400, "login-failed")


def test_an_empty_or_missing_field_is_invalid() -> None:
    client = ApiClient()
    client.get("/session")
    body = problem(client.post("/session", {"username": "customer"}), 422, "invalid")
    assert [error["field"] for error in body["errors"]] == ["password"]
    problem(client.post("/session", {"username": "", "password": ""}), 422, "invalid")


def test_the_document_declares_the_session_cookie_with_the_csrf_header_and_cookie() -> None:
    doc = document(api)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["SessionAuth"] | {"description": ""} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "",
    }
    assert schemes["CSRFToken"]["in"] == "header"
    assert schemes["CSRFToken"]["name"] == "X-CSRFToken"
    assert schemes["CSRFCookie"]["in"] == "cookie"
    assert schemes["CSRFCookie"]["name"] == "csrftoken"
    needs = {
        (method.upper(), path): operation["security"]
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
    }
    session: dict[str, list[str]] = {"SessionAuth": []}
    unsafe: dict[str, list[str]] = {"SessionAuth": [], "CSRFToken": [], "CSRFCookie": []}
    assert needs == {
        ("GET", "/registrations"): [session],
        ("POST", "/registrations"): [unsafe],
        ("GET", "/registrations/{public_id}"): [session],
        ("DELETE", "/registrations/{public_id}"): [unsafe],
        ("POST", "/registrations/{public_id}/check"): [unsafe],
        ("POST", "/registrations/{public_id}/send"): [unsafe],
        ("POST", "/registrations/{public_id}/refresh"): [unsafe],
        ("GET", "/session"): [],
        ("POST", "/session"): [{"CSRFToken": [], "CSRFCookie": []}],
        ("DELETE", "/session"): [unsafe],
    }


def test_a_token_mount_declares_its_bearer_scheme_and_has_no_session() -> None:
    served = Client().get("/token-api/openapi.json").json()
    assert served["servers"] == [{"url": "/token-api", "description": "Where the API is mounted."}]
    assert served["components"]["securitySchemes"] == {"TokenAuth": {"type": "http", "scheme": "bearer"}}
    assert "/session" not in served["paths"]
    assert {
        json.dumps(operation["security"])
        for operations in served["paths"].values()
        for operation in operations.values()
    } == {json.dumps([{"TokenAuth": []}])}
    assert Client().get("/token-api/session").status_code == 404


@pytest.mark.parametrize("debug", [False, True])
def test_an_error_during_sign_in_is_a_500_problem_whose_report_hides_the_password(
    customer: Any, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "a-password-nobody-may-see"
    customer.set_password(secret)
    customer.save()
    client = ApiClient(raise_request_exception=False)
    client.get("/session")
    # After the credentials are checked: every frame of ours is on the stack, the password
    # among their locals only as pydantic's SecretStr.
    with (
        override_settings(DEBUG=debug),
        mock.patch("nxwa_onboarding.api.session.login", side_effect=RuntimeError("boom")),
        caplog.at_level(logging.ERROR, logger="django.request"),
    ):
        response = client.post("/session", {"username": "customer", "password": secret})
    problem(response, 500, "server-error")
    assert secret not in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert record.exc_info is not None
    report = ExceptionReporter(record.request, *record.exc_info)  # type: ignore[attr-defined]
    for text in (report.get_traceback_text(), report.get_traceback_html()):
        assert "RuntimeError" in text
        assert secret not in text
