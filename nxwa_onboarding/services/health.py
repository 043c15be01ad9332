"""A registered number's health: one record, two sources, the words every door shows.

The record (``NumberHealth``) is written here only, from the webhooks NXCloud sends
(``record_webhook``, called by ``webhooks.receive``) and from ``getPhone``, which the follower
reads (``read_due``: never a page or an API poll) at most once per number per
``HEALTH_READ_INTERVAL``, one call per application and step for up to ``HEALTH_READ_BATCH``
numbers (its ``business_phones`` filter). Each part (account, name, quality, limit, PIN) keeps
when it was read and from where; a change sends ``health_changed`` once.

``merchant_view`` turns the record into what the customer page and the API say: the account's
state and the display name's review in a merchant's words, each with what to do next.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import signals
from ..choices import AccountState, HealthSource, NameReview, RegistrationStatus
from ..conf import conf
from ..models import NumberHealth, PhoneRegistration
from ..phone import digits_only
from ..webhooks.events import ACCOUNT, NAME, QUALITY, text
from . import calls
from .applications import resolve_application

logger = logging.getLogger("nxwa_onboarding.services")

#: The parts of the record, each with its fields, its "read from" and its "read at" field.
PARTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "account": (("account_state", "account_reason"), "account_source", "account_read_at"),
    "name": (("display_name", "name_review", "name_rejection_reason"), "name_source", "name_read_at"),
    "quality": (("quality_rating",), "quality_source", "quality_read_at"),
    "limit": (("messaging_limit",), "limit_source", "limit_read_at"),
    "pin": (("pin_set",), "pin_source", "pin_read_at"),
}
FIELD_PART = {name: part for part, (names, _source, _at) in PARTS.items() for name in names}
#: Lengths of the text fields (what NXCloud sends is cut to fit, never refused).
LENGTHS = {
    "account_reason": 255,
    "display_name": 255,
    "name_rejection_reason": 255,
    "quality_rating": 20,
    "messaging_limit": 64,
}

#: getPhone's ``status`` as an account state (the others say nothing about the account).
NUMBER_STATUS = {
    "CONNECTED": AccountState.ACTIVE,
    "FLAGGED": AccountState.WARNED,
    "RESTRICTED": AccountState.RESTRICTED,
    "RATE_LIMITED": AccountState.RESTRICTED,
    "BANNED": AccountState.BANNED,
    "DELETED": AccountState.DELETED,
}
#: A name decision (webhook) or name status (getPhone) as a review.
NAME_STATUS = {
    "APPROVED": NameReview.APPROVED,
    "AVAILABLE_WITHOUT_REVIEW": NameReview.AVAILABLE,
    "PENDING": NameReview.PENDING,
    "PENDING_REVIEW": NameReview.PENDING,
    "IN_REVIEW": NameReview.PENDING,
    "DECLINED": NameReview.REJECTED,
    "REJECTED": NameReview.REJECTED,
    "DEFERRED": NameReview.DEFERRED,
    "EXPIRED": NameReview.EXPIRED,
}
#: Reasons NXCloud sends that mean "no reason".
NO_REASON = {"", "NONE", "NULL", "N/A"}


# -- the record ------------------------------------------------------------------------------------


def clean(name: str, value: Any) -> Any:
    if name == "pin_set":
        return value if isinstance(value, bool) else None
    return calls.clean_text(str(value), LENGTHS.get(name, 20))


def record(
    registration: PhoneRegistration, source: str, readings: dict[str, Any], now: datetime | None = None
) -> tuple[NumberHealth, list[str]]:
    """Write what ``source`` just read (``readings``: field -> value, only the parts it spoke of)
    and stamp each part read with ``source`` and ``now``; the fields whose value changed. The
    caller sends ``health_changed`` (``announce``) once its transaction is committed."""
    now = now or timezone.now()
    health, _created = NumberHealth.objects.select_for_update().get_or_create(registration=registration)
    changed: list[str] = []
    stamped: set[str] = set()
    for name, value in readings.items():
        part = FIELD_PART.get(name)
        if part is None:
            continue
        value = clean(name, value)
        if getattr(health, name) != value:
            setattr(health, name, value)
            changed.append(name)
        stamped.add(part)
    for part in stamped:
        _names, source_field, at_field = PARTS[part]
        setattr(health, source_field, source)
        setattr(health, at_field, now)
    if changed:
        health.changed_at = now
    health.save()
    return health, changed


def announce(registration: PhoneRegistration, health: NumberHealth, changed: list[str], source: str) -> None:
    """``health_changed``, once, for a change ``record`` made (nothing when nothing changed)."""
    if not changed:
        return
    logger.info("health of registration %s changed (%s): %s", registration.public_id, source, changed)
    signals.health_changed.send(
        sender=PhoneRegistration, registration=registration, health=health, changed=changed, source=source
    )


def health_of(registration: PhoneRegistration) -> NumberHealth | None:
    """The number's health record, or None before anything was read."""
    try:
        return registration.health
    except NumberHealth.DoesNotExist:
        return None


