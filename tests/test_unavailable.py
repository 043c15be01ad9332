"""The database unreachable during a request: every customer page and the JSON API answer a calm
503 (our template, ``Retry-After``, translated words, no traceback, no SQL), rendered without a
single query. Every query is refused here with the error psycopg raises for a dead server; the
real outage (PostgreSQL restarted under load) is ``tests/crosscutting/test_faults_restart.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, connection, transaction
from django.test import Client
from django.urls import reverse

from nxwa_onboarding import unavailable
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.pages import urls as customer_urls
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.pages import start, text_of, url

pytestmark = pytest.mark.django_db

CALM = "The service is briefly unavailable. Please try again in a minute."
CALM_ZH = "服务暂时不可用。请一分钟后再试。"
#: What must never reach a customer: the error's name or text, a traceback, SQL.
LEAKS = ("Traceback", "OperationalError", "InterfaceError", "SELECT", "INSERT", "UPDATE", "5432", "refused")


@contextmanager
def database_down(error: type[Exception] = OperationalError) -> Iterator[list[str]]:
    """Every query from here on fails as on a server that is gone; yields the SQL tried."""
    tried: list[str] = []

    def refuse(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        tried.append(sql)
        raise error('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    with connection.execute_wrapper(refuse):
        yield tried


def assert_calm_page(response: Any, words: str = CALM) -> None:
    body = response.content.decode()
    assert response.status_code == 503, body[:500]
    assert response["Retry-After"] == "60"
    assert "no-store" in response["Cache-Control"]
    assert response.templates[0].name == "nxwa_onboarding/unavailable.html"
    assert words in text_of(body)
    assert not [leak for leak in LEAKS if leak in body]


@pytest.fixture
def registration(signed_in: Client, nxcloud: FakeNXCloud) -> PhoneRegistration:
    return start(signed_in)


def test_the_list_above_is_every_customer_page() -> None:
    """A new page joins ``test_every_page_is_a_calm_503...`` (and takes the decorator)."""
    assert {pattern.name for pattern in customer_urls.urlpatterns} == {
        "list",
        "start",
        "detail",
        "check",
        "send",
        "refresh",
        "withdraw",
    }


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_every_page_is_a_calm_503_when_the_database_is_gone(
    signed_in: Client, registration: PhoneRegistration, error: type[Exception]
) -> None:
    pages = [
        ("get", reverse("nxwa_onboarding:list"), {}),
        ("get", reverse("nxwa_onboarding:start"), {}),
        ("post", reverse("nxwa_onboarding:start"), {"phone_number": "+86 139 0013 9000", "method": "sms"}),
        ("get", registration.get_absolute_url(), {}),
        ("post", url("check", registration), {"code": "123456"}),
        ("post", url("send", registration), {"method": "sms"}),
        ("post", url("refresh", registration), {}),
        ("post", url("withdraw", registration), {}),
    ]
    for method, path, data in pages:
        with database_down(error) as tried:
            response = getattr(signed_in, method)(path, data)
        assert_calm_page(response)
        assert tried, path  # the database was really asked (the session, first) and failed


def test_the_page_itself_needs_no_database(signed_in: Client, registration: PhoneRegistration) -> None:
    """The one query tried is the session's: the page, its header and the middleware's response
    phase read nothing (no user, no messages) once it failed."""
    with database_down() as tried:
        assert_calm_page(signed_in.get(registration.get_absolute_url()))
    assert len(tried) == 1
    assert "django_session" in tried[0]


def test_the_page_speaks_the_customers_language(signed_in: Client, registration: PhoneRegistration) -> None:
    with database_down():
        response = signed_in.get(registration.get_absolute_url(), headers={"accept-language": "zh-hans"})
    assert_calm_page(response, CALM_ZH)
    assert response["Content-Language"] == "zh-hans"


@pytest.mark.django_db(transaction=True)  # the failed request's transaction is rolled back
def test_once_the_database_answers_again_the_page_is_back(
    signed_in: Client, registration: PhoneRegistration
) -> None:
    with database_down():
        assert signed_in.get(registration.get_absolute_url()).status_code == 503
    assert signed_in.get(registration.get_absolute_url()).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "registrations/"), ("post", "registrations/"), ("get", "registrations/{id}/")],
)
def test_the_api_answers_the_unavailable_problem(
    signed_in: Client, registration: PhoneRegistration, method: str, path: str
) -> None:
    address = "/onboarding/api/" + path.format(id=registration.public_id)
    csrf = {"X-CSRFToken": signed_in.cookies["csrftoken"].value} if "csrftoken" in signed_in.cookies else {}
    with database_down():
        response = (
            getattr(signed_in, method)(
                address,
                json.dumps({"phone_number": "+86 139 0013 9000"}),
                content_type="application/json",
                headers=csrf,
            )
            if method == "post"
            else signed_in.get(address)
        )
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["Retry-After"] == "60"
    problem = response.json()
    assert problem == {
        "type": "urn:nxwa-onboarding:problem:unavailable",
        "title": "Service briefly unavailable",
        "status": 503,
        "detail": CALM,
    }
    assert not [leak for leak in LEAKS if leak in response.content.decode()]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_the_failure_happened_in_is_rolled_back_not_committed(rf: Any) -> None:
    """A host's ``ATOMIC_REQUESTS``: the view's atomic block must not commit on the broken
    connection (the commit would fail and be a 500); marked for rollback, Django closes it."""
    with transaction.atomic():
        unavailable.database_down(rf.get("/"), OperationalError("gone"))
        assert transaction.get_rollback()


class _Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg's errors.DeadlockDetected carries


class _StatementTimeout(Exception):
    sqlstate = "57014"  # query_canceled: statement_timeout


class _AdminShutdown(Exception):
    sqlstate = "57P01"


def _operational(cause: Exception) -> OperationalError:
    err = OperationalError("...")
    err.__cause__ = cause
    return err


@pytest.mark.parametrize(
    ("err", "level"),
    [
        (_operational(_Deadlock()), logging.ERROR),
        (_operational(_StatementTimeout()), logging.ERROR),
        (OperationalError("database is locked"), logging.ERROR),  # SQLite's lock timeout
        (_operational(_AdminShutdown()), logging.WARNING),
        (OperationalError("connection refused"), logging.WARNING),
        (InterfaceError("connection already closed"), logging.WARNING),
    ],
)
def test_a_database_error_that_is_not_an_outage_is_logged_as_an_error(
    rf: Any, caplog: pytest.LogCaptureFixture, err: Exception, level: int
) -> None:
    with caplog.at_level(logging.WARNING, logger="nxwa_onboarding.unavailable"):
        unavailable.database_down(rf.get("/"), err)
    [record] = caplog.records
    assert record.levelno == level
    assert (record.exc_info is not None) == (level == logging.ERROR)
