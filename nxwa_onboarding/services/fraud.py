"""The fraud guard: where codes go, ahead of every send (SMS pumping sends codes to ranges of
numbers whose operator shares the fee).

Two rules, read after the send rules passed and before NXCloud is called, inside
``request_code``'s write-ahead transaction (a refusal is recorded as a refused ``CodeRequest``):

- **send budgets** (``SEND_BUDGETS``): at most so many codes a day to one region (the number's
  country, stored on the registration when it started) or one prefix (``"+4479"``), counted over
  the installation (over the application's own registrations when its policy sets the budget);
- **prefixes that never convert** (``AUTO_BLOCK``): when the numbers under one prefix (the first
  ``prefix_digits`` digits, country code included) have had at least ``min_sends`` codes in the
  last ``window_hours`` and at most ``max_conversion`` of those numbers were ever verified, new
  sends there are refused (``block``) or only reported (``monitor``). The allow-list (the
  ``AUTO_BLOCK_ALLOW`` setting and ``AllowedPrefix`` rows) is never blocked; staff lift a block
  with a reason (``lift_block``), and only sends after the lift count again.

The guard itself writes nothing (its transaction is rolled back for a refusal); ``request_code``
hands what it found to ``after_send`` once the row is recorded: the block is stored and staff
are told once a day per region or prefix (a ``GuardNotice`` row, the admin's banner, a signal).
Its own ORM queries, on indexes (``nxwa_reg_phone_prefix_idx``, ``nxwa_reg_region_idx``, the
sends' ``created_at``): none at all while no budget applies and AUTO_BLOCK is off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import signals
from ..choices import RefusalReason
from ..conf import conf
from ..models import AllowedPrefix, BlockedPrefix, CodeRequest, GuardNotice, PhoneRegistration
from . import sql
from .calls import UserLike, clean_text, real_user
from .policy import Policy
from .rules import CALLED_SENDS, Refusal

logger = logging.getLogger("nxwa_onboarding.services")

BUDGET = "budget"
BLOCK = "block"


def region_of(digits: str) -> str:
    """The ISO region of a number as ``normalize_phone`` returns it (``""``: none known)."""
    try:
        number = phonenumbers.parse("+" + digits.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number) or ""
    return "" if region == "ZZ" else region


@dataclass(frozen=True)
class Figures:
    """What AUTO_BLOCK saw under one prefix in its window."""

    sends: int
    numbers: int
    verified: int

    @property
    def conversion(self) -> float:
        return self.verified / self.numbers if self.numbers else 0.0


@dataclass(frozen=True)
class Finding:
    """What the guard found for one send: a refusal (or None: monitor mode), and for whom."""

    kind: str  # BUDGET or BLOCK
    key: str  # the region ("GB") or the prefix's digits ("4479")
    refusal: Refusal | None
    mode: str = ""  # for BLOCK: "block" or "monitor"
    figures: Figures | None = None
    window_hours: float = 0.0


def _sends(since: datetime, exclude_pk: int | None) -> QuerySet[CodeRequest]:
    rows = CodeRequest.objects.filter(created_at__gt=since, outcome__in=CALLED_SENDS)
    return rows.exclude(pk=exclude_pk) if exclude_pk is not None else rows


def _serialise(key: str) -> None:
    """On PostgreSQL, wait for any other send counting the same budget or prefix (the write-ahead
    transaction's advisory lock, as the rules' own: ``sql.serialise``, keyed apart from addresses),
    so two sends at once cannot both take the last code of a budget."""
    sql.serialise(owner_id=None, block=f"guard:{key}")


def _budget_applies(key: str, registration: PhoneRegistration) -> bool:
    if key.startswith("+"):
        return registration.phone_number.startswith(key[1:])
    return key == (registration.region or region_of(registration.phone_number))


def budget_finding(
    registration: PhoneRegistration, rules: Policy, now: datetime, exclude_pk: int | None = None
) -> Finding | None:
    """The first SEND_BUDGETS entry for this number's region or prefix that is used up."""
    budgets = rules.get("SEND_BUDGETS")
    own = rules.overrides_key("SEND_BUDGETS")  # the application's own budget counts its own sends
    for key, cap in sorted(budgets.items()):  # one order: the locks below never deadlock
        if cap <= 0 or not _budget_applies(key, registration):
            continue
        _serialise(key)
        rows = _sends(now - timedelta(days=1), exclude_pk)
        if key.startswith("+"):
            rows = rows.filter(registration__phone_number__startswith=key[1:])
        else:
            rows = rows.filter(registration__region=key)
        if own:
            rows = rows.filter(registration__application=registration.application)
        if rows.order_by()[:cap].count() < cap:
            continue
        oldest = rows.order_by("created_at").values_list("created_at", flat=True).first()
        until = oldest + timedelta(days=1) if oldest else None
        return Finding(BUDGET, key.lstrip("+"), Refusal(RefusalReason.SEND_BUDGET, until))
    return None


def allowed(digits: str) -> bool:
    """Whether the number is on the allow-list (the setting, or a row for it or a prefix of it)."""
    if any(digits.startswith(item) for item in conf.AUTO_BLOCK_ALLOW if item):
        return True
    prefixes = [digits[:length] for length in range(1, len(digits) + 1)]
    return AllowedPrefix.objects.filter(prefix__in=prefixes).exists()


def measure(prefix: str, since: datetime, exclude_pk: int | None = None) -> Figures:
    """Codes sent under ``prefix`` since ``since``, to how many numbers, how many ever verified."""
    numbers = "registration__phone_number"
    found = (
        _sends(since, exclude_pk)
        .filter(registration__phone_number__startswith=prefix)
        .aggregate(
            sends=Count("pk"),
            numbers=Count(numbers, distinct=True),
            verified=Count(numbers, distinct=True, filter=Q(registration__verified_at__isnull=False)),
        )
    )
    return Figures(found["sends"], found["numbers"], found["verified"])


