"""A registered number's health in a merchant's words: what the customer page, the API and the
admin say of the record ``services.health`` keeps (the account's state and the display name's
review, each with what to do next), and when setup can be tried again after Meta's registration
limit. One place, so every door says the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..choices import AccountState, NameReview, RegistrationStatus
from ..conf import conf
from ..models import PhoneRegistration
from .client_setup import setup_possible_at
from .health import health_of


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
    if registration.status != RegistrationStatus.VERIFIED:
        return None
    return setup_possible_at(registration.phone_number, now)
