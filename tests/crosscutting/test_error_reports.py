"""Django's own error reports (``ExceptionReporter``: the technical 500 page at DEBUG on, the
error mails at DEBUG off) of exceptions raised during real NXCloud calls never show the access
secret, a sign or a verification code: at DEBUG on and off, in HTML and in text.

Each exception comes from a real client on a real session: a loopback server that drops the
connection after reading the request, one that never answers (read timeout), a port with
nothing listening, or an adapter that raises ``RuntimeError`` mid-send after the request was
prepared and signed. The signs looked for are the ones that session actually sent. Each report
is checked to be a real one (the client's frames, with their locals) before it is searched.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any
from unittest import mock

import pytest
import requests
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter

from harness.loopback import Behaviour, closed_port, loopback
from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.nxcloud.exceptions import TransportError
from nxwa_onboarding.services import calls
from tests.helpers.services import PHONE, answer, mocked_nxcloud, send_code
from tests.helpers.users import PASSWORD
from tests.helpers.wire import CANARY_SECRET, Captured, RecordingAdapter, make_client

pytestmark = pytest.mark.django_db

#: The settings' secret (tests/settings.py): Django cleanses settings, and must go on doing so.
SETTINGS_SECRET = "test-access-secret-CANARY-7f3a"
#: Eight digits, so that it cannot turn up by chance inside an address or an id in a report.
CODE = "90817263"
TYPED_CODE = "9081-7263"
SHORT_TIMEOUT = (0.5, 0.3)
FAULTS = ["dropped", "read-timeout", "refused", "runtime-error"]


class Transport:
    """What the session handed to the network: every request, with its sign."""

    def __init__(self, adapter: RecordingAdapter) -> None:
        self.adapter = adapter

    @property
    def signs(self) -> list[str]:
        return [request.headers["sign"] for request in self.adapter.sent]


class BrokenAdapter(RecordingAdapter):
    """Records every request; raises ``RuntimeError`` mid-send for ``action`` (a prepared,
    signed request in requests' frames), sends the others."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if str(request.url).endswith("/" + self.action):
            self.sent.append(Captured.from_prepared(request, **kwargs))
            raise RuntimeError("the transport broke mid-send")
        return super().send(request, **kwargs)


@contextmanager
def failing(fault: str, action: str) -> Iterator[Transport]:
    """The services' client, for the block: a real client with the canary secret whose
    ``action`` fails as ``fault`` says (other actions are answered 0 by a loopback server)."""
    with loopback() as server:
        base_url = server.base_url
        if fault == "dropped":
            server.push(Behaviour(kind="drop"))
        elif fault == "read-timeout":
            server.push(Behaviour(kind="hang"))
        elif fault == "refused":
            base_url = f"http://127.0.0.1:{closed_port()}"
        adapter = BrokenAdapter(action if fault == "runtime-error" else "-")
        client = make_client(base_url, timeout=SHORT_TIMEOUT)
        client.session.mount("http://", adapter)
        try:
            with mock.patch.object(calls, "get_client", return_value=client):
                yield Transport(adapter)
        finally:
            client.session.close()


def reports(exc: BaseException, request: HttpRequest | None = None) -> str:
    """Django's HTML report (as written and unescaped) and its text report of ``exc``."""
    reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
    html = reporter.get_traceback_html()
    return "\n".join([html, unescape(html), reporter.get_traceback_text()])


def assert_clean(report: str, signs: list[str], *, frames: tuple[str, ...]) -> None:
    # The report is a real one: it has the frames it should, with their locals rendered.
    for frame in frames:
        assert frame in report, f"the report has no frame of {frame}"
    assert "Local vars" in report
    assert signs, "no request was signed"
    for sign in signs:
        assert re.fullmatch(r"[0-9a-f]{32}", sign)
    for value, name in [
        (CANARY_SECRET, "the access secret"),
        (SETTINGS_SECRET, "the settings' access secret"),
        (CODE, "the code"),
        *((sign, "a sign") for sign in signs),
    ]:
        assert value not in report, f"{name} is in the report"


def raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def with_code(owner: Any = None) -> PhoneRegistration:
    registration = services.create_registration(PHONE, owner=owner)
    send_code(registration)
    return registration


def verified() -> PhoneRegistration:
    registration = with_code()
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode")
        assert services.check_code(registration, CODE).outcome == "accepted"
    return registration


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request: pytest.FixtureRequest, settings: Any) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