# -- from webhooks -----------------------------------------------------------------------------------


def webhook_readings(kind: str, event: str, value: dict[str, Any], state: str = "") -> dict[str, Any]:
    """What one applied callback says of the health (``webhooks.events``' field names)."""
    if kind == ACCOUNT and state:
        reason = value.get("violation_info")
        detail = text(reason.get("violation_type")) if isinstance(reason, dict) else ""
        restriction = value.get("restriction_info")
        if not detail and isinstance(restriction, list) and restriction and isinstance(restriction[0], dict):
            detail = text(restriction[0].get("restriction_type"))
        return {"account_state": state, "account_reason": detail}
    if kind == QUALITY:
        readings: dict[str, Any] = {}
        limit = text(value.get("current_limit") or value.get("messaging_limit"), 64)
        if limit:
            readings["messaging_limit"] = limit
        rating = text(value.get("quality_rating") or value.get("quality_score"), 20)
        if rating:
            readings["quality_rating"] = rating.upper()
        return readings
    if kind == NAME:
        review = NAME_STATUS.get(event.upper(), "")
        if not review:
            return {}
        readings = {"name_review": review}
        reason = text(value.get("rejection_reason"))
        readings["name_rejection_reason"] = "" if reason.upper() in NO_REASON else reason
        requested = text(value.get("requested_verified_name") or value.get("requested_name"))
        if requested:
            readings["display_name"] = requested
        return readings
    return {}


def record_webhook(
    registrations: Iterable[PhoneRegistration], kind: str, event: str, value: dict[str, Any], state: str = ""
) -> list[tuple[PhoneRegistration, NumberHealth, list[str]]]:
    """Record an applied callback on each registration it changed (inside the caller's
    transaction); what changed, for ``announce`` once it commits."""
    readings = webhook_readings(kind, event, value, state)
    if not readings:
        return []
    now = timezone.now()
    done = []
    for registration in registrations:
        health, changed = record(registration, HealthSource.WEBHOOK, readings, now)
        done.append((registration, health, changed))
    return done


# -- from getPhone ----------------------------------------------------------------------------------


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return bool(value)
    return None


def phone_readings(item: dict[str, Any]) -> dict[str, Any]:
    """What one getPhone number object says of the health (read loosely: wrong types are absent)."""
    readings: dict[str, Any] = {}
    state = NUMBER_STATUS.get(text(item.get("status")).upper(), "")
    if state:
        readings["account_state"] = state
        readings["account_reason"] = ""
    review = NAME_STATUS.get(text(item.get("name_status")).upper(), "")
    if review:
        readings["name_review"] = review
        reason = text(item.get("name_rejection_reason") or item.get("rejection_reason"))
        readings["name_rejection_reason"] = "" if reason.upper() in NO_REASON else reason
    name = text(item.get("verified_name"))
    if name:
        readings["display_name"] = name
    rating = text(item.get("quality_rating"), 20)
    if rating:
        readings["quality_rating"] = rating.upper()
    limit = text(
        item.get("messaging_limit_tier") or item.get("messaging_limit") or item.get("current_limit"), 64
    )
    if limit:
        readings["messaging_limit"] = limit
    for key in ("is_pin_enabled", "pin_set", "two_step_verification"):
        pin = _flag(item.get(key))
        if pin is not None:
            readings["pin_set"] = pin
            break
    return readings


def phone_items(data: Any) -> dict[str, dict[str, Any]]:
    """getPhone's answer by digits: an object keyed by number, or a list (its docs show both)."""
    found: dict[str, dict[str, Any]] = {}
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        pairs = data.items()
    elif isinstance(data, list):
        pairs = ((None, item) for item in data)
    else:
        return found
    for key, item in pairs:
        if not isinstance(item, dict):
            continue
        digits = digits_only(text(item.get("display_phone_number") or item.get("phone_number") or key))
        if digits:
            found[digits[:20]] = item
    return found


def due(app_key: str, now: datetime) -> QuerySet[PhoneRegistration]:
    """The application's registered numbers whose health was not asked of getPhone within
    ``HEALTH_READ_INTERVAL``, the longest unread first."""
    cutoff = now - timedelta(seconds=conf.HEALTH_READ_INTERVAL)
    return (
        PhoneRegistration.objects.filter(
            status=RegistrationStatus.REGISTERED, application=resolve_application(app_key)
        )
        .filter(
            Q(health__isnull=True)
            | Q(health__phone_requested_at__isnull=True)
            | Q(health__phone_requested_at__lt=cutoff)
        )
        .order_by("health__phone_requested_at", "pk")
    )


