"""Issue 11's findings, each as the attack that worked before: the app on the open internet.

Each test drives the app as the person who wants to abuse it would (through the customer pages
where that is the way in) and asserts what must hold now. The concurrent ones are in
tests/crosscutting/test_concurrency.py (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services, signals
from nxwa_onboarding.choices import Channel, RefusalReason, RegistrationStatus
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.services.calls import REFUSALS_RECORDED
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.services import answer, caught, mocked_nxcloud, rules, with_code

pytestmark = pytest.mark.django_db

#: Forty distinct Chinese mobile numbers.
NUMBERS = [f"+86 138 0013 80{index:02d}" for index in range(40)]


def customer_client(name: str = "pumper", ip: str = "203.0.113.50") -> tuple[Client, Any]:
    user = get_user_model().objects.create_user(name)
    client = Client(REMOTE_ADDR=ip)
    client.force_login(user)
    return client, user


def start(client: Client, phone: str, method: str = "sms", **extra: Any) -> Any:
    return client.post(reverse("nxwa_onboarding:start"), {"phone_number": phone, "method": method}, **extra)


# -- a number "registered" to someone who never verified it ---------------------------------------


def test_a_sync_never_hands_an_unverified_registration_someone_elses_account(nxcloud: FakeNXCloud) -> None:
    registration = services.start_registration(NUMBERS[0])
    assert registration.status == RegistrationStatus.CODE_SENT
    listed = {"display_phone_number": "+86 138 0013 8000", "register_status": 5, "verified_name": "Acme Ltd"}
    with caught(signals.registration_completed) as completed, nxcloud_answers_phone_list([listed]):
        services.sync_statuses()
    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.CODE_SENT
    assert (registration.verified_name, registration.waba_id, registration.register_status) == ("", "", None)
    assert registration.registered_elsewhere_at is not None  # flagged for staff
    assert completed == []


@contextmanager
def nxcloud_answers_phone_list(items: list[Any]) -> Iterator[None]:
    """phoneList answers ``items`` (HTTP intercepted with responses)."""
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=items)
        yield


# -- one login, unlimited paid codes -------------------------------------------------------------


def test_one_login_on_one_address_sends_no_more_than_the_owner_limit(nxcloud: FakeNXCloud) -> None:
    client, _user = customer_client()
    with rules(
        MAX_SENDS_PER_OWNER_PER_DAY=10, MAX_OPEN_REGISTRATIONS_PER_OWNER=100, MAX_SENDS_PER_IP_PER_HOUR=100
    ):
        for phone in NUMBERS:
            assert start(client, phone).status_code in (200, 302)
    assert len(nxcloud.calls_to("getCode")) == 10
    refused = CodeRequest.objects.filter(outcome="refused").values_list("refusal_reason", flat=True)
    assert set(refused) == {RefusalReason.OWNER_LIMIT}


def test_one_address_sends_no_more_than_its_limit_whoever_is_signed_in(nxcloud: FakeNXCloud) -> None:
    with rules(MAX_SENDS_PER_IP_PER_HOUR=3):
        for index, phone in enumerate(NUMBERS[:6]):
            client, _user = customer_client(f"user{index}", ip="2001:db8:1:2::1")
            start(client, phone)
        # another address in the same IPv6 /64 is the same subscriber
        client, _user = customer_client("neighbour", ip="2001:db8:1:2:ffff::9")
        start(client, NUMBERS[7])
    assert len(nxcloud.calls_to("getCode")) == 3
    assert CodeRequest.objects.filter(refusal_reason=RefusalReason.IP_SEND_LIMIT).count() == 4


def test_a_customer_holds_a_limited_number_of_unverified_registrations(nxcloud: FakeNXCloud) -> None:
    client, user = customer_client()
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=2):
        start(client, NUMBERS[0])
        start(client, NUMBERS[1])
        response = start(client, NUMBERS[2])
    assert response.status_code == 200
    assert "waiting for their codes" in response.content.decode()
    assert PhoneRegistration.objects.filter(owner=user).count() == 2


def test_staff_are_not_bound_by_the_owner_and_address_limits() -> None:
    registration = services.create_registration(NUMBERS[0])
    with rules(MAX_SENDS_PER_OWNER_PER_DAY=1, MAX_SENDS_PER_IP_PER_HOUR=1), mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        sent = services.request_code(registration, ip="203.0.113.1", channel=Channel.ADMIN)
    assert sent.outcome == "sent"


def test_the_circuit_breaker_stops_every_send_and_tells_the_host_once(nxcloud: FakeNXCloud) -> None:
    with rules(MAX_SENDS_PER_DAY_GLOBAL=2), caught(signals.send_limit_reached) as tripped:
        for phone in NUMBERS[:5]:
            services.start_registration(phone, channel=Channel.ADMIN)
        assert services.sends_suspended()
    assert len(nxcloud.calls_to("getCode")) == 2
    assert CodeRequest.objects.filter(refusal_reason=RefusalReason.GLOBAL_LIMIT).count() == 3
    assert len(tripped) == 1


def test_a_flood_of_refused_requests_does_not_fill_the_audit_table() -> None:
    registration = with_code()  # the cooldown now refuses every send for a minute
    answers = [services.request_code(registration) for _ in range(40)]
    assert {a.refusal_reason for a in answers} == {RefusalReason.COOLDOWN}
    assert CodeRequest.objects.filter(outcome="refused").count() == REFUSALS_RECORDED


# -- numbers that cost money or belong to strangers ----------------------------------------------


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("+44 909 879 0000", "premium-rate"),
        ("+1 900 234 5678", "premium-rate"),
        ("+86 138 ABCD 8000", "Letters"),
        ("+86 138 0013 8000 ext 12", "Extensions"),
        ("+881 612 345 678", "no country"),
    ],
)
def test_a_number_that_would_cost_or_reach_a_stranger_never_reaches_nxcloud(
    nxcloud: FakeNXCloud, typed: str, why: str
) -> None:
    client, _user = customer_client()
    response = start(client, typed)
    assert response.status_code == 200
    assert why.lower() in response.content.decode().lower()
    assert nxcloud.calls == []
    assert PhoneRegistration.objects.count() == 0


def test_a_landline_is_offered_a_voice_call_only_at_every_door(nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration("+44 121 234 5678", channel=Channel.ADMIN)
    sms = services.request_code(registration, "sms", channel=Channel.ADMIN)
    assert (sms.outcome, sms.refusal_reason) == ("refused", RefusalReason.LANDLINE_SMS)
    assert services.request_code(registration, "voice", channel=Channel.ADMIN).outcome == "sent"
    assert [call.payload["method"] for call in nxcloud.calls_to("getCode")] == ["voice"]


# -- squatting -----------------------------------------------------------------------------------


def test_an_unverified_registration_stops_holding_its_number_after_the_expiry(nxcloud: FakeNXCloud) -> None:
    squatter, _user = customer_client("squatter")
    start(squatter, NUMBERS[0])
    held = PhoneRegistration.objects.get()
    merchant, merchant_user = customer_client("merchant", ip="198.51.100.7")
    # Before the expiry: taken, with no more said than before, and what to do.
    response = start(merchant, NUMBERS[0])
    page = response.content.decode()
    assert "already being onboarded" in page
    assert "try again tomorrow" in page
    assert "squatter" not in page
    with (
        caught(signals.registration_closed) as closed,
        time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)),
    ):
        assert start(merchant, NUMBERS[0]).status_code == 302
    held.refresh_from_db()
    assert held.status == RegistrationStatus.CLOSED
    assert "Not verified" in held.close_reason
    assert held.code_requests.count() == 1  # its audit rows stay
    assert PhoneRegistration.objects.open_for("8613800138000").get().owner == merchant_user
    assert [c["by"] for c in closed] == [None]


def test_staff_close_a_registration_saying_why(nxcloud: FakeNXCloud, superuser: Any) -> None:
    registration = services.start_registration(NUMBERS[0])
    staff = Client()
    staff.force_login(superuser)
    changelist = reverse("admin:nxwa_onboarding_phoneregistration_changelist")
    data = {"action": "close_registrations", "_selected_action": [registration.pk]}
    asked = staff.post(changelist, data)
    assert "Why are they closed?" in asked.content.decode()
    unchanged = staff.post(changelist, {**data, "post": "yes", "reason": ""})
    assert unchanged.status_code == 200
    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.CODE_SENT
    staff.post(changelist, {**data, "post": "yes", "reason": "Merchant asked us to stop"})
    registration.refresh_from_db()
    assert (registration.status, registration.closed_by, registration.close_reason) == (
        RegistrationStatus.CLOSED,
        superuser,
        "Merchant asked us to stop",
    )
    refused = services.request_code(registration)
    assert refused.refusal_reason == RefusalReason.CLOSED


# -- the address limit ---------------------------------------------------------------------------


def test_an_empty_address_refuses_instead_of_switching_the_rule_off(nxcloud: FakeNXCloud) -> None:
    client, _user = customer_client(ip="")
    response = start(client, NUMBERS[0])
    assert response.status_code == 302
    assert nxcloud.calls_to("getCode") == []
    assert CodeRequest.objects.get().refusal_reason == RefusalReason.NO_ADDRESS


def test_ipv6_addresses_are_counted_by_their_64(nxcloud: FakeNXCloud) -> None:
    with rules(MAX_ATTEMPTS_PER_IP_PER_HOUR=2):
        registrations = [services.start_registration(phone) for phone in NUMBERS[:3]]
        for index, registration in enumerate(registrations):
            services.check_code(registration, "000000", ip=f"2001:db8:aa:bb::{index + 1}")
    outcomes = list(VerificationAttempt.objects.order_by("id").values_list("outcome", "refusal_reason"))
    assert outcomes == [("rejected", ""), ("rejected", ""), ("refused", RefusalReason.IP_LIMIT)]


def behind_the_proxy(request: Any) -> str | None:
    """A CLIENT_IP for the test: the address a trusted proxy put last in X-Forwarded-For."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[-1].strip() or None


