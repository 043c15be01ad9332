"""Helpers for the model and service tests: NXCloud answers through ``responses``, the rules'
settings through ``override_settings``, registrations in a known state and signal catchers.

Plain functions and context managers (no fixtures), so each test module imports what it uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import requests
import responses
from django.conf import settings
from django.dispatch import Signal
from django.test import override_settings
from urllib3.exceptions import MaxRetryError, NewConnectionError

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration

BASE_URL = "https://api2.nxcloud.com"
PREFIX = "/api/wa/integrator/embedded/register/"
PHONE = "8613800138000"
OTHER_PHONE = "8613900139000"
THIRD_PHONE = "8615012345678"
#: A distinctive code: it must never reach the database, a dump or a log.
CODE = "864209"
WRONG = "111111"
#: Where the tests that move the clock start (a Monday morning, UTC).
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def url(action: str) -> str:
    return BASE_URL + PREFIX + action


def rules(**overrides: Any) -> override_settings:
    """``override_settings`` of NXWA_ONBOARDING with some keys changed (the others as in tests)."""
    return override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, **overrides})


@contextmanager
def mocked_nxcloud() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request. An unregistered request fails loudly and is still
    recorded in ``calls``, so ``assert not rsps.calls`` proves that no request was made."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def answer(
    rsps: responses.RequestsMock,
    action: str,
    code: int = 0,
    message: str = "",
    data: Any = None,
    status: int = 200,
) -> None:
    rsps.post(
        url(action), json={"code": code, "message": message or f"code {code}", "data": data}, status=status
    )


def fail_with(rsps: responses.RequestsMock, action: str, error: Exception) -> None:
    rsps.post(url(action), body=error)


def never_connected() -> requests.ConnectionError:
    """What requests raises when the TCP connection was refused: the request never left."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def calls_to(rsps: responses.RequestsMock, action: str) -> list[Any]:
    return [call for call in rsps.calls if (call.request.url or "").endswith("/" + action)]


def body_of(call: Any) -> dict[str, Any]:
    body = call.request.body
    return dict(json.loads(body.decode() if isinstance(body, bytes) else body))


def new_registration(phone: str = PHONE) -> PhoneRegistration:
    return services.create_registration(phone)


def with_code(phone: str = PHONE, **request_kwargs: Any) -> PhoneRegistration:
    """A registration whose code was sent now (getCode answered 0)."""
    registration = new_registration(phone)
    send_code(registration, **request_kwargs)
    return registration


def send_code(registration: PhoneRegistration, **kwargs: Any) -> CodeRequest:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        code_request = services.request_code(registration, **kwargs)
    assert code_request.outcome == CodeRequest.Outcome.SENT, code_request.refusal_reason
    return code_request


def check(registration: PhoneRegistration, code: str, result: int = 0, **kwargs: Any) -> Any:
    """check_code with checkCode answering ``result``."""
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", result)
        attempt = services.check_code(registration, code, **kwargs)
    return attempt


def verified(phone: str = PHONE) -> PhoneRegistration:
    registration = with_code(phone)
    attempt = check(registration, CODE)
    assert attempt.outcome == "accepted"
    return registration


@contextmanager
def caught(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    """Every ``signal`` sent inside the block, as its keyword arguments."""
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signal.connect(receiver, weak=False, dispatch_uid=f"test-{id(received)}")
    try:
        yield received
    finally:
        signal.disconnect(dispatch_uid=f"test-{id(received)}")


def eventually(predicate: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def listed_number(phone_display: str, register_status: int, **extra: Any) -> dict[str, Any]:
    """One number as phoneList lists it (``display_phone_number`` with its plus and spaces)."""
    return {
        "display_phone_number": phone_display,
        "register_status": register_status,
        "status": "CONNECTED",
        "quality_rating": "GREEN",
        "verified_name": "Acme Trading",
        "waba_id": "1029384756",
        "waba_name": "Acme WABA",
        **extra,
    }
