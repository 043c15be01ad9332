"""Voice when the SMS did not come: VOICE_FALLBACK_AFTER after an SMS code, one voice call may
be asked for inside the SMS cooldown; a second SMS still waits; the call counts in every budget.
The page offers "Call me instead" (in both languages) and the API's state says ``can_call``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.choices import Method, RefusalReason
from nxwa_onboarding.models import CodeRequest
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import ApiClient
from tests.helpers.fraud import gb_number
from tests.helpers.services import T0, answer, mocked_nxcloud, rules, send_code

pytestmark = pytest.mark.django_db

FALLBACK = {"RESEND_COOLDOWN": 300, "VOICE_FALLBACK_AFTER": 60}


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller, rules(**FALLBACK):
        yield traveller


def ask(registration: Any, method: str) -> CodeRequest:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        row = services.request_code(registration, method)
        if row.outcome == CodeRequest.Outcome.REFUSED:
            assert not rsps.calls
    return row


def test_one_voice_call_after_the_set_time_inside_the_cooldown(clock: Any) -> None:
    registration = services.create_registration(gb_number(1))
    send_code(registration, method=Method.SMS)
    clock.shift(30)
    assert not services.get_state(registration).send.can_call
    assert ask(registration, Method.VOICE).refusal_reason == RefusalReason.COOLDOWN
    clock.shift(31)
    assert services.get_state(registration).send.can_call
    assert ask(registration, Method.SMS).refusal_reason == RefusalReason.COOLDOWN  # SMS waits
    assert ask(registration, Method.VOICE).outcome == CodeRequest.Outcome.SENT
    clock.shift(120)
    assert not services.get_state(registration).send.can_call  # once
    assert ask(registration, Method.VOICE).refusal_reason == RefusalReason.COOLDOWN


def test_the_fallback_counts_in_the_daily_cap(clock: Any) -> None:
    with rules(**FALLBACK, MAX_SENDS_PER_DAY=2):
        registration = services.create_registration(gb_number(2))
        send_code(registration, method=Method.SMS)
        clock.shift(61)
        assert ask(registration, Method.VOICE).outcome == CodeRequest.Outcome.SENT
        clock.shift(400)
        assert ask(registration, Method.SMS).refusal_reason == RefusalReason.DAILY_CAP


def test_off_when_none(clock: Any) -> None:
    with rules(RESEND_COOLDOWN=300, VOICE_FALLBACK_AFTER=None):
        registration = services.create_registration(gb_number(3))
        send_code(registration, method=Method.SMS)
        clock.shift(200)
        assert ask(registration, Method.VOICE).refusal_reason == RefusalReason.COOLDOWN


@pytest.mark.parametrize(("language", "words"), [("en", "Call me instead"), ("zh-hans", "改为给我打电话")])
def test_the_page_offers_call_me_instead(
    clock: Any, client: Client, customer: Any, nxcloud: FakeNXCloud, language: str, words: str
) -> None:
    client.force_login(customer)
    response = client.post(
        reverse("nxwa_onboarding:start"), {"phone_number": "+" + gb_number(4), "method": "sms"}
    )
    assert response.status_code == 302
    page = response["Location"]
    headers = {"accept-language": language}
    assert words not in client.get(page, headers=headers).content.decode()
    clock.shift(61)
    html = client.get(page, headers=headers).content.decode()
    assert words in html
    send = page.rstrip("/") + "/send/"
    client.post(send, {"method": "voice"})
    assert [call.payload.get("type") or call.payload for call in nxcloud.calls_to("getCode")]
    assert CodeRequest.objects.filter(method="voice", outcome="sent").count() == 1
    assert words not in client.get(page, headers=headers).content.decode()


def test_the_api_state_says_can_call(clock: Any, customer: Any, nxcloud: FakeNXCloud) -> None:
    api = ApiClient()
    api.client.force_login(customer)
    body = api.post("/registrations/", {"phone_number": "+" + gb_number(5), "method": "sms"}).json()
    assert body["state"]["can_call"] is False
    assert body["state"]["can_send"] is False
    clock.shift(61)
    state = api.get(f"/registrations/{body['id']}/").json()["state"]
    assert state["can_call"] is True
    assert state["can_send"] is False
    assert api.post(f"/registrations/{body['id']}/send/", {"method": "voice"}).status_code in (200, 201)
    clock.shift(timedelta(seconds=30))
    assert api.get(f"/registrations/{body['id']}/").json()["state"]["can_call"] is False
