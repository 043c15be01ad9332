"""``services.create_client``: createClient's outcomes, its claim committed before the call, and
a lost call settled from phoneList rather than sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.utils import timezone

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.nxcloud.exceptions import (
    InvalidStateError,
    NXCloudBusinessError,
    TransportError,
)
from tests.helpers.services import (
    PHONE,
    answer,
    body_of,
    calls_to,
    caught,
    fail_with,
    listed_number,
    mocked_nxcloud,
    never_connected,
    new_registration,
    verified,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


# -- createClient ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["new", "code_sent", "failed"])
def test_create_client_before_verification_is_invalid(status: str) -> None:
    registration = new_registration()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=status)
    with caught(signals.client_created) as sent, mocked_nxcloud() as rsps, pytest.raises(InvalidStateError):
        services.create_client(registration)
    assert not rsps.calls
    assert not sent


def test_create_client(django_user_model: Any) -> None:
    registration = verified()
    user = django_user_model.objects.create_user("clerk")
    with caught(signals.client_created) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        result = services.create_client(registration, user=user)
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE}
    assert result.status == Status.CLIENT_CREATED
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    assert len(sent) == 1
    assert sent[0]["registration"].pk == registration.pk
    # again: a no-op, no request, no signal
    with caught(signals.client_created) as again, mocked_nxcloud() as rsps:
        services.create_client(registration)
        assert not rsps.calls
    assert not again


def test_create_client_errors_are_raised_and_leave_it_verified() -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient", 9001)
        with pytest.raises(NXCloudBusinessError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED


def test_create_client_is_claimed_before_the_call_and_never_doubled() -> None:
    """createClient is not idempotent: the claim is committed before the call, a second caller
    is refused while the first call's outcome is unknown, and a retry is allowed once any call
    still under way must have ended."""
    registration = verified()
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.client_requested_at is not None  # the evidence stays
    with mocked_nxcloud() as rsps, pytest.raises(InvalidStateError, match="already being created"):
        services.create_client(registration)
    assert not rsps.calls
    with (
        time_machine.travel(timezone.now() + services.stale_after() + timedelta(seconds=1)),
        mocked_nxcloud() as rsps,
    ):
        # Any call under way has ended: phoneList settles it. Not listed: still unknown, and
        # never sent again automatically; only a person resends (the admin's action).
        answer(rsps, "phoneList", data=[listed_number("+86 139 0013 9000", 5)])
        with pytest.raises(InvalidStateError, match="Staff can send it again"):
            services.create_client(registration)
        assert len(calls_to(rsps, "phoneList")) == 1
        assert calls_to(rsps, "createClient") == []
        answer(rsps, "createClient")
        assert services.create_client(registration, resend_unknown=True).status == Status.CLIENT_CREATED
        assert len(calls_to(rsps, "createClient")) == 1


def lost_create_client() -> PhoneRegistration:
    """A verified registration whose createClient got no answer, long enough ago."""
    registration = verified()
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        client_requested_at=timezone.now() - services.stale_after() - timedelta(seconds=1)
    )
    return registration


@pytest.mark.parametrize(("register_status", "expected"), [(3, "client_created"), (5, "registered")])
def test_a_lost_create_client_that_took_is_settled_from_phone_list_and_not_resent(
    register_status: int, expected: str
) -> None:
    registration = lost_create_client()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", register_status)])
        assert services.create_client(registration).status == expected
        assert calls_to(rsps, "createClient") == []
    registration.refresh_from_db()
    assert registration.status == expected


def test_staff_may_send_a_lost_create_client_again_without_asking_phone_list() -> None:
    registration = lost_create_client()
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        created = services.create_client(registration, resend_unknown=True)
        assert created.status == Status.CLIENT_CREATED
        assert calls_to(rsps, "phoneList") == []
        assert len(calls_to(rsps, "createClient")) == 1


@pytest.mark.parametrize("failure", [9001, never_connected()], ids=["refused by NXCloud", "never connected"])
def test_a_create_client_that_certainly_failed_can_be_retried_at_once(failure: Any) -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        if isinstance(failure, int):
            answer(rsps, "createClient", failure)
        else:
            fail_with(rsps, "createClient", failure)
        with pytest.raises((NXCloudBusinessError, TransportError)):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.client_requested_at is None
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        assert services.create_client(registration).status == Status.CLIENT_CREATED
        assert len(calls_to(rsps, "createClient")) == 1
