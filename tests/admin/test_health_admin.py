"""The admin's side of a number's health: shown with each part's source and time and what the
customer is told, filtered by account state and name review; the registration budget shown, and
staff's manual createClient refused (no call) when it is spent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding.choices import AccountState, HealthSource, NameReview
from nxwa_onboarding.models import ClientSetupCall, NumberHealth, PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import (
    CHANGELIST,
    OTHER_PHONE,
    PHONE,
    act,
    change_url,
    html,
    logged_in,
    message_texts,
)

pytestmark = pytest.mark.django_db

Status = PhoneRegistration.Status


def registered(phone: str, **fields: Any) -> PhoneRegistration:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number=phone, status=Status.REGISTERED, verified_at=now, registered_at=now
    )
    NumberHealth.objects.create(
        registration=registration,
        account_source=HealthSource.GET_PHONE,
        account_read_at=now,
        name_source=HealthSource.WEBHOOK,
        name_read_at=now,
        **fields,
    )
    return registration


def test_the_change_page_shows_the_health_with_its_source_and_what_the_customer_is_told(staff: Any) -> None:
    registration = registered(
        PHONE,
        account_state=AccountState.BANNED,
        name_review=NameReview.REJECTED,
        display_name="acme",
        name_rejection_reason="NAME_FORMAT",
    )
    page = html(logged_in(staff).get(change_url(registration)))
    assert "Banned" in page
    assert "acme · Rejected · NAME_FORMAT" in page
    assert "getphone" in page
    assert "webhook" in page
    assert "The customer is told:" in page
    assert "WhatsApp has banned this number" in page
    assert "0 of 10 createClient calls in the last 72 hours." in page


def test_the_list_filters_by_health(staff: Any) -> None:
    banned = registered(PHONE, account_state=AccountState.BANNED)
    fine = registered(OTHER_PHONE, account_state=AccountState.ACTIVE, name_review=NameReview.REJECTED)
    client = logged_in(staff)
    page = html(client.get(reverse(CHANGELIST), {"health__account_state__exact": "banned"}))
    assert banned.formatted_phone in page
    assert fine.formatted_phone not in page
    page = html(client.get(reverse(CHANGELIST), {"health__name_review__exact": "rejected"}))
    assert fine.formatted_phone in page
    assert banned.formatted_phone not in page


def test_staffs_manual_create_client_is_refused_without_a_call_when_the_budget_is_spent(
    staff: Any, nxcloud: FakeNXCloud
) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number=PHONE, status=Status.VERIFIED, verified_at=now
    )
    for _call in range(10):
        ClientSetupCall.objects.create(phone_number=PHONE, finished_at=now, result_code=-1)
    ClientSetupCall.objects.update(created_at=now - timedelta(hours=1))
    client = logged_in(staff)
    response = act(client, "create_whatsapp_client", [registration], confirm=True)
    assert nxcloud.calls_to("createClient") == []
    said = " ".join(text for _level, text in message_texts(response))
    assert "10 setup attempts" in said
    assert "You can try again in 71 hours" in said
    page = html(client.get(change_url(registration)))
    assert "10 of 10 createClient calls in the last 72 hours." in page
