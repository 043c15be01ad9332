"""Every rule and refusal, with the clock moved (time-machine, ``tick=False``).

Each refusal makes no HTTP request (``responses`` intercepts every request and sees none), is
recorded as a finished ``refused`` row with its reason and ``retry_after``, and its message says
why and when. Each rule's setting is read from ``NXWA_ONBOARDING`` through ``override_settings``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, RefusalReason, VerificationAttempt
from tests.helpers.services import (
    CODE,
    OTHER_PHONE,
    PHONE,
    T0,
    THIRD_PHONE,
    WRONG,
    answer,
    check,
    fail_with,
    mocked_nxcloud,
    new_registration,
    rules,
    send_code,
    verified,
    with_code,
)

pytestmark = pytest.mark.django_db


IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def refused_check(registration: PhoneRegistration, code: str = CODE, **kwargs: Any) -> VerificationAttempt:
    """check_code that must be refused without any HTTP request; the row is checked as stored."""
    pending_before = set(VerificationAttempt.objects.filter(outcome="pending").values_list("pk", flat=True))
    with mocked_nxcloud() as rsps:
        attempt = services.check_code(registration, code, **kwargs)
        assert not rsps.calls, "a refused check must not call NXCloud"
    # the pending row inserted before the rules were read was rolled back
    assert set(VerificationAttempt.objects.filter(outcome="pending").values_list("pk", flat=True)) == (
        pending_before
    )
    assert attempt.outcome == VerificationAttempt.Outcome.REFUSED
    stored = VerificationAttempt.objects.get(pk=attempt.pk)
    assert stored.outcome == "refused"
    assert stored.refusal_reason == attempt.refusal_reason != ""
    assert stored.retry_after == attempt.retry_after
    assert stored.finished_at is not None
    assert stored.result_code is None
    return stored


def refused_send(registration: PhoneRegistration, method: str = "sms", **kwargs: Any) -> CodeRequest:
    pending_before = set(CodeRequest.objects.filter(outcome="pending").values_list("pk", flat=True))
    with mocked_nxcloud() as rsps:
        code_request = services.request_code(registration, method, **kwargs)
        assert not rsps.calls, "a refused send must not call NXCloud"
    assert set(CodeRequest.objects.filter(outcome="pending").values_list("pk", flat=True)) == pending_before
    assert code_request.outcome == CodeRequest.Outcome.REFUSED
    stored = CodeRequest.objects.get(pk=code_request.pk)
    assert stored.outcome == "refused"
    assert stored.refusal_reason == code_request.refusal_reason != ""
    assert stored.retry_after == code_request.retry_after
    assert stored.finished_at is not None
    return stored


def message(row: VerificationAttempt | CodeRequest) -> str:
    text = services.Refusal(row.refusal_reason, row.retry_after).message
    assert text == row.refusal_message
    return text


def checked(registration: PhoneRegistration, code: str = WRONG, result: int = -1, **kwargs: Any) -> str:
    """check_code that must reach NXCloud exactly once; returns the outcome."""
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", result)
        attempt = services.check_code(registration, code, **kwargs)
        assert len(rsps.calls) == 1
    return str(attempt.outcome)


# -- MAX_CHECK_ATTEMPTS ----------------------------------------------------------------------------


def test_max_check_attempts_per_code_and_a_new_code_resets_the_count(clock: Any) -> None:
    with rules(MAX_CHECK_ATTEMPTS=3):
        registration = with_code()
        for _ in range(3):
            clock.shift(1)
            assert checked(registration) == "rejected"
        assert services.get_state(registration).check.attempts_left == 0

        clock.shift(1)  # T0 + 4 s
        attempt = refused_check(registration)
        assert attempt.refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS
        assert attempt.retry_after == at(60)  # RESEND_COOLDOWN after the code was sent
        assert message(attempt) == (
            "Too many wrong tries for this code. Ask for a new code. "
            "A new code can be sent in 56 seconds (at 09:01 UTC)."
        )
        # the right code is refused too: the cap is per code, not per wrong code
        assert refused_check(registration, CODE).refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS

        clock.shift(56)  # cooldown over: a new code
        send_code(registration)
        state = services.get_state(registration).check
        assert (state.attempts_used, state.attempts_left) == (0, 3)
        assert checked(registration) == "rejected"
        assert checked(registration, CODE, 0) == "accepted"


def test_the_cap_is_read_from_the_setting(clock: Any) -> None:
    registration = with_code()
    with rules(MAX_CHECK_ATTEMPTS=1):
        assert checked(registration) == "rejected"
        assert refused_check(registration).refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS
    with rules(MAX_CHECK_ATTEMPTS=2):
        assert checked(registration) == "rejected"
        assert refused_check(registration).refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS


def test_default_cap_is_five(clock: Any) -> None:
    registration = with_code()
    for _ in range(5):
        assert checked(registration) == "rejected"
    assert refused_check(registration).refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS


def test_unknown_counts_toward_the_cap_failed_and_refused_do_not(clock: Any) -> None:
    with rules(MAX_CHECK_ATTEMPTS=2):
        registration = with_code()
        with mocked_nxcloud() as rsps:
            fail_with(rsps, "checkCode", requests.ReadTimeout("read timeout"))
            assert services.check_code(registration, WRONG).outcome == "unknown"
        assert checked(registration, result=1003) == "failed"  # our configuration, not their fault
        refused_check(registration, "12a4")  # malformed
        assert services.get_state(registration).check.attempts_used == 1
        assert checked(registration) == "rejected"
        assert refused_check(registration).refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS


def test_retry_after_a_too_many_refusal_names_the_daily_cap_when_it_is_later(clock: Any) -> None:
    with rules(MAX_CHECK_ATTEMPTS=1, MAX_SENDS_PER_DAY=1):
        registration = with_code()
        assert checked(registration) == "rejected"
        clock.shift(120)
        attempt = refused_check(registration)
        assert attempt.refusal_reason == RefusalReason.TOO_MANY_ATTEMPTS
        assert attempt.retry_after == at(24 * 3600)
        assert "A new code can be sent in 24 hours (at 09:00 UTC)" in message(attempt)


# -- CODE_TTL --------------------------------------------------------------------------------------


def test_code_ttl(clock: Any) -> None:
    with rules(CODE_TTL=120):
        registration = with_code()
        assert services.get_state(registration).check.expires_at == at(120)
        clock.shift(119)
        assert checked(registration) == "rejected"
        clock.shift(1)  # T0 + 120 s: expired
        attempt = refused_check(registration, CODE)
        assert attempt.refusal_reason == RefusalReason.EXPIRED
        assert attempt.retry_after is None  # a new code may be asked for right away
        assert message(attempt) == "This code has expired. Ask for a new code."
        send_code(registration)
        assert checked(registration, CODE, 0) == "accepted"


def test_an_expired_code_says_when_a_new_one_can_be_sent(clock: Any) -> None:
    with rules(CODE_TTL=30, RESEND_COOLDOWN=90):
        registration = with_code()
        clock.shift(30)
        attempt = refused_check(registration)
        assert attempt.refusal_reason == RefusalReason.EXPIRED
        assert attempt.retry_after == at(90)
        assert message(attempt) == (
            "This code has expired. Ask for a new code. A new code can be sent in 1 minute (at 09:01 UTC)."
        )


def test_default_ttl_is_ten_minutes(clock: Any) -> None:
    registration = with_code()
    clock.shift(599)
    assert checked(registration) == "rejected"
    clock.shift(1)
    assert refused_check(registration).refusal_reason == RefusalReason.EXPIRED


def test_the_ttl_runs_from_the_latest_code(clock: Any) -> None:
    with rules(CODE_TTL=120, RESEND_COOLDOWN=60):
        registration = with_code()
        clock.shift(100)
        send_code(registration)
        clock.shift(100)  # 200 s after the first, 100 s after the second
        assert checked(registration, CODE, 0) == "accepted"


# -- RESEND_COOLDOWN -------------------------------------------------------------------------------


def test_resend_cooldown(clock: Any) -> None:
    with rules(RESEND_COOLDOWN=90, VOICE_FALLBACK_AFTER=None):  # the plain cooldown (no "call me instead")
        registration = with_code()
        clock.shift(89)
        code_request = refused_send(registration, "voice")
        assert code_request.refusal_reason == RefusalReason.COOLDOWN
        assert code_request.retry_after == at(90)
        assert code_request.method == "voice"
        assert (
            message(code_request)
            == "A code was sent moments ago. You can try again in 1 second (at 09:01 UTC)."
        )
        assert services.get_state(registration).send.next_send_at == at(90)
        clock.shift(1)
        send_code(registration, method="voice")
        registration.refresh_from_db()
        assert registration.last_code_method == "voice"


def test_default_cooldown_is_a_minute(clock: Any) -> None:
    registration = with_code()
    clock.shift(59)
    assert refused_send(registration).refusal_reason == RefusalReason.COOLDOWN
    clock.shift(1)
    send_code(registration)


@pytest.mark.parametrize(
    ("answer_code", "error"),
    [
        pytest.param(1003, None, id="failed-config"),
        pytest.param(None, "never-connected", id="failed-transport"),
    ],
)
def test_a_send_that_cannot_have_delivered_a_code_starts_no_cooldown(
    clock: Any, answer_code: int | None, error: str | None
) -> None:
    from tests.helpers.services import never_connected

    registration = new_registration()
    with mocked_nxcloud() as rsps:
        if error:
            for _ in range(3):
                fail_with(rsps, "getCode", never_connected())
        else:
            answer(rsps, "getCode", answer_code or 0)
        outcome = services.request_code(registration).outcome
    assert outcome in ("rejected", "failed")
    clock.shift(1)
    send_code(registration)  # at once


def test_a_rejected_send_starts_the_cooldown(clock: Any) -> None:
    """NXCloud was asked (and may bill or count it at Meta): a flood of rejected sends is held
    to one a cooldown like any other call (it was 40 in one second)."""
    registration = new_registration()
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode", -1)
        assert services.request_code(registration).outcome == "rejected"
    clock.shift(1)
    assert refused_send(registration).refusal_reason == RefusalReason.COOLDOWN
    clock.shift(60)
    send_code(registration)


def test_a_send_of_unknown_fate_starts_the_cooldown(clock: Any) -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "getCode", requests.ReadTimeout("read timeout"))
        assert services.request_code(registration).outcome == "unknown"
    clock.shift(30)
    assert refused_send(registration).refusal_reason == RefusalReason.COOLDOWN


# -- MAX_SENDS_PER_DAY -----------------------------------------------------------------------------


def test_max_sends_per_day_per_number_is_a_rolling_24_hours(clock: Any) -> None:
    with rules(MAX_SENDS_PER_DAY=3):
        registration = with_code()  # T0
        clock.shift(3600)
        send_code(registration)  # T0 + 1 h
        clock.shift(3600)
        send_code(registration)  # T0 + 2 h
        assert services.get_state(registration).send.sends_today == 3
        clock.shift(30)  # cooldown and cap both apply: the cap, which ends later, is named
        code_request = refused_send(registration)
        assert code_request.refusal_reason == RefusalReason.DAILY_CAP
        assert code_request.retry_after == at(24 * 3600)
        clock.shift(3600 - 30)  # T0 + 3 h
        code_request = refused_send(registration)
        assert code_request.refusal_reason == RefusalReason.DAILY_CAP
        assert code_request.retry_after == at(24 * 3600)
        assert message(code_request) == (
            "This number has had as many codes as allowed in one day. "
            "You can try again in 21 hours (at 09:00 UTC)."
        )

        clock.move_to(at(24 * 3600 - 1))
        assert refused_send(registration).refusal_reason == RefusalReason.DAILY_CAP
        clock.shift(1)  # the first send is now 24 h old: out of the window
        send_code(registration)
        clock.shift(60)
        # the next one waits for the second send (T0 + 1 h) to age out
        code_request = refused_send(registration)
        assert code_request.retry_after == at(25 * 3600)


def test_the_daily_cap_follows_the_number_across_registrations(clock: Any) -> None:
    with rules(MAX_SENDS_PER_DAY=2):
        first = with_code()
        clock.shift(120)
        send_code(first)
        PhoneRegistration.objects.filter(pk=first.pk).update(status=PhoneRegistration.Status.FAILED)
        clock.shift(120)
        again = new_registration(PHONE)  # a failed registration does not block a new one...
        code_request = refused_send(again)  # ...but the number's codes still count
        assert code_request.refusal_reason == RefusalReason.DAILY_CAP
        assert code_request.retry_after == at(24 * 3600)
        with_code(OTHER_PHONE)  # another number is not affected


def test_sends_that_cannot_have_delivered_do_not_count_toward_the_cap(clock: Any) -> None:
    with rules(MAX_SENDS_PER_DAY=1):
        registration = new_registration()
        for code in (-1, 1005):
            with mocked_nxcloud() as rsps:
                answer(rsps, "getCode", code)
                services.request_code(registration)
            clock.shift(61)  # past the cooldown a rejected send starts
        refused_send_rows = CodeRequest.objects.filter(outcome="refused").count()
        assert refused_send_rows == 0
        send_code(registration)
        clock.shift(3600)
        assert refused_send(registration).refusal_reason == RefusalReason.DAILY_CAP


# -- MAX_ATTEMPTS_PER_IP_PER_HOUR ------------------------------------------------------------------


def test_max_attempts_per_ip_per_hour_across_registrations(clock: Any) -> None:
    with rules(MAX_ATTEMPTS_PER_IP_PER_HOUR=3, CODE_TTL=7200):
        first, second, third = with_code(PHONE), with_code(OTHER_PHONE), with_code(THIRD_PHONE)
        assert checked(first, ip=IP) == "rejected"  # T0
        clock.shift(600)
        assert checked(second, ip=IP) == "rejected"  # T0 + 10 min
        clock.shift(600)
        assert checked(third, ip=IP) == "rejected"  # T0 + 20 min
        clock.shift(600)  # T0 + 30 min
        attempt = refused_check(first, ip=IP)
        assert attempt.refusal_reason == RefusalReason.IP_LIMIT
        assert attempt.retry_after == at(3600)
        assert attempt.ip == IP
        assert (
            message(attempt)
            == "Too many attempts from your network. You can try again in 30 minutes (at 10:00 UTC)."
        )
        assert services.get_state(first, ip=IP).check.refusal == services.Refusal(
            RefusalReason.IP_LIMIT, at(3600)
        )
        # another address is not limited, and an address written differently is the same address
        assert checked(first, ip=OTHER_IP) == "rejected"
        assert refused_check(second, ip=" 203.0.113.7 ").refusal_reason == RefusalReason.IP_LIMIT
        # refusals did not count: at T0 + 1 h the first attempt has aged out and one more is allowed
        clock.move_to(at(3600))
        assert checked(second, ip=IP) == "rejected"
        assert refused_check(third, ip=IP).refusal_reason == RefusalReason.IP_LIMIT


def test_failed_attempts_do_not_count_toward_the_ip_limit(clock: Any) -> None:
    with rules(MAX_ATTEMPTS_PER_IP_PER_HOUR=1):
        registration = with_code()
        assert checked(registration, ip=IP, result=9007) == "failed"
        assert checked(registration, ip=IP) == "rejected"
        assert refused_check(registration, ip=IP).refusal_reason == RefusalReason.IP_LIMIT


def test_an_ipv6_address_is_normalised(clock: Any) -> None:
    with rules(MAX_ATTEMPTS_PER_IP_PER_HOUR=1):
        registration = with_code()
        assert checked(registration, ip="2001:DB8:0:0::1") == "rejected"
        assert refused_check(registration, ip="2001:db8::1").refusal_reason == RefusalReason.IP_LIMIT
        # garbage is recorded as no address (and so is not limited by address)
        assert checked(registration, ip="not-an-ip") == "rejected"
        assert VerificationAttempt.objects.latest().ip is None


# -- already verified, no code, malformed, in flight, closed ---------------------------------------


def test_already_verified(clock: Any) -> None:
    registration = verified()
    clock.shift(5)
    attempt = refused_check(registration)
    assert attempt.refusal_reason == RefusalReason.ALREADY_VERIFIED
    assert attempt.retry_after is None
    assert message(attempt) == "This number is already verified."
    code_request = refused_send(registration)
    assert code_request.refusal_reason == RefusalReason.ALREADY_VERIFIED
    # a stale in-memory registration does not fool it
    stale = PhoneRegistration.objects.get(pk=registration.pk)
    stale.status = PhoneRegistration.Status.CODE_SENT
    stale.verified_at = None
    assert refused_check(stale).refusal_reason == RefusalReason.ALREADY_VERIFIED


@pytest.mark.parametrize("status", ["client_created", "registered"])
def test_later_states_count_as_verified(clock: Any, status: str) -> None:
    registration = with_code()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=status)
    assert refused_check(registration).refusal_reason == RefusalReason.ALREADY_VERIFIED


def test_no_code_sent_yet(clock: Any) -> None:
    registration = new_registration()
    attempt = refused_check(registration)
    assert attempt.refusal_reason == RefusalReason.NO_CODE
    assert attempt.code_request_id is None
    assert message(attempt) == "No code has been sent to this number yet. Ask for a code first."


@pytest.mark.parametrize("outcome_code", [-1, 1003])
def test_a_send_that_did_not_go_out_is_no_code(clock: Any, outcome_code: int) -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode", outcome_code)
        services.request_code(registration)
    assert refused_check(registration).refusal_reason == RefusalReason.NO_CODE


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("12a4", id="letter"),
        pytest.param("", id="empty"),
        pytest.param("1" * 40, id="40-digits"),
        # Decimal digits of any script are digits (test_services_outcomes); these are not.
        pytest.param("\u00b9\u00b2\u00b3\u2074", id="superscript-digits"),  # ¹²³⁴
        pytest.param("\u2460\u2461\u2462\u2463", id="circled-digits"),  # ①②③④
        pytest.param("\uff11\uff12\uff13", id="three-full-width-digits"),
        pytest.param("123", id="too-short"),
    ],
)
def test_a_malformed_code_is_refused(clock: Any, typed: str) -> None:
    registration = with_code()
    attempt = refused_check(registration, typed, ip=IP)
    assert attempt.refusal_reason == RefusalReason.MALFORMED
    assert attempt.retry_after is None
    assert message(attempt) == "Enter the code as digits, for example 123456 or 123-456."
    assert len(attempt.code_digest) == 64
    assert services.get_state(registration).check.attempts_used == 0


def test_a_malformed_code_is_refused_even_without_a_code(clock: Any) -> None:
    assert refused_check(new_registration(), "abc").refusal_reason == RefusalReason.MALFORMED


def test_another_check_in_flight(clock: Any) -> None:
    registration = with_code()
    VerificationAttempt.objects.create(
        registration=registration, code_request=CodeRequest.objects.get(), channel="admin", code_digest="x"
    )
    attempt = refused_check(registration)
    assert attempt.refusal_reason == RefusalReason.IN_FLIGHT
    assert message(attempt) == "Another request for this number is in progress. Wait a moment and look again."
    assert services.get_state(registration).check.refusal == services.Refusal(RefusalReason.IN_FLIGHT)
    # the pending one counts toward the cap (it may yet be rejected)
    assert services.get_state(registration).check.attempts_used == 1


def test_another_send_in_flight(clock: Any) -> None:
    registration = new_registration()
    CodeRequest.objects.create(registration=registration, channel="admin", method="sms")
    code_request = refused_send(registration)
    assert code_request.refusal_reason == RefusalReason.IN_FLIGHT
    assert services.get_state(registration).send.refusal == services.Refusal(RefusalReason.IN_FLIGHT)


def test_a_failed_registration_is_closed(clock: Any) -> None:
    registration = with_code()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=PhoneRegistration.Status.FAILED)
    assert refused_check(registration).refusal_reason == RefusalReason.CLOSED
    assert refused_send(registration).refusal_reason == RefusalReason.CLOSED


def test_refusals_record_who_where_and_which_code(clock: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("clerk")
    registration = with_code()
    code_request_id = CodeRequest.objects.get().pk
    with rules(MAX_CHECK_ATTEMPTS=0):
        attempt = refused_check(registration, user=user, ip=IP, channel="admin")
    assert (attempt.user, attempt.ip, attempt.channel) == (user, IP, "admin")
    assert attempt.code_request_id == code_request_id
    assert attempt.created_at == attempt.finished_at == T0
    assert attempt.code_digest == services.code_digest(registration, CODE)


# -- get_state -------------------------------------------------------------------------------------


def test_get_state_numbers(clock: Any) -> None:
    registration = new_registration()
    state = services.get_state(registration)
    assert state.check.refusal == services.Refusal(RefusalReason.NO_CODE)
    assert state.send.refusal is None
    assert state.send.next_send_at == T0
    assert (state.send.sends_today, state.send.sends_allowed) == (0, 5)
    send_code(registration)
    clock.shift(10)
    assert checked(registration) == "rejected"
    state = services.get_state(registration)
    assert state.check.refusal is None
    assert (state.check.attempts_used, state.check.attempts_left, state.check.attempts_allowed) == (1, 4, 5)
    assert state.check.code_sent_at == T0
    assert state.check.expires_at == at(600)
    assert state.send.refusal == services.Refusal(RefusalReason.COOLDOWN, at(60))
    assert state.send.sends_today == 1
    assert timezone.now() == at(10)


def test_time_machine_really_moves_the_rows(clock: Any) -> None:
    """Guard for every test above: rows get the travelled time."""
    registration = with_code()
    assert CodeRequest.objects.get().created_at == T0
    clock.shift(42)
    check(registration, WRONG, -1)
    assert VerificationAttempt.objects.get().created_at == at(42)
