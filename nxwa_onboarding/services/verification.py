"""Verification: check_code, the heart of the app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from .. import signals
from ..addresses import clean_ip
from ..choices import AttemptOutcome, Channel, RegistrationStatus
from ..codes import MAX_CODE_INPUT, code_digest, normalize_code
from ..models import PhoneRegistration, VerificationAttempt
from ..nxcloud.redact import hide
from ..texts import code_rejected_text
from . import breaker, calls, sql
from .calls import CallResult, UserLike, Verdict, real_user
from .rules import malformed
from .state import get_state, read_check_state, scope_for


def check_code(
    registration: PhoneRegistration,
    code: str,
    *,
    user: UserLike = None,
    ip: str | None = None,
    channel: str = Channel.API,
) -> VerificationAttempt:
    """Pass the code the merchant received to NXCloud's checkCode, within the rules.

    Returns the finished ``VerificationAttempt``: ``accepted`` (the registration is now
    ``verified``), ``rejected`` (wrong or expired code; counts toward the cap), ``refused``
    (no call made; ``refusal_reason`` and ``retry_after`` say why and until when), ``failed``
    (never reached NXCloud, or a configuration problem: ``failure`` says which; does not count)
    or ``unknown`` (may have reached NXCloud; counts, and is never resent automatically).

    Insert first, then read the rules (``calls.record_call``): the pending row goes in at the
    start of a short transaction (the partial unique index admits one per registration, so a
    concurrent submission waits for it and is then refused as in flight), the rules are read
    with it in place, and the transaction commits before the call, or rolls back for a refusal.
    Reading the rules before inserting would leave a window: a submission that read "not
    verified" just before another one finished could insert after it and call NXCloud again.

    Statements on the accepted path (the test counts them): savepoint (or BEGIN), the pending
    insert, one SELECT of the registration with its current code and the counts, release (or
    COMMIT); then, after the call, finishing the attempt and marking the registration verified
    in one transaction.
    """
    ip = clean_ip(ip)
    code = hide(code)  # this frame's locals (and the closure below) show only placeholders
    digits = normalize_code(code)
    base: dict[str, Any] = {
        "registration": registration,
        "channel": channel,
        "user": real_user(user),
        "ip": ip,
        "code_digest": code_digest(registration, digits or str(code)[:MAX_CODE_INPUT]),
    }
    refusal = malformed(digits)
    if refusal is not None:
        return calls.refuse(VerificationAttempt, base, refusal, timezone.now())
    assert digits is not None  # malformed() refuses exactly when there are no digits

    scope = scope_for(registration, channel=channel, ip=ip, sending=False)

    left_before: list[int] = []

    def rules(row: VerificationAttempt, now: datetime) -> Verdict:
        # The address block's lock was taken by the INSERT (current_code_expression).
        holds_on = breaker.scope_names(base)  # read with the rules: no round trip of their own
        state = read_check_state(registration, scope, now, exclude_pk=row.pk, holds_on=holds_on)
        left_before.append(state.attempts_left)
        # The code the rules were read against (the same as the insert's in all but a race).
        return Verdict(state.refusal, {"code_request_id": state.code_request_id}, state.holds)

    verified: list[bool] = []

    def on_finish(row: VerificationAttempt, result: CallResult, fields: dict[str, Any]) -> None:
        if result.outcome != AttemptOutcome.ACCEPTED:
            return
        verified_at = row.finished_at
        # Serialised with a close on the registration's row: a registration closed during the
        # call stays closed (the attempt keeps NXCloud's answer), and a number registered again
        # meanwhile is never given a second open registration.
        changed = sql.update_row(
            PhoneRegistration,
            registration.pk,
            {"status": RegistrationStatus.VERIFIED, "verified_at": verified_at, "updated_at": verified_at},
            where="verified_at IS NULL AND status NOT IN ('closed', 'failed')",
        )
        if changed:
            registration.status = RegistrationStatus.VERIFIED
            registration.verified_at = verified_at
            verified.append(True)
        else:
            registration.refresh_from_db(fields=["status", "verified_at", "closed_at"])

    recorded = calls.record_call(
        VerificationAttempt,
        base,
        insert={
            "code_request_id": sql.current_code_expression(registration.pk, lock_block=scope.check_block)
        },
        rules=rules,
        call=lambda client: client.check_code(registration.phone_number, digits),
        success=AttemptOutcome.ACCEPTED,
        on_finish=on_finish,
    )
    if recorded.result is None:
        return recorded.row
    if recorded.row.outcome == AttemptOutcome.REJECTED and left_before:
        # Fenced speed-up: the tries left after a rejected check are those the rules were just
        # read with, less this one, so the doors need not read the whole state again to say so.
        # tests/services/test_verification.py holds it equal to get_state's figure.
        recorded.row.attempts_left = max(left_before[-1] - 1, 0)
    if recorded.result.outcome == AttemptOutcome.ACCEPTED and verified:
        signals.code_verified.send(sender=PhoneRegistration, registration=registration, attempt=recorded.row)
    calls.reraise_unexpected(recorded.result)
    return recorded.row


def rejected_code(
    registration: PhoneRegistration, attempt: VerificationAttempt, *, ip: str | None, channel: str
) -> tuple[str, int]:
    """What a rejected code leaves, in the customer's words, and the tries left: what the page's
    message and the API's problem both say. The tries left come with the attempt
    (``check_code``); the whole state is read only after the last try, where the words depend on
    whether a new code may be sent now."""
    if attempt.attempts_left:
        return code_rejected_text(attempt.attempts_left, can_send_now=True), attempt.attempts_left
    state = get_state(registration, ip=ip, channel=channel)
    left = state.check.attempts_left
    return code_rejected_text(left, can_send_now=state.send.refusal is None), left