def test_behind_a_proxy_the_configured_reader_tells_customers_apart(nxcloud: FakeNXCloud) -> None:
    with rules(
        CLIENT_IP="tests.crosscutting.test_open_internet.behind_the_proxy", MAX_SENDS_PER_IP_PER_HOUR=1
    ):
        for index, phone in enumerate(NUMBERS[:3]):
            client, _user = customer_client(f"behind{index}", ip="10.0.0.1")  # the proxy's address
            start(client, phone, HTTP_X_FORWARDED_FOR=f"203.0.113.{index + 1}")
    assert len(nxcloud.calls_to("getCode")) == 3
    assert sorted(str(ip) for ip in CodeRequest.objects.values_list("ip", flat=True)) == [
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
    ]


# -- values the database cannot store ------------------------------------------------------------


def test_a_result_code_past_the_integer_column_and_a_nul_are_stored_not_crashed() -> None:
    registration = with_code()
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", 2**40, "wrong\x00code")
        attempt = services.check_code(registration, "111111")
    attempt.refresh_from_db()
    assert attempt.outcome == "rejected"
    assert attempt.result_code == 2**31 - 1
    assert attempt.result_message == "wrongcode"


def test_one_bad_phone_list_item_is_skipped_not_the_sync() -> None:
    registration = services.create_registration(NUMBERS[0])
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=RegistrationStatus.CLIENT_CREATED, verified_at=timezone.now()
    )
    items = [
        "not an object",
        {"register_status": 5},
        {"display_phone_number": "+86 138 0013 8000", "register_status": 5, "verified_name": "Acme\x00 Ltd"},
    ]
    with nxcloud_answers_phone_list(items):
        summary = services.sync_statuses()
    registration.refresh_from_db()
    assert summary.matched == 1
    assert (registration.status, registration.verified_name) == (RegistrationStatus.REGISTERED, "Acme Ltd")
