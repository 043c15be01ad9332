"""The fraud guard (services.fraud): send budgets per region and prefix, prefixes that never
convert, the allow-list, lifting a block; refused sends make no NXCloud call and staff are
told once a day per region or prefix."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from nxwa_onboarding import services, signals
from nxwa_onboarding.choices import Method, RefusalReason
from nxwa_onboarding.models import AllowedPrefix, BlockedPrefix, CodeRequest, GuardNotice
from nxwa_onboarding.services import fraud
from nxwa_onboarding.texts import refusal_text
from tests.helpers.fraud import GB_PREFIX, cn_number, gb_number
from tests.helpers.services import CODE, answer, caught, check, mocked_nxcloud, rules, send_code

pytestmark = pytest.mark.django_db

BLOCK = {"min_sends": 3, "max_conversion": 0.05, "prefix_digits": 7, "window_hours": 24, "mode": "block"}


def refused_without_call(phone: str, method: str = Method.SMS) -> CodeRequest:
    """A send the guard refuses: no request reaches NXCloud."""
    registration = services.create_registration(phone)
    with mocked_nxcloud() as rsps:
        row = services.request_code(registration, method)
        assert not rsps.calls, "a refused send called NXCloud"
    assert row.outcome == CodeRequest.Outcome.REFUSED
    return row


def sent(phone: str, **kwargs: Any) -> CodeRequest:
    return send_code(services.create_registration(phone), **kwargs)


def test_region_budget_refuses_past_it_without_calling_nxcloud_and_tells_staff_once() -> None:
    with rules(SEND_BUDGETS={"GB": 2}), caught(signals.send_budget_reached) as told:
        sent(gb_number(1))
        sent(gb_number(2))
        sent(cn_number(0, 1))  # another region is not counted
        first = refused_without_call(gb_number(3))
        refused_without_call(gb_number(4))
    assert first.refusal_reason == RefusalReason.SEND_BUDGET
    assert first.retry_after is not None  # when the oldest counted send leaves the day
    assert [t["key"] for t in told] == ["GB"]
    assert GuardNotice.objects.filter(kind=fraud.BUDGET, key="GB").count() == 1
    assert services.create_registration(gb_number(9)).region == "GB"  # stored when it starts


def test_prefix_budget_and_zero_turns_a_budget_off() -> None:
    with rules(SEND_BUDGETS={"+" + GB_PREFIX: 1, "CN": 0}):
        sent(gb_number(1))
        assert refused_without_call(gb_number(2)).refusal_reason == RefusalReason.SEND_BUDGET
        for index in range(3):
            sent(cn_number(1, index))


def test_auto_block_blocks_a_prefix_that_never_converts_and_tells_staff_once() -> None:
    with rules(AUTO_BLOCK=BLOCK), caught(signals.prefix_blocked) as told:
        for index in range(3):
            sent(gb_number(index))
        refused = refused_without_call(gb_number(3))
        refused_without_call(gb_number(4))
        sent(cn_number(2, 1))  # another prefix is not touched
    assert refused.refusal_reason == RefusalReason.PREFIX_BLOCKED
    blocked = BlockedPrefix.objects.get()
    assert (blocked.prefix, blocked.mode, blocked.sends, blocked.numbers, blocked.verified) == (
        GB_PREFIX,
        "block",
        3,
        3,
        0,
    )
    assert len(told) == 1
    assert told[0]["blocked"] == blocked
    assert GuardNotice.objects.filter(kind=fraud.BLOCK).count() == 1


def test_a_prefix_that_converts_is_not_blocked() -> None:
    with rules(AUTO_BLOCK=BLOCK):
        for index in range(6):
            registration = services.create_registration(gb_number(index))
            send_code(registration)
            assert check(registration, CODE).outcome == "accepted"
    assert not BlockedPrefix.objects.exists()


def test_monitor_mode_reports_and_sends() -> None:
    with rules(AUTO_BLOCK={**BLOCK, "mode": "monitor"}), caught(signals.prefix_blocked) as told:
        for index in range(6):
            sent(gb_number(index))
    blocked = BlockedPrefix.objects.get()
    assert blocked.mode == "monitor"
    assert len(told) == 1


def test_off_mode_makes_no_query_of_its_own(django_assert_num_queries: Any) -> None:
    registration = services.create_registration(gb_number(1))
    registration.application  # noqa: B018 (loaded, as request_code has it)
    with django_assert_num_queries(0):
        assert fraud.guard(registration, services.policy.SETTINGS, registration.created_at) is None


@pytest.mark.parametrize("where", ["setting", "admin"])
def test_the_allow_list_is_never_blocked(where: str) -> None:
    """The setting allows the whole prefix; the admin's row one number under a blocked prefix."""
    allow = ["+" + GB_PREFIX] if where == "setting" else []
    AllowedPrefix.objects.create(prefix=gb_number(5), note="our own test phone")
    with rules(AUTO_BLOCK=BLOCK, AUTO_BLOCK_ALLOW=allow):
        for index in range(3):
            sent(gb_number(index))
        if where == "admin":
            assert refused_without_call(gb_number(4)).refusal_reason == RefusalReason.PREFIX_BLOCKED
        else:
            sent(gb_number(4))
        sent(gb_number(5))


def test_staff_lift_a_block_with_a_reason_and_only_later_sends_count(staff: Any) -> None:
    with rules(AUTO_BLOCK=BLOCK):
        for index in range(3):
            sent(gb_number(index))
        refused_without_call(gb_number(3))
        blocked = BlockedPrefix.objects.get()
        with pytest.raises(ValidationError):
            fraud.lift_block(blocked, user=staff, reason="  ")
        assert fraud.lift_block(blocked, user=staff, reason="A real shop's range")
        assert not fraud.lift_block(blocked, user=staff, reason="again")
        blocked.refresh_from_db()
        assert (blocked.lifted_by, blocked.lift_reason) == (staff, "A real shop's range")
        for index in range(4, 7):
            sent(gb_number(index))  # counted afresh from the lift
        refused_without_call(gb_number(7))
    assert BlockedPrefix.objects.count() == 2


def test_the_customers_words_never_say_fraud() -> None:
    for language in ("en", "zh-hans"):
        with translation.override(language):
            for reason in (RefusalReason.SEND_BUDGET, RefusalReason.PREFIX_BLOCKED):
                words = refusal_text(reason)
                assert "fraud" not in words.lower()
                assert "欺诈" not in words
                if language == "zh-hans":
                    assert words != translation.gettext(words) or not words.isascii()


def test_budgets_count_voice_calls() -> None:
    with rules(SEND_BUDGETS={"GB": 2}):
        sent(gb_number(1), method=Method.VOICE)
        sent(gb_number(2), method=Method.SMS)
        assert refused_without_call(gb_number(3), Method.VOICE).refusal_reason == RefusalReason.SEND_BUDGET


def test_a_refused_send_is_not_refused_twice_by_the_guard() -> None:
    """The send rules first: a send they refuse never reaches the guard (no notice, no block)."""
    with rules(SEND_BUDGETS={"GB": 1}, RESEND_COOLDOWN=600):
        registration = services.create_registration(gb_number(1))
        send_code(registration)
        with mocked_nxcloud() as rsps:
            answer(rsps, "getCode")
            row = services.request_code(registration)
        assert row.refusal_reason == RefusalReason.COOLDOWN
    assert not GuardNotice.objects.exists()
