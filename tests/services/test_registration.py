"""``services.request_code`` and ``start_registration``: getCode's outcome table, and a
registration kept, refused or started."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
import requests
from django.core.exceptions import ValidationError

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import CodeRequest, PhoneRegistration
from tests.helpers.services import (
    CODE,
    PHONE,
    answer,
    body_of,
    calls_to,
    caught,
    check,
    fail_with,
    mocked_nxcloud,
    never_connected,
    new_registration,
    with_code,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


# -- getCode ---------------------------------------------------------------------------------------


def test_sent() -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        code_request = services.request_code(registration, "voice", ip="203.0.113.7", channel="admin")
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE, "method": "voice"}
    assert code_request.outcome == "sent"
    assert (code_request.method, code_request.channel, code_request.ip) == ("voice", "admin", "203.0.113.7")
    assert code_request.finished_at is not None
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert registration.last_code_method == "voice"
    assert registration.code_sent_at is not None
    assert len(sent) == 1
    assert sent[0]["code_request"].pk == code_request.pk
    assert sent[0]["registration"].pk == registration.pk


@pytest.mark.parametrize("result", [-1, 9001, 9004])
def test_send_rejected(result: int) -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "getCode", result, "no")
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "rejected"
    assert code_request.result_code == result
    registration.refresh_from_db()
    assert registration.status == Status.NEW
    assert not sent


@pytest.mark.parametrize("result", [1001, 1003, 1005, 9000, 9007])
def test_send_failed_on_configuration(result: int, caplog: pytest.LogCaptureFixture) -> None:
    registration = new_registration()
    with caplog.at_level(logging.ERROR), mocked_nxcloud() as rsps:
        answer(rsps, "getCode", result)
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "failed"
    assert any(r.levelno == logging.ERROR and r.name == "nxwa_onboarding.services" for r in caplog.records)
    registration.refresh_from_db()
    assert registration.status == Status.NEW


def test_send_never_connected_is_failed() -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps, mock.patch("time.sleep"):
        for _ in range(3):
            fail_with(rsps, "getCode", never_connected())
        code_request = services.request_code(registration)
    assert code_request.outcome == "failed"
    registration.refresh_from_db()
    assert registration.status == Status.NEW


def test_send_maybe_sent_is_unknown_never_resent_and_lets_a_code_be_typed() -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        fail_with(rsps, "getCode", requests.ReadTimeout("slow"))
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "unknown"
    assert not sent
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert check(registration, CODE).outcome == "accepted"  # the code may have arrived


def test_request_code_refuses_an_unknown_method() -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps, pytest.raises(ValidationError):
        services.request_code(registration, "carrier-pigeon")
    assert not rsps.calls
    assert not CodeRequest.objects.exists()


def test_start_registration_creates_and_sends() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        registration = services.start_registration("+86 138-0013-8000", method="sms", ip="203.0.113.7")
        assert len(calls_to(rsps, "getCode")) == 1
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert registration.code_requests.latest().outcome == "sent"


def test_start_registration_keeps_the_registration_when_the_send_fails() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode", 9001)
        registration = services.start_registration(PHONE)
    assert PhoneRegistration.objects.get().pk == registration.pk
    assert registration.code_requests.latest().outcome == "rejected"


def test_start_registration_refuses_before_anything_is_saved() -> None:
    with mocked_nxcloud() as rsps:
        with pytest.raises(ValidationError):
            services.start_registration(PHONE, method="fax")
        with pytest.raises(ValidationError):
            services.start_registration("+86 123")
        assert not rsps.calls
    assert not PhoneRegistration.objects.exists()


def test_start_registration_for_an_open_number_is_a_validation_error() -> None:
    with_code()
    with mocked_nxcloud() as rsps, pytest.raises(ValidationError, match="already being onboarded"):
        services.start_registration(PHONE)
    assert not rsps.calls