def has_due(app_key: str, now: datetime | None = None) -> bool:
    return due(app_key, now or timezone.now()).exists()


def _claim(registrations: list[PhoneRegistration], now: datetime) -> list[PhoneRegistration]:
    """Mark each number asked about before the call (so however often steps run, or fail, a
    number is asked about at most once per interval); the ones this step holds."""
    cutoff = now - timedelta(seconds=conf.HEALTH_READ_INTERVAL)
    NumberHealth.objects.bulk_create(
        [NumberHealth(registration=registration) for registration in registrations], ignore_conflicts=True
    )
    pks = [registration.pk for registration in registrations]
    NumberHealth.objects.filter(registration_id__in=pks).filter(
        Q(phone_requested_at__isnull=True) | Q(phone_requested_at__lt=cutoff)
    ).update(phone_requested_at=now)
    held = set(
        NumberHealth.objects.filter(registration_id__in=pks, phone_requested_at=now).values_list(
            "registration_id", flat=True
        )
    )
    return [registration for registration in registrations if registration.pk in held]


@dataclass
class HealthRead:
    """What one read did: the numbers asked about, the ones whose health changed."""

    asked: int = 0
    changed: list[int] = field(default_factory=list)


def read_due(app_key: str) -> HealthRead:
    """One getPhone for up to ``HEALTH_READ_BATCH`` of the application's registered numbers that
    are due; their answers recorded. Only the follower calls this. Raises the client's errors
    (the numbers stay claimed: they are asked about again after the interval)."""
    now = timezone.now()
    batch = list(due(app_key, now)[: conf.HEALTH_READ_BATCH])
    held = _claim(batch, now)
    result = HealthRead(asked=len(held))
    if not held:
        return result
    data = calls.get_client().get_phone(app_key, [item.phone_number for item in held])
    items = phone_items(data)
    done = timezone.now()
    for registration in held:
        item = items.get(registration.phone_number)
        if item is None:
            continue
        with transaction.atomic():
            health, changed = record(registration, HealthSource.GET_PHONE, phone_readings(item), done)
        if changed:
            result.changed.append(registration.pk)
        announce(registration, health, changed, HealthSource.GET_PHONE)
    return result