def block_finding(
    registration: PhoneRegistration, rules: Policy, now: datetime, exclude_pk: int | None = None
) -> Finding | None:
    """AUTO_BLOCK for this number's prefix: a standing block, or figures that trip it now."""
    settings = rules.get("AUTO_BLOCK")
    mode = settings["mode"]
    if mode not in (BlockedPrefix.Mode.BLOCK, BlockedPrefix.Mode.MONITOR):
        return None
    digits = registration.phone_number
    prefix = digits[: int(settings["prefix_digits"])]
    if allowed(digits):
        return None
    window = float(settings["window_hours"])
    _serialise(f"+{prefix}")
    refusal = Refusal(RefusalReason.PREFIX_BLOCKED) if mode == BlockedPrefix.Mode.BLOCK else None
    history = BlockedPrefix.objects.filter(prefix=prefix).aggregate(
        standing=Max("pk", filter=Q(lifted_at__isnull=True, mode=BlockedPrefix.Mode.BLOCK)),
        lifted=Max("lifted_at"),
    )
    if history["standing"] is not None:
        return Finding(BLOCK, prefix, refusal, mode, None, window)
    since = now - timedelta(hours=window)
    if history["lifted"] is not None and history["lifted"] > since:
        since = history["lifted"]  # staff lifted it: only what was sent since counts
    figures = measure(prefix, since, exclude_pk)
    if figures.sends < int(settings["min_sends"]) or figures.conversion > float(settings["max_conversion"]):
        return None
    return Finding(BLOCK, prefix, refusal, mode, figures, window)


def guard(
    registration: PhoneRegistration, rules: Policy, now: datetime, *, exclude_pk: int | None = None
) -> Finding | None:
    """What the fraud guard finds for a send to ``registration`` now (nothing written)."""
    return budget_finding(registration, rules, now, exclude_pk) or block_finding(
        registration, rules, now, exclude_pk
    )


def tell_once(kind: str, key: str, now: datetime) -> bool:
    """Record that staff are told of ``kind`` for ``key`` today; False when they were already."""
    try:
        with transaction.atomic():
            GuardNotice.objects.create(kind=kind, key=key, day=now.date())
    except IntegrityError:
        return False
    return True


def _record_block(finding: Finding) -> BlockedPrefix | None:
    """Store a block (or a report) found by its figures; the standing one if there is one."""
    standing = BlockedPrefix.objects.filter(prefix=finding.key, lifted_at__isnull=True).first()
    if standing is not None:
        if standing.mode == finding.mode or finding.mode != BlockedPrefix.Mode.BLOCK:
            return standing
        BlockedPrefix.objects.filter(pk=standing.pk).update(mode=finding.mode)  # reported, now blocked
        standing.mode = finding.mode
        return standing
    if finding.figures is None:
        return None
    try:
        with transaction.atomic():
            return BlockedPrefix.objects.create(
                prefix=finding.key,
                mode=finding.mode,
                sends=finding.figures.sends,
                numbers=finding.figures.numbers,
                verified=finding.figures.verified,
                window_hours=finding.window_hours,
            )
    except IntegrityError:  # found meanwhile by another send
        return BlockedPrefix.objects.filter(prefix=finding.key, lifted_at__isnull=True).first()


def after_send(finding: Finding | None, code_request: CodeRequest) -> None:
    """Once the send is recorded (refused, or sent in monitor mode): store a block found, and
    tell staff once a day per region or prefix (log, ``GuardNotice`` for the banner, signal)."""
    if finding is None:
        return
    now = timezone.now()
    registration = code_request.registration
    if finding.kind == BUDGET:
        if tell_once(BUDGET, finding.key, now):
            logger.error("nxwa_onboarding: SEND_BUDGETS reached for %s: sends there are refused", finding.key)
            signals.send_budget_reached.send(
                sender=PhoneRegistration,
                registration=registration,
                code_request=code_request,
                key=finding.key,
            )
        return
    blocked = _record_block(finding)
    if blocked is not None and tell_once(BLOCK, finding.key, now):
        logger.error(
            "nxwa_onboarding: AUTO_BLOCK %s prefix +%s (%s codes, %s numbers, %s verified)",
            "blocked" if blocked.mode == BlockedPrefix.Mode.BLOCK else "reported",
            blocked.prefix,
            blocked.sends,
            blocked.numbers,
            blocked.verified,
        )
        signals.prefix_blocked.send(
            sender=PhoneRegistration, registration=registration, code_request=code_request, blocked=blocked
        )


def lift_block(blocked: BlockedPrefix, *, user: UserLike, reason: str) -> bool:
    """Staff lift a block (or a report), saying why: recorded with who and when; sends there go
    again, and only those after the lift count toward a new block. False when already lifted."""
    reason = clean_text(reason, 255).strip()
    if not reason:
        raise ValidationError(_("Say why the block is lifted."), code="reason")
    now = timezone.now()
    fields: dict[str, Any] = {"lifted_at": now, "lifted_by": real_user(user), "lift_reason": reason}
    if not BlockedPrefix.objects.filter(pk=blocked.pk, lifted_at__isnull=True).update(**fields):
        return False
    for name, value in fields.items():
        setattr(blocked, name, value)
    logger.info("blocked prefix +%s lifted by %s: %s", blocked.prefix, real_user(user), reason)
    return True


def notices_today(now: datetime | None = None) -> list[GuardNotice]:
    """What staff are told today (the admin's banner)."""
    return list(GuardNotice.objects.filter(day=(now or timezone.now()).date()).order_by("kind", "key"))
