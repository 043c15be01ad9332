"""Plain-words explanations shared by the admin, the customer pages and the commands."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from .choices import Failure, RefusalReason


def zone_name(moment: datetime) -> str:
    """The current time zone at ``moment`` by its offset: ``UTC``, ``UTC+8``, ``UTC-3:30``.

    An offset reads the same to everyone (``CST`` is China's and America's Central time); the
    zone is the active one (``timezone.activate``, e.g. the customer's), else ``TIME_ZONE``."""
    offset = timezone.localtime(moment).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    hours, minutes = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def relative_text(until: datetime | None, now: datetime | None = None) -> str:
    """``in 42 seconds`` / ``in 3 minutes`` / ``in 2 hours`` / ``""`` when there is no time: how
    long until ``until``, rounded up, with no clock and no zone (the customer pages' words)."""
    if until is None:
        return ""
    now = now or timezone.now()
    seconds = max(int((until - now).total_seconds()), 0)
    if seconds < 60:
        return ngettext("in %(n)d second", "in %(n)d seconds", seconds) % {"n": seconds}
    if seconds < 3600:
        minutes = (seconds + 59) // 60
        return ngettext("in %(n)d minute", "in %(n)d minutes", minutes) % {"n": minutes}
    hours = (seconds + 3599) // 3600
    return ngettext("in %(n)d hour", "in %(n)d hours", hours) % {"n": hours}


def until_text(until: datetime | None, now: datetime | None = None) -> str:
    """``in 42 seconds (at 10:35 UTC)`` / ``in 3 minutes (at 18:38 UTC+8)`` / ``""`` when there is
    no time. The clock is in the current time zone and says which (``zone_name``): staff's and
    the commands' words; customers get ``relative_text``."""
    if until is None:
        return ""
    clock = f"{time_format(timezone.localtime(until), 'H:i')} {zone_name(until)}"
    return _("%(span)s (at %(clock)s)") % {"span": relative_text(until, now), "clock": clock}


def refusal_text(
    reason: str, until: datetime | None = None, now: datetime | None = None, *, clock: bool = True
) -> str:
    """Why a check or send was refused, and when it may be tried again, in plain words.

    ``clock=False``: the when as ``relative_text`` (no clock, no zone), for the customer pages."""
    when = until_text(until, now) if clock else relative_text(until, now)
    texts = {
        RefusalReason.MALFORMED: _("Enter the code as digits, for example 123456 or 123-456."),
        RefusalReason.NO_CODE: _("No code has been sent to this number yet. Ask for a code first."),
        RefusalReason.EXPIRED: _("This code has expired. Ask for a new code."),
        RefusalReason.TOO_MANY_ATTEMPTS: _("Too many wrong tries for this code. Ask for a new code."),
        RefusalReason.ALREADY_VERIFIED: _("This number is already verified."),
        RefusalReason.IN_FLIGHT: _(
            "Another request for this number is in progress. Wait a moment and look again."
        ),
        RefusalReason.IP_LIMIT: _("Too many attempts from your network."),
        RefusalReason.COOLDOWN: _("A code was sent moments ago."),
        RefusalReason.DAILY_CAP: _("This number has had as many codes as allowed in one day."),
        RefusalReason.CLOSED: _("This registration is closed."),
        RefusalReason.OWNER_LIMIT: _("You have asked for as many codes as allowed in one day."),
        RefusalReason.IP_SEND_LIMIT: _("Too many codes have been asked for from your network."),
        RefusalReason.GLOBAL_LIMIT: _(
            "We are sending no codes just now: our daily limit is reached and our team has been told."
        ),
        RefusalReason.NO_ADDRESS: _(
            "We could not tell where your request came from, so it was not sent. Please try again."
        ),
        RefusalReason.LANDLINE_SMS: _(
            "This looks like a landline: landlines can't receive SMS, so choose a voice call."
        ),
        RefusalReason.NUMBER_POLICY: _("Codes cannot be sent to this kind of number."),
        RefusalReason.SETUP_LIMIT: _(
            "WhatsApp allows only 10 setup attempts for one number in 72 hours, and this number "
            "has reached that limit. Nothing more was sent."
        ),
        RefusalReason.METHOD_POLICY: _("Codes cannot be sent that way here: choose the other way."),
        RefusalReason.SEND_BUDGET: _(
            "We cannot send more codes to numbers in this area today. Our team has been told."
        ),
        RefusalReason.PREFIX_BLOCKED: _(
            "This number cannot get a code just now. Please contact our support team, who can "
            "open it for you."
        ),
        RefusalReason.FAILURE_LIMIT: _(
            "WhatsApp's verification service could not be used for your last tries. Our team "
            "has been told; nothing was used up."
        ),
        RefusalReason.PAUSED: _(
            "We have paused calls to WhatsApp's verification service because of a problem on our "
            "side. Our team has been told; nothing was used up."
        ),
    }
    text = str(texts.get(reason, _("Refused.")))  # type: ignore[call-overload]
    if when:
        if reason in (RefusalReason.TOO_MANY_ATTEMPTS, RefusalReason.EXPIRED):
            text = join_sentences(text, _("A new code can be sent %(when)s.") % {"when": when})
        else:
            text = join_sentences(text, _("You can try again %(when)s.") % {"when": when})
    return text


def staff_refusal_text(reason: str, until: datetime | None = None, now: datetime | None = None) -> str:
    """``refusal_text`` for staff's pages: where the customer's words tell the customer what to do
    ("Ask for a new code"), what staff need to know instead."""
    if reason == RefusalReason.EXPIRED:
        return _("the current code has expired, so a new code has to be sent first.")
    if reason == RefusalReason.TOO_MANY_ATTEMPTS:
        return _("every try on the current code is used, so a new code has to be sent first.")
    return refusal_text(reason, until, now)


def join_sentences(first: str, second: str) -> str:
    """Two sentences as one text: a space in English, nothing in Chinese (the catalogue decides)."""
    return pgettext("joins two sentences", "%(first)s %(second)s") % {"first": first, "second": second}


def customer_configuration_text() -> str:
    """For customers: our configuration is wrong (never which setting: that is for staff)."""
    return _(
        "Something is wrong on our side, so we cannot continue right now. Nothing was used up, "
        "and our team can see the problem. Please try again later."
    )


def is_configuration_failure(row: object) -> bool:
    """Whether a finished row failed because of our configuration (its ``failure`` field)."""
    return getattr(row, "failure", "") == Failure.CONFIGURATION


def configuration_problem_text(result_code: int | None, message: str = "") -> str:
    """For staff: which setting to look at when NXCloud refused our credentials or request."""
    hints = {
        1001: _("a required header is missing: this is a bug in the app, please report it"),
        1002: _("bizType/action or body rejected: this is a bug in the app, please report it"),
        1003: _("signature rejected: check ACCESS_SECRET (and SIGN_ALGORITHM)"),
        1004: _("timestamp rejected: check this server's clock (NTP)"),
        1005: _("access key rejected: check ACCESS_KEY and that it has the WhatsApp business"),
        9000: _("a required parameter is missing"),
        9007: _("this access key is not an integrator account: check ACCESS_KEY"),
    }
    if result_code is None:
        return _("NXCloud is not configured: check NXWA_ONBOARDING (%(detail)s)") % {
            "detail": message or _("missing setting")
        }
    hint = hints.get(result_code, message or _("unexpected answer"))
    return _("Configuration problem (NXCloud %(code)s): %(hint)s") % {"code": result_code, "hint": hint}


#: createApp's answer when the integrator already has NXCloud's maximum of applications.
TOO_MANY_APPLICATIONS = 9009


def application_outcome_text(
    outcome: str, *, failure: str = "", result_code: int | None = None, result_message: str = ""
) -> str:
    """What became of a createApp (``Application.outcome``), in plain words for staff."""
    from_nxcloud = {"code": result_code, "message": result_message or _("no message")}
    if outcome == "created":
        return _("NXCloud created the application.")
    if outcome == "added":
        return _("Added by its app key.")
    if outcome == "default":
        return _("The installation's default application: its app key is NXWA_ONBOARDING['APP_KEY'].")
    if outcome == "pending":
        return _("createApp is in progress, or was interrupted; NXCloud's answer is not known yet.")
    if failure == Failure.CONFIGURATION:
        return configuration_problem_text(result_code, result_message)
    if result_code == TOO_MANY_APPLICATIONS:
        return _(
            "NXCloud allows an integrator at most 1,000 customer applications, and this account "
            "has them all: nothing was created. Reuse an application, or ask NXCloud to raise the limit."
        )
    if outcome == "rejected":
        return _("NXCloud refused to create the application (result %(code)s: %(message)s).") % from_nxcloud
    if outcome == "unknown":
        return _(
            "NXCloud's answer was lost: the application may have been created there, but its app "
            "key is only ever returned by createApp. If NXCloud shows it, add it here by its app key."
        )
    return _("NXCloud could not be reached, so nothing was created. Try again.")


def code_rejected_text(attempts_left: int, can_send_now: bool) -> str:
    """For customers (the pages and the API): a code NXCloud did not accept, and what is left."""
    if attempts_left:
        return ngettext(
            "That code was not accepted. You have %(n)d try left.",
            "That code was not accepted. You have %(n)d tries left.",
            attempts_left,
        ) % {"n": attempts_left}
    if can_send_now:
        return _("That code was not accepted, and it was the last try for this code. Ask for a new one.")
    return _("That code was not accepted, and it was the last try for this code.")


def taken_over_text() -> str:
    """For the merchant whose new registration released a hold on their number."""
    return _(
        "Someone had started onboarding this number but never verified it, so their hold has "
        "ended and the number is yours to verify."
    )


def renewal_text() -> str:
    """For the owner of an expired hold who tries to register the number again."""
    return _(
        "You already started onboarding this number and did not verify it in time. Continue "
        "with that registration (ask for a new code there), or ask our team for help."
    )
