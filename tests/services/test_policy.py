"""Application.policy: validated key by key like the settings' checks, refused naming the key,
and read by every rule for the application's registrations (falling back to the settings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.choices import Method, RefusalReason
from nxwa_onboarding.models import Application, CodeRequest
from nxwa_onboarding.services import policy
from tests.helpers.fraud import cn_number, gb_number
from tests.helpers.services import CODE, answer, check, mocked_nxcloud, rules, send_code

pytestmark = pytest.mark.django_db


def application(**overrides: Any) -> Application:
    return Application.objects.create(
        name="Shop",
        app_key=f"key-{len(overrides)}-{sorted(overrides)}"[:120],
        outcome="added",
        policy=overrides,
    )


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"MAX_SENDS_PER_DAY": 0}, "MAX_SENDS_PER_DAY"),
        ({"MAX_SENDS_PER_DAY": "5"}, "MAX_SENDS_PER_DAY"),
        ({"ALLOWED_REGIONS": ["XX"]}, "ALLOWED_REGIONS"),
        ({"DEFAULT_REGION": 7}, "DEFAULT_REGION"),
        ({"ALLOWED_METHODS": ["fax"]}, "ALLOWED_METHODS"),
        ({"SEND_BUDGETS": {"GB": -1}}, "SEND_BUDGETS"),
        ({"SEND_BUDGETS": {"4479": 5}}, "SEND_BUDGETS"),
        ({"AUTO_BLOCK": {"mode": "sometimes"}}, "AUTO_BLOCK"),
        ({"AUTO_BLOCK": {"min_sends": 1}}, "AUTO_BLOCK"),  # the figures are the installation's
        ({"VOICE_FALLBACK_AFTER": -3}, "VOICE_FALLBACK_AFTER"),
        ({"MAX_SENDS_PER_DAY_GLOBAL": 5}, "MAX_SENDS_PER_DAY_GLOBAL"),  # not a customer's
        ({"ACCESS_SECRET": "x"}, "ACCESS_SECRET"),
        ({"NO_SUCH_KEY": 1}, "NO_SUCH_KEY"),
    ],
)
def test_a_wrong_policy_is_refused_with_the_keys_name(value: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        policy.validate_policy(value)
    assert all(key in message for message in raised.value.messages)


def test_a_policy_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError):
        policy.validate_policy(["MAX_SENDS_PER_DAY"])


def test_a_good_policy_passes() -> None:
    good = {
        "MAX_SENDS_PER_DAY": 2,
        "ALLOWED_REGIONS": ["GB"],
        "DEFAULT_REGION": "GB",
        "ALLOWED_METHODS": ["voice"],
        "SEND_BUDGETS": {"GB": 10, "+4474": 0},
        "AUTO_BLOCK": {"mode": "monitor"},
        "VOICE_FALLBACK_AFTER": 30,
    }
    assert policy.validate_policy(good) == good


def test_keys_left_out_follow_the_settings() -> None:
    app = application(MAX_SENDS_PER_DAY=2)
    with rules(MAX_SENDS_PER_DAY=9, CODE_TTL=123):
        found = policy.for_application(app)
        assert found.limits.max_sends_per_day == 2
        assert found.limits.code_ttl == timedelta(seconds=123)
        assert policy.for_application(None).limits.max_sends_per_day == 9


def test_a_stored_policy_gone_wrong_falls_back_to_the_settings_for_that_key(caplog: Any) -> None:
    app = application()
    Application.objects.filter(pk=app.pk).update(policy={"MAX_SENDS_PER_DAY": "lots", "CODE_TTL": 60})
    app.refresh_from_db()
    with rules(MAX_SENDS_PER_DAY=4):
        found = policy.for_application(app)
        assert found.limits.max_sends_per_day == 4
        assert found.limits.code_ttl == timedelta(seconds=60)
    assert "MAX_SENDS_PER_DAY" in caplog.text


def test_the_daily_cap_of_the_policy_holds_for_its_registrations_only() -> None:
    strict = application(MAX_SENDS_PER_DAY=1, RESEND_COOLDOWN=1)
    with rules(RESEND_COOLDOWN=1):
        mine = services.create_registration(cn_number(3, 1), application=strict)
        other = services.create_registration(cn_number(3, 2))
        send_code(mine)
        send_code(other)
        later = timezone.now() + timedelta(seconds=5)
        with mock.patch("django.utils.timezone.now", return_value=later), mocked_nxcloud() as rsps:
            answer(rsps, "getCode")
            assert services.request_code(mine).refusal_reason == RefusalReason.DAILY_CAP
            assert services.request_code(other).outcome == CodeRequest.Outcome.SENT


def test_the_check_rules_read_the_policy() -> None:
    app = application(MAX_CHECK_ATTEMPTS=1)
    registration = services.create_registration(cn_number(4, 1), application=app)
    send_code(registration)
    assert services.get_state(registration).check.attempts_allowed == 1
    assert check(registration, CODE).outcome == "accepted"


def test_regions_and_default_region_of_the_policy() -> None:
    gb_only = application(ALLOWED_REGIONS=["GB"], DEFAULT_REGION="GB")
    with rules(ALLOWED_REGIONS=["CN"], DEFAULT_REGION="CN"):
        with pytest.raises(ValidationError) as raised:
            services.create_registration(cn_number(5, 1), application=gb_only)
        assert raised.value.code == "region_not_allowed"
        registration = services.create_registration("07400 100123", application=gb_only)
        assert registration.phone_number == "447400100123"
        assert registration.region == "GB"
        with pytest.raises(ValidationError):
            services.create_registration(gb_number(7))  # the settings: CN only


def test_allowed_methods_of_the_policy() -> None:
    voice_only = application(ALLOWED_METHODS=["voice"])
    registration = services.create_registration(cn_number(6, 1), application=voice_only)
    with mocked_nxcloud() as rsps:
        row = services.request_code(registration, Method.SMS)
        assert not rsps.calls
    assert row.refusal_reason == RefusalReason.METHOD_POLICY
    send_code(registration, method=Method.VOICE)


def test_auto_block_mode_of_the_policy() -> None:
    figures = {"min_sends": 2, "max_conversion": 0.0, "prefix_digits": 7, "window_hours": 24}
    relaxed = application(AUTO_BLOCK={"mode": "off"})
    with rules(AUTO_BLOCK={**figures, "mode": "block"}):
        for index in range(2):
            send_code(services.create_registration(gb_number(index)))
        blocked = services.create_registration(gb_number(2))
        with mocked_nxcloud() as rsps:
            assert services.request_code(blocked).refusal_reason == RefusalReason.PREFIX_BLOCKED
            assert not rsps.calls
        send_code(services.create_registration(gb_number(3), application=relaxed))


def test_policy_send_budget_counts_the_applications_own_sends() -> None:
    app = application(SEND_BUDGETS={"GB": 1})
    with rules(SEND_BUDGETS={}):
        send_code(services.create_registration(gb_number(1)))  # another application's
        send_code(services.create_registration(gb_number(2), application=app))
        with mocked_nxcloud() as rsps:
            row = services.request_code(services.create_registration(gb_number(3), application=app))
            assert not rsps.calls
        assert row.refusal_reason == RefusalReason.SEND_BUDGET