# -- in a merchant's words ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One thing the merchant should know: ``tone`` (``ok``, ``wait``, ``problem``), a title, what
    it means, and what to do next."""

    kind: str
    tone: str
    title: str
    text: str
    next_step: str
    reason: str = ""


@dataclass(frozen=True)
class MerchantView:
    """What the customer page and the API show of the health (``tone``: the worst notice's)."""

    account_state: str
    name_review: str
    display_name: str
    name_rejection_reason: str
    quality_rating: str
    quality_text: str
    messaging_limit: str
    limit_text: str
    pin_set: bool | None
    read_at: datetime | None
    notices: list[Notice]

    @property
    def tone(self) -> str:
        tones = {notice.tone for notice in self.notices}
        return next((tone for tone in ("problem", "wait") if tone in tones), "ok")


def contact_text() -> str:
    return conf.SUPPORT_CONTACT or _("our support team")


def account_notice(state: str, reason: str) -> Notice | None:
    contact = contact_text()
    if state == AccountState.BANNED:
        return Notice(
            "account",
            "problem",
            _("WhatsApp has banned this number"),
            _("Messages can no longer be sent or received on WhatsApp from this number."),
            _(
                "Contact %(contact)s: we can ask Meta to review the ban on your behalf. Appeals are "
                "decided by Meta, usually within a few days."
            )
            % {"contact": contact},
            reason,
        )
    if state == AccountState.BAN_SCHEDULED:
        return Notice(
            "account",
            "problem",
            _("WhatsApp plans to ban this number"),
            _(
                "Meta found messages from this number that break its policies and will ban it "
                "unless this is resolved."
            ),
            _("Contact %(contact)s as soon as possible to ask for a review.") % {"contact": contact},
            reason,
        )
    if state == AccountState.RESTRICTED:
        return Notice(
            "account",
            "problem",
            _("WhatsApp has restricted this number"),
            _(
                "For a while this number can only answer customers who write first; it cannot "
                "start conversations."
            ),
            _("The restriction ends by itself. If you think it is a mistake, contact %(contact)s.")
            % {"contact": contact},
            reason,
        )
    if state == AccountState.WARNED:
        return Notice(
            "account",
            "wait",
            _("WhatsApp has warned this number"),
            _("Meta found a message that breaks its policies. The number still works."),
            _("Check that your messages follow WhatsApp's Business Policy; repeated warnings lead to a ban."),
            reason,
        )
    if state == AccountState.DELETED:
        return Notice(
            "account",
            "problem",
            _("This WhatsApp account was deleted"),
            _("The number is no longer connected to WhatsApp Business."),
            _("To use it again, contact %(contact)s.") % {"contact": contact},
            reason,
        )
    return None


def name_notice(review: str, name: str, reason: str) -> Notice | None:
    contact = contact_text()
    if review == NameReview.REJECTED:
        text = (
            _("Meta did not approve the display name “%(name)s”.") % {"name": name}
            if name
            else _("Meta did not approve the number's display name.")
        )
        return Notice(
            "name",
            "problem",
            _("Display name not approved"),
            text,
            _(
                "Choose a name that matches your business (as on your website or signage) and ask "
                "%(contact)s to request it; until then the number can start only a few conversations."
            )
            % {"contact": contact},
            reason,
        )
    if review == NameReview.PENDING:
        return Notice(
            "name",
            "wait",
            _("Display name in review"),
            _(
                "Meta is reviewing the name customers will see. The number works meanwhile; the name "
                "shows once it is approved."
            ),
            _("Nothing to do: reviews usually take one to three working days. This page updates by itself."),
        )
    if review == NameReview.DEFERRED:
        return Notice(
            "name",
            "wait",
            _("Display name review deferred"),
            _("Meta has put off its review of the display name for now."),
            _(
                "Nothing to do yet: Meta will review it again. If it takes more than a week, "
                "contact %(contact)s."
            )
            % {"contact": contact},
        )
    if review == NameReview.EXPIRED:
        return Notice(
            "name",
            "problem",
            _("Display name request expired"),
            _("The display name was not used in time and its approval lapsed."),
            _("Ask %(contact)s to request the name again.") % {"contact": contact},
        )
    if review == NameReview.AVAILABLE:
        return Notice(
            "name",
            "ok",
            _("Display name usable before review"),
            _("Customers see the name now, although Meta has not reviewed it yet."),
            _("Nothing to do: Meta may still review it later."),
        )
    return None


def quality_text(rating: str) -> str:
    return {
        "GREEN": _("High"),
        "YELLOW": _("Medium"),
        "RED": _("Low"),
    }.get(rating.upper(), _("Not rated yet") if rating else "")


#: Meta's tier names (per number until October 2025, per business portfolio since) as counts.
TIERS = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
}


def limit_text(limit: str) -> str:
    """The messaging limit in words where the tier is one we know; else as NXCloud sent it."""
    tier = limit.strip().upper()
    if tier == "TIER_UNLIMITED":
        return _("No limit")
    if tier in TIERS:
        return ngettext(
            "%(count)s customer a day",
            "%(count)s customers a day",
            TIERS[tier],
        ) % {"count": number_format(TIERS[tier], force_grouping=True)}
    return limit


def merchant_view(registration: PhoneRegistration) -> MerchantView | None:
    """The health as the customer page and the API show it; None when nothing is known (or the
    number is not registered: before that, there is no health to tell)."""
    if registration.status != RegistrationStatus.REGISTERED:
        return None
    health = health_of(registration)
    if health is None:
        return None
    reads = [
        at
        for at in (
            health.account_read_at,
            health.name_read_at,
            health.quality_read_at,
            health.limit_read_at,
            health.pin_read_at,
        )
        if at is not None
    ]
    if not reads:
        return None
    notices = [
        notice
        for notice in (
            account_notice(health.account_state, health.account_reason),
            name_notice(health.name_review, health.display_name, health.name_rejection_reason),
        )
        if notice is not None
    ]
    return MerchantView(
        account_state=health.account_state,
        name_review=health.name_review,
        display_name=health.display_name,
        name_rejection_reason=health.name_rejection_reason,
        quality_rating=health.quality_rating,
        quality_text=quality_text(health.quality_rating),
        messaging_limit=health.messaging_limit,
        limit_text=limit_text(health.messaging_limit),
        pin_set=health.pin_set,
        read_at=max(reads),
        notices=notices,
    )


def setup_again_at(registration: PhoneRegistration, now: datetime | None = None) -> datetime | None:
    """For a verified number waiting for its WhatsApp setup: when Meta's registration budget lets
    setup be tried again (None: it may be tried now, or the number is past setup)."""
    from .client_setup import setup_possible_at

    if registration.status != RegistrationStatus.VERIFIED:
        return None
    return setup_possible_at(registration.phone_number, now)