# -- through the services ----------------------------------------------------------------------


def check_code_error(registration: PhoneRegistration) -> BaseException:
    """What check_code raised (an unexpected error) or, for the failures it records, the client's
    exception as ``calls.classify`` got it (what a ``logger.exception`` there reports)."""
    seen: list[Exception] = []
    classify = calls.classify

    def spy(err: Exception, duration_ms: int) -> calls.CallResult:
        seen.append(err)
        return classify(err, duration_ms)

    with mock.patch.object(calls, "classify", spy):
        try:
            services.check_code(registration, TYPED_CODE)
        except Exception as exc:
            return exc
    (error,) = seen
    return error


@pytest.mark.parametrize("fault", FAULTS)
def test_check_code(fault: str, debug: bool) -> None:
    registration = with_code()
    with failing(fault, "checkCode") as transport:
        error = check_code_error(registration)
    assert isinstance(error, RuntimeError if fault == "runtime-error" else TransportError)
    assert_clean(reports(error), transport.signs, frames=("nxwa_onboarding/nxcloud/client.py", "in call"))


@pytest.mark.parametrize("fault", FAULTS)
def test_create_client(fault: str, debug: bool) -> None:
    registration = verified()
    with failing(fault, "createClient") as transport:
        error = raised(lambda: services.create_client(registration))
    assert isinstance(error, RuntimeError if fault == "runtime-error" else TransportError)
    assert_clean(
        reports(error),
        transport.signs,
        frames=("nxwa_onboarding/services/client_setup.py", "nxwa_onboarding/nxcloud/client.py"),
    )


# -- through the customer's check page ---------------------------------------------------------


@contextmanager
def reported_by_django() -> Iterator[list[str]]:
    """The reports Django's handler would write for an exception in a view (its error mails
    build them exactly so, at DEBUG off), from ``got_request_exception`` with the request."""
    seen: list[str] = []

    def receiver(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
        exc = sys.exc_info()[1]
        assert exc is not None
        seen.append(reports(exc, request))

    got_request_exception.connect(receiver, dispatch_uid="test_error_reports")
    try:
        yield seen
    finally:
        got_request_exception.disconnect(dispatch_uid="test_error_reports")


@pytest.mark.parametrize("action", ["checkCode"])
def test_the_check_page(action: str, debug: bool, customer: Any) -> None:
    """A RuntimeError in checkCode's send (re-raised by check_code): a 500, whose report shows
    the posted code as stars. (createClient no longer runs in this request: it is a task,
    enqueued once the check commits; ``tests/services/test_follow.py``.)"""
    registration = with_code(owner=customer)
    browser = Client(raise_request_exception=False)
    assert browser.login(username=customer.username, password=PASSWORD)
    url = reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
    with failing("runtime-error", action) as transport, reported_by_django() as seen:
        response = browser.post(url, {"code": TYPED_CODE}, headers={"accept": "text/html"})
    assert response.status_code == 500
    (report,) = seen
    if debug:  # the technical 500 page itself
        report += "\n" + response.content.decode()
    assert "RuntimeError" in report
    assert re.search(r"code\W+\*{10,}", unescape(report)), "the POST's code is not shown as stars"
    assert TYPED_CODE not in report
    assert_clean(
        report,
        transport.signs,
        frames=("nxwa_onboarding/pages/views.py", "nxwa_onboarding/nxcloud/client.py"),
    )
