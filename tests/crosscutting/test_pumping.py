"""A replay of an SMS pumping attack with AUTO_BLOCK in block mode: 200 sends across one prefix,
none verified, interleaved with 200 real merchants across other prefixes who verify. The prefix
is blocked within ``min_sends`` sends and no real merchant is refused."""

from __future__ import annotations

from typing import Any

import pytest

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import BlockedPrefix, CodeRequest, GuardNotice
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.fraud import GB_PREFIX, cn_number, gb_number
from tests.helpers.services import caught, rules

pytestmark = pytest.mark.django_db

MIN_SENDS = 20
AUTO_BLOCK = {
    "min_sends": MIN_SENDS,
    "max_conversion": 0.05,
    "prefix_digits": 7,
    "window_hours": 24,
    "mode": "block",
}
ROUNDS = 200


def test_a_pumping_attack_is_blocked_and_no_merchant_is_refused(nxcloud: FakeNXCloud, capsys: Any) -> None:
    attacker_sent = attacker_refused = 0
    merchants_refused: list[str] = []
    merchants_verified = 0
    with (
        rules(AUTO_BLOCK=AUTO_BLOCK, MAX_SENDS_PER_DAY_GLOBAL=10**6),
        caught(signals.prefix_blocked) as told,
    ):
        for index in range(ROUNDS):
            # The attacker: a new number in the same range each time, never verified.
            pumped = services.start_registration(gb_number(index))
            if pumped.code_requests.latest().outcome == CodeRequest.Outcome.SENT:
                attacker_sent += 1
            else:
                assert pumped.code_requests.latest().refusal_reason == "prefix_blocked"
                attacker_refused += 1
            # A real merchant, spread over 20 other prefixes (10 each), who types the code in.
            digits = cn_number(index % 20, index)
            merchant = services.start_registration(digits)
            if merchant.code_requests.latest().outcome != CodeRequest.Outcome.SENT:
                merchants_refused.append(digits)
                continue
            code = nxcloud.latest_code(digits)
            assert code is not None
            if services.check_code(merchant, code).outcome == "accepted":
                merchants_verified += 1
    getcode_calls = len(nxcloud.calls_to("getCode"))
    with capsys.disabled():
        print(
            f"\npumping replay: attacker {attacker_sent} sent, {attacker_refused} refused; "
            f"merchants {ROUNDS - len(merchants_refused)} sent, {len(merchants_refused)} refused, "
            f"{merchants_verified} verified; getCode calls {getcode_calls}"
        )
    assert attacker_sent <= MIN_SENDS
    assert attacker_refused == ROUNDS - attacker_sent
    assert merchants_refused == []
    assert merchants_verified == ROUNDS
    assert getcode_calls == attacker_sent + ROUNDS  # no refused send reached NXCloud
    blocked = BlockedPrefix.objects.get()
    assert (blocked.prefix, blocked.mode, blocked.sends, blocked.verified) == (
        GB_PREFIX,
        "block",
        MIN_SENDS,
        0,
    )
    assert len(told) == 1
    assert GuardNotice.objects.count() == 1
