"""The customer page after "registered": the number's health in a merchant's words, when setup can
be tried again, withdrawing a number not yet verified, and the open limit's way to a number
already open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from nxwa_onboarding import signals
from nxwa_onboarding.choices import AccountState, HealthSource, NameReview
from nxwa_onboarding.models import ClientSetupCall, NumberHealth, PhoneRegistration
from nxwa_onboarding.services import health
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.pages import DIGITS, page, shown, start, start_response, text_of, url
from tests.helpers.services import caught, rules

pytestmark = pytest.mark.django_db

NUMBERS = ["+86 138 0013 8000", "+86 139 0013 9000", "+86 137 0013 7000"]
Status = PhoneRegistration.Status


def test_at_the_open_limit_retyping_an_open_number_goes_to_it(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=2):
        first = start(signed_in, NUMBERS[0])
        start(signed_in, NUMBERS[1])
        response = start_response(signed_in, NUMBERS[0])
    assert response.status_code == 302
    assert response["Location"] == first.get_absolute_url()
    assert len(nxcloud.calls_to("getCode")) == 2


# -- the number's health on its page -------------------------------------------------------------------


def registered_with(owner: Any, **fields: Any) -> PhoneRegistration:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number=DIGITS, owner=owner, status=Status.REGISTERED, verified_at=now, registered_at=now
    )
    stamps: dict[str, Any] = {}
    for names, source, at in health.PARTS.values():
        if any(name in fields for name in names):
            stamps[source] = HealthSource.WEBHOOK
            stamps[at] = now
    NumberHealth.objects.create(registration=registration, **fields, **stamps)
    return registration


STATES: dict[str, dict[str, Any]] = {
    "name rejected": {
        "fields": {
            "name_review": NameReview.REJECTED,
            "display_name": "acme",
            "name_rejection_reason": "NAME_FORMAT",
        },
        "en": ["Display name not approved", "Reason given: NAME_FORMAT", "request it"],
        "zh": ["显示名称未获批准", "NAME_FORMAT"],
    },
    "banned": {
        "fields": {"account_state": AccountState.BANNED},
        "en": ["WhatsApp has banned this number", "Contact our support team"],
        "zh": ["WhatsApp 已封禁此号码"],
    },
    "restricted": {
        "fields": {"account_state": AccountState.RESTRICTED, "account_reason": "SPAM"},
        "en": ["WhatsApp has restricted this number", "Reason given: SPAM"],
        "zh": ["WhatsApp 已限制此号码", "SPAM"],
    },
    "name pending": {
        "fields": {
            "name_review": NameReview.PENDING,
            "quality_rating": "GREEN",
            "messaging_limit": "TIER_2K",
        },
        "en": ["Display name in review", "one to three working days", "High", "2,000 customers a day"],
        "zh": ["显示名称审核中"],
    },
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_registered_numbers_health_reads_in_a_merchants_words(
    signed_in: Client, customer: Any, state: str, language: str
) -> None:
    registration = registered_with(customer, **STATES[state]["fields"])
    accept = "zh-hans" if language == "zh" else "en"
    html = signed_in.get(registration.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=accept).content.decode()
    words = text_of(html)
    for expected in STATES[state][language]:
        assert expected in words, (expected, words[:3000])
    assert "data-nxwa-health" in html


def test_the_support_contact_is_named_when_set(signed_in: Client, customer: Any) -> None:
    registration = registered_with(customer, account_state=AccountState.BANNED)
    with rules(SUPPORT_CONTACT="help@example.com"):
        words = text_of(page(signed_in, registration))
    assert "Contact help@example.com" in words


def test_no_health_box_before_registered_or_before_anything_was_read(
    signed_in: Client, customer: Any
) -> None:
    registration = registered_with(customer)
    assert "data-nxwa-health" not in page(signed_in, registration)


def test_a_verified_number_whose_budget_is_spent_says_when_setup_can_be_tried_again(
    signed_in: Client, customer: Any
) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number=DIGITS, owner=customer, status=Status.VERIFIED, verified_at=now
    )
    ClientSetupCall.objects.create(
        phone_number=DIGITS,
        registration=registration,
        locked_until=now + timedelta(hours=72),
        finished_at=now,
    )
    words = text_of(page(signed_in, registration))
    assert "Setup is paused for this number" in words
    assert "You can try again in 72 hours" in words


# -- withdrawing ---------------------------------------------------------------------------------------


def test_withdraw_frees_the_number_and_the_slot_and_is_recorded(
    signed_in: Client, customer: Any, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=1):
        mistyped = start(signed_in, NUMBERS[0])
        assert "Withdraw this number" in page(signed_in, mistyped)
        with caught(signals.registration_closed) as closed:
            response = signed_in.post(url("withdraw", mistyped))
        assert response.status_code == 302
        assert "withdrawn" in " ".join(shown(signed_in, response))
        start(signed_in, NUMBERS[1])  # the slot is free at once
    mistyped.refresh_from_db()
    assert mistyped.status == Status.CLOSED
    assert (mistyped.closed_by, mistyped.close_reason) == (customer, "Withdrawn by its customer.")
    assert mistyped.closed_at is not None
    assert [item["by"] for item in closed] == [customer]
    assert PhoneRegistration.objects.open_for(mistyped.phone_number).count() == 0


def test_a_verified_number_is_not_withdrawn_and_the_page_says_how_to_ask(
    signed_in: Client, customer: Any
) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number=DIGITS, owner=customer, status=Status.VERIFIED, verified_at=now
    )
    html = page(signed_in, registration)
    assert "Withdraw this number" not in html
    assert "contact our support team" in text_of(html)
    response = signed_in.post(url("withdraw", registration))
    assert "cannot be withdrawn" in " ".join(shown(signed_in, response))
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED


def test_someone_elses_registration_cannot_be_withdrawn(
    client: Client, customer: Any, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    client.force_login(customer)
    theirs = start(client, NUMBERS[0])
    client.force_login(other_customer)
    assert client.post(url("withdraw", theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.CODE_SENT
