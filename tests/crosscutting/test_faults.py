"""NXCloud on a bad day, call by call, through the customer page and the admin's enter-code view.

A real loopback server (``harness.loopback``) plays NXCloud: it refuses the connection, accepts
and never answers, answers after the read timeout, drops the connection after reading the
request, answers 500 with HTML, answers truncated JSON, or answers each documented result code.
For each: no 500 page, the right message, the attempt row with the right outcome, no automatic
resend of a call that may have reached NXCloud, and a registration from which the person can go on.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from harness.loopback import Behaviour, LoopbackNXCloud, closed_port, result
from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt

PHONE = "+86 138 0013 8000"
TIMEOUT = (0.5, 0.5)
MAX_TRIES = 5

# What each side says (fragments of the messages the pages show).
CUSTOMER = {
    "accepted": "Your number is verified.",
    "rejected": "That code was not accepted.",
    "unknown": "We could not find out whether your code was accepted",
    "down": "We could not reach WhatsApp",
    "configuration": "Something is wrong on our side",
}
ADMIN = {
    "accepted": "Code accepted",
    "rejected": "NXCloud did not accept the code.",
    "unknown": "it is unknown whether the code was accepted. It was not resent.",
    "down": "NXCloud could not be reached: the code was not checked",
    "configuration": "Configuration problem (NXCloud",
}


LATE_1004 = replace(result(1004), delay=0.002)


@dataclass(frozen=True)
class Fault:
    name: str
    behaviours: tuple[Behaviour, ...]  # empty: nothing listens (connection refused)
    outcome: str
    check_calls: int  # checkCode requests NXCloud received
    message: str  # key into CUSTOMER / ADMIN
    counts: bool  # whether the try counts toward MAX_CHECK_ATTEMPTS


TRANSPORT_FAULTS = [
    Fault("connection refused", (), "failed", 0, "down", counts=False),
    Fault("accepts, never answers", (Behaviour(kind="hang"),), "unknown", 1, "unknown", counts=True),
    Fault(
        "answers after the read timeout",
        (Behaviour(kind="slow", delay=0.8),),
        "unknown",
        1,
        "unknown",
        counts=True,
    ),
    Fault("drops after reading", (Behaviour(kind="drop"),), "unknown", 1, "unknown", counts=True),
    Fault(
        "500 with HTML",
        (
            Behaviour(
                kind="raw",
                status=500,
                body=b"<html><h1>502 Bad Gateway</h1></html>",
                content_type="text/html",
            ),
        ),
        "unknown",
        1,
        "unknown",
        counts=True,
    ),
    Fault(
        "truncated JSON",
        (Behaviour(kind="raw", body=b'{"code": 0, "message": "succ'),),
        "unknown",
        1,
        "unknown",
        counts=True,
    ),
    Fault(
        "HTML with status 200",
        (Behaviour(kind="raw", body=b"<html>maintenance</html>", content_type="text/html"),),
        "unknown",
        1,
        "unknown",
        counts=True,
    ),
    Fault(
        "code as a string", (Behaviour(body={"code": "0", "message": "ok"}),), "unknown", 1, "unknown", True
    ),
]

REJECTING_CODES = [-1, 9001, 9002, 9006, 9008, 9009, 9010]
CONFIGURATION_CODES = [1001, 1002, 1003, 1005, 9000, 9007]

RESULT_FAULTS = [
    Fault("success", (result(0, "success"),), "accepted", 1, "accepted", counts=False),
    *(Fault(f"result {code}", (result(code),), "rejected", 1, "rejected", True) for code in REJECTING_CODES),
    *(
        Fault(f"result {code}", (result(code),), "failed", 1, "configuration", counts=False)
        for code in CONFIGURATION_CODES
    ),
    # 1004 (timestamp) is the one answer that proves NXCloud did nothing: re-signed once. Answered
    # 2 ms late, so that the re-signed retry's ts (in milliseconds) can be told from the first.
    Fault("result 1004 twice", (LATE_1004, result(1004)), "failed", 2, "configuration", False),
    Fault("result 1004, then success", (LATE_1004, result(0)), "accepted", 2, "accepted", False),
]

FAULTS = TRANSPORT_FAULTS + RESULT_FAULTS


@pytest.fixture
def stand_in() -> Iterator[LoopbackNXCloud]:
    with LoopbackNXCloud() as server:
        nxwa = {**settings.NXWA_ONBOARDING, "BASE_URL": server.base_url, "TIMEOUT": TIMEOUT}
        with override_settings(NXWA_ONBOARDING=nxwa):
            yield server


def registration_with_code(owner: Any) -> PhoneRegistration:
    registration = services.start_registration(PHONE, owner=owner, user=owner)
    assert registration.code_requests.get().outcome == CodeRequest.Outcome.SENT
    return registration


def submit(
    channel: str, client: Client, registration: PhoneRegistration, code: str = "123 456"
) -> tuple[int, str]:
    """POST the code through the page; follow the redirect; return the final status and text."""
    if channel == "customer":
        url = reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
    else:
        url = reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[registration.pk])
    response = client.post(url, {"code": code}, follow=True)
    assert response.redirect_chain, "a POST that did something redirects (POST/redirect/GET)"
    return response.status_code, html.unescape(response.content.decode())


def signed_in(channel: str, customer: Any, staff: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(customer if channel == "customer" else staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["customer", "admin"])
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_check_code_fault(
    fault: Fault, channel: str, stand_in: LoopbackNXCloud, customer: Any, staff: Any
) -> None:
    registration = registration_with_code(customer)
    client = signed_in(channel, customer, staff)
    stand_in.push(*fault.behaviours)
    target = stand_in.base_url if fault.behaviours else f"http://127.0.0.1:{closed_port()}"
    nxwa = {**settings.NXWA_ONBOARDING, "BASE_URL": target}
    with override_settings(NXWA_ONBOARDING=nxwa):
        status, text = submit(channel, client, registration)

    assert status == 200
    assert "Traceback" not in text
    expected = (CUSTOMER if channel == "customer" else ADMIN)[fault.message]
    assert expected in text, f"{expected!r} not on the page"
    attempt = VerificationAttempt.objects.get(registration=registration)
    assert attempt.outcome == fault.outcome
    assert attempt.channel == channel
    assert attempt.finished_at is not None
    # Never resent: one request reached the stand-in (two only for 1004, which proves it was ignored).
    assert len(stand_in.calls("checkCode")) == fault.check_calls
    if fault.check_calls == 2:
        first, second = stand_in.calls("checkCode")
        assert first.headers["ts"] != second.headers["ts"] or first.headers["sign"] != second.headers["sign"]

    registration.refresh_from_db()
    state = services.get_state(registration)
    if fault.outcome == "accepted":
        assert registration.status in (
            PhoneRegistration.Status.VERIFIED,
            PhoneRegistration.Status.CLIENT_CREATED,
        )
        return
    # The person can go on: the number is still waiting for its code, another try is allowed.
    assert registration.status == PhoneRegistration.Status.CODE_SENT
    assert state.check.refusal is None
    assert state.check.attempts_used == (1 if fault.counts else 0)
    assert state.check.attempts_left == MAX_TRIES - state.check.attempts_used
    # ...and the next try, with NXCloud healthy again, goes through and is accepted.
    status, text = submit(channel, client, registration)
    assert status == 200
    registration.refresh_from_db()
    assert registration.verified_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["customer", "admin"])
def test_last_wrong_code_leaves_a_way_on(
    channel: str, stand_in: LoopbackNXCloud, customer: Any, staff: Any
) -> None:
    """Five rejections use up the code; the sixth is refused without a call and says to ask anew."""
    registration = registration_with_code(customer)
    client = signed_in(channel, customer, staff)
    stand_in.push(*(result(9001) for _ in range(MAX_TRIES)))
    for _ in range(MAX_TRIES):
        status, _text = submit(channel, client, registration, "000 000")
        assert status == 200
    status, text = submit(channel, client, registration, "000 000")
    assert status == 200
    assert "Ask for a new code" in text
    assert len(stand_in.calls("checkCode")) == MAX_TRIES
    outcomes = list(
        VerificationAttempt.objects.filter(registration=registration).values_list("outcome", flat=True)
    )
    assert sorted(outcomes) == sorted(["rejected"] * MAX_TRIES + ["refused"])


# -- getCode: the customer's "send a new code" and the service ------------------------------------


SEND_FAULTS = [
    ("connection refused", (), "failed", 0),
    ("accepts, never answers", (Behaviour(kind="hang"),), "unknown", 1),
    ("drops after reading", (Behaviour(kind="drop"),), "unknown", 1),
    ("500 with HTML", (Behaviour(kind="raw", status=500, body=b"<html>oops</html>"),), "unknown", 1),
    ("truncated JSON", (Behaviour(kind="raw", body=b'{"code":0,'),), "unknown", 1),
    ("result 9001", (result(9001),), "rejected", 1),
    ("result 1003", (result(1003),), "failed", 1),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("behaviours", "outcome", "calls"),
    [fault[1:] for fault in SEND_FAULTS],
    ids=[fault[0] for fault in SEND_FAULTS],
)
def test_start_page_send_fault(
    behaviours: tuple[Behaviour, ...], outcome: str, calls: int, stand_in: LoopbackNXCloud, customer: Any
) -> None:
    """The start form's getCode fails: the registration exists, the person lands on its page."""
    client = signed_in("customer", customer, customer)
    stand_in.push(*behaviours)
    target = stand_in.base_url if behaviours else f"http://127.0.0.1:{closed_port()}"
    with override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "BASE_URL": target}):
        response = client.post(
            reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"}, follow=True
        )
    assert response.status_code == 200
    assert "Traceback" not in response.content.decode()
    registration = PhoneRegistration.objects.get(owner=customer)
    code_request = registration.code_requests.get()
    assert code_request.outcome == outcome
    assert len(stand_in.calls("getCode")) == calls
    # Going on: with an unknown send the code may arrive, so it can be typed in; otherwise a new
    # code can be asked for (no cooldown, since no code went out).
    state = services.get_state(registration)
    if outcome == "unknown":
        assert registration.status == PhoneRegistration.Status.CODE_SENT
        assert state.check.refusal is None
    else:
        assert registration.status == PhoneRegistration.Status.NEW
        if outcome == "rejected":  # NXCloud was asked: the cooldown runs, as after any call
            assert state.send.refusal is not None
            assert state.send.refusal.reason == "cooldown"
            # The cooldown passes:
            registration.code_requests.update(created_at=timezone.now() - timedelta(minutes=2))
        else:
            assert state.send.refusal is None
        assert services.request_code(registration).outcome == "sent"


@pytest.mark.django_db
def test_transport_faults_through_the_service_never_raise(stand_in: LoopbackNXCloud) -> None:
    """Straight through the service: each fault is a finished row, never an exception."""
    for index, fault in enumerate(TRANSPORT_FAULTS[1:]):
        registration = services.start_registration(f"+86 138 0013 80{index:02d}")
        before = len(stand_in.calls("checkCode"))
        stand_in.push(*fault.behaviours)
        attempt = services.check_code(registration, "123456")
        assert attempt.outcome == fault.outcome, fault.name
        assert attempt.result_message
        assert "123456" not in attempt.result_message
        assert len(stand_in.calls("checkCode")) - before == 1, fault.name
