"""``services.refresh_status``: phoneList's register_status moving one registration on."""

from __future__ import annotations

from typing import Any

import pytest

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import PhoneRegistration
from tests.helpers.services import (
    PHONE,
    answer,
    body_of,
    caught,
    listed_number,
    mocked_nxcloud,
    new_registration,
    verified,
    with_code,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


# -- phoneList -------------------------------------------------------------------------------------


def test_refresh_status_registered_at_5() -> None:
    registration = verified()
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(
            rsps,
            "phoneList",
            data=[listed_number("+1 415 555 0100", 3), listed_number("+86 138 0013 8000", 5)],
        )
        services.refresh_status(registration)
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"appkey": "test-app-key"}
    registration.refresh_from_db()
    assert registration.status == Status.REGISTERED
    assert registration.register_status == 5
    assert registration.registered_at is not None
    assert (registration.number_status, registration.quality_rating) == ("CONNECTED", "GREEN")
    assert (registration.verified_name, registration.waba_id, registration.waba_name) == (
        "Acme Trading",
        "1029384756",
        "Acme WABA",
    )
    assert registration.last_synced_at is not None
    assert len(sent) == 1
    # listed again: no second signal, registered_at unchanged
    first_registered_at = registration.registered_at
    with caught(signals.registration_completed) as again, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", 5)])
        services.refresh_status(registration, appkey="another-app")
        assert body_of(rsps.calls[0]) == {"appkey": "another-app"}
    registration.refresh_from_db()
    assert registration.registered_at == first_registered_at
    assert not again


@pytest.mark.parametrize(
    ("start", "register_status", "expected"),
    [
        ("verified", 1, "failed"),
        ("verified", 2, "failed"),
        ("client_created", 1, "failed"),
        ("client_created", 2, "failed"),
        ("verified", 3, "client_created"),
        ("verified", 4, "client_created"),
        ("client_created", 3, "client_created"),
        ("client_created", 5, "registered"),
        ("code_sent", 1, "code_sent"),  # not verified yet: a stale listing does not close it
    ],
)
def test_refresh_status_moves_the_status(start: str, register_status: int, expected: str) -> None:
    registration = with_code()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=start)
    registration.refresh_from_db()
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", register_status)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == expected
    # An unverified registration takes nothing from phoneList (not even its register_status).
    assert registration.register_status == (register_status if start != "code_sent" else None)
    assert len(sent) == (1 if expected == "registered" else 0)


def test_refresh_status_of_an_unlisted_number_changes_nothing() -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 139 0013 9000", 5)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.last_synced_at is None


@pytest.mark.parametrize("bad", [True, "5", 0, 6, None])
def test_a_register_status_that_is_not_1_to_5_is_ignored(bad: Any) -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", bad)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.register_status is None
    assert registration.last_synced_at is not None


def test_refresh_status_does_not_overwrite_a_change_made_meanwhile() -> None:
    registration = verified()
    stale = PhoneRegistration.objects.get(pk=registration.pk)
    services.refresh_status  # noqa: B018
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=Status.CLIENT_CREATED)
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", 4)])
        services.refresh_status(stale)  # read as 'verified', now 'client_created'
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    assert registration.register_status == 4


def test_a_failed_registration_cannot_come_back_while_another_is_open() -> None:
    old = verified()
    PhoneRegistration.objects.filter(pk=old.pk).update(status=Status.FAILED)
    new_registration(PHONE)
    old.refresh_from_db()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[listed_number("+86 138 0013 8000", 5)])
        services.refresh_status(old)
    old.refresh_from_db()
    assert old.status == Status.FAILED
    assert old.register_status == 5
