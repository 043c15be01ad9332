"""What the admin says and shows: summaries, notices, outcome messages, badges and links.

Plain functions of the service's state and the audit rows; nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import quote
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..choices import RegisterStatus, RegistrationStatus
from ..models import CallRecord, Channel, Method, PhoneRegistration, RefusalReason, VerificationAttempt
from ..nxcloud.exceptions import NXCloudError
from ..texts import (
    configuration_problem_text,
    is_configuration_failure,
    join_sentences,
    refusal_text,
    staff_refusal_text,
    until_text,
)

Attempt = VerificationAttempt.Outcome

#: How many numbers one message lists before "and N more".
LISTED_NUMBERS = 10
#: How a method reads inside a sentence ("sent by SMS", "sent by voice call").
METHOD_WORDS = {Method.SMS: _("SMS"), Method.VOICE: _("voice call")}
EMPTY = "—"


def admin_url(site: AdminSite, model: type[Model] | Model, view: str, *args: Any) -> str:
    """The URL of one of ``site``'s admin views (``change``, ``check_code``…) for ``model``."""
    opts = model._meta
    return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_{view}", args=[quote(a) for a in args])


def _numbers(registrations: Sequence[PhoneRegistration]) -> str:
    """``+86 138 0013 8000, +86 139 …`` and, past ten, "and 3 more"."""
    shown = ", ".join(r.formatted_phone for r in registrations[:LISTED_NUMBERS])
    rest = len(registrations) - LISTED_NUMBERS
    if rest > 0:
        shown += " " + ngettext("and %(n)d more", "and %(n)d more", rest) % {"n": rest}
    return shown


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def result_of(source: CallRecord | Exception) -> tuple[int | None, str]:
    """NXCloud's result code and message: a finished row's, or those of the exception of a step
    that records no row (createClient, phoneList); a setting's error has no code, only its text."""
    if isinstance(source, CallRecord):
        return source.result_code, source.result_message
    if isinstance(source, NXCloudError):
        return source.code, source.message
    return None, str(source)


def configuration_message(source: CallRecord | Exception) -> str:
    """Staff's words for what ``Failure.CONFIGURATION`` means here: which setting to look at."""
    return configuration_problem_text(*result_of(source))


# -- badges and cells --------------------------------------------------------------------------


def badge(kind: str, label: Any) -> SafeString:
    return format_html('<span class="nxwa-badge nxwa-badge--{}">{}</span>', kind, label)


def status_badge(registration: PhoneRegistration) -> SafeString:
    return badge(registration.status, registration.get_status_display())


def outcome_badge(row: Any) -> SafeString:
    """A code request's or an attempt's outcome."""
    return badge("outcome-" + row.outcome, row.get_outcome_display())


def quality_badge(rating: str) -> SafeString | str:
    return badge("quality-" + rating.lower(), rating) if rating else ""


def time_ago(value: datetime) -> SafeString:
    """``<time …>3 minutes ago</time>`` with the full date and time on hover."""
    return format_html(
        '<time class="nxwa-nowrap" datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        date_format(timezone.localtime(value), "DATETIME_FORMAT"),
        gettext("%(time)s ago") % {"time": timesince(value, depth=1)}
        if timezone.now() - value >= timedelta(minutes=1)
        else gettext("just now"),
    )


def audit_time(value: datetime | None) -> SafeString | str:
    """``2026-05-01 10:20:33 UTC`` / ``… Asia/Shanghai (UTC+08:00)``: to the second, with the zone.

    Audit rows are read against each other and against NXCloud's logs: minutes and an unnamed
    zone are not enough. ISO order, the same in every language; the zone is the current one.
    """
    if value is None:
        return EMPTY
    local = timezone.localtime(value)
    zone = timezone.get_current_timezone_name()
    offset = local.strftime("%z")
    shown = f"{local:%Y-%m-%d %H:%M:%S} {zone}"
    if zone != "UTC" and offset:
        shown += f" (UTC{offset[:3]}:{offset[3:]})"
    return format_html('<time class="nxwa-nowrap" datetime="{}">{}</time>', value.isoformat(), shown)


# -- a failed registration, in the same words everywhere ----------------------------------------


def failed_text(registration: PhoneRegistration) -> str:
    """What a ``failed`` registration is, in the words every action, report and page uses."""
    if registration.register_status == RegisterStatus.CREATION_FAILED:
        cause = gettext("NXCloud could not create its WhatsApp client")
    elif registration.register_status == RegisterStatus.REGISTRATION_FAILED:
        cause = gettext("NXCloud created its WhatsApp client but could not register it")
    else:
        cause = gettext("NXCloud could not set up its WhatsApp client")
    return gettext(
        "%(cause)s, so the registration failed and is closed: nothing more can be sent, checked or "
        "created for it. Add the number again to start over."
    ) % {"cause": cause}


def is_failed(registration: PhoneRegistration) -> bool:
    return registration.status == RegistrationStatus.FAILED


# -- what the registration's pages say -----------------------------------------------------------


def check_summary_text(check: services.CheckState, *, with_refusal: bool = True) -> str:
    """``2 of 5 tries used on the code sent at 10:20; it expires in 7 minutes (at 10:35).``

    ``with_refusal=False``: without what refuses checks (a page that says it on its own), and
    empty where that is all there is to say (no code yet, verified, closed).
    """
    if check.refusal is not None and check.refusal.reason in (
        RefusalReason.ALREADY_VERIFIED,
        RefusalReason.CLOSED,
        RefusalReason.NO_CODE,
    ):
        return check.refusal.message if with_refusal else ""
    text = gettext("%(used)d of %(allowed)d tries used on the current code.") % {
        "used": check.attempts_used,
        "allowed": check.attempts_allowed,
    }
    if check.expires_at is not None:
        if check.expires_at > timezone.now():
            text += " " + gettext("It expires %(when)s.") % {"when": until_text(check.expires_at)}
        else:
            text += " " + gettext("It has expired.")
    # "It has expired" / "5 of 5 tries used" said why; the page's notice says what is refused.
    said = (RefusalReason.EXPIRED, RefusalReason.TOO_MANY_ATTEMPTS)
    if check.refusal is not None and with_refusal and check.refusal.reason not in said:
        text += " " + check.refusal.message
    return text


def send_summary_text(send: services.SendState) -> str:
    if send.refusal is not None:
        return send.refusal.message
    return gettext("A code can be sent now (%(used)d of %(allowed)d sent in the last 24 hours).") % {
        "used": send.sends_today,
        "allowed": send.sends_allowed,
    }


def refusal_notices(state: services.RegistrationState) -> list[str]:
    """What stops staff from checking or sending right now, and until when, in words."""
    notices: list[str] = []
    quiet = (RefusalReason.ALREADY_VERIFIED,)
    check, send = state.check.refusal, state.send.refusal
    if check is not None and check.reason not in quiet:
        why = staff_refusal_text(check.reason, check.until)
        notices.append(gettext("Code checks are refused: %(why)s") % {"why": why})
    if send is not None and send.reason not in quiet:
        if check is not None and send.reason == check.reason:
            notices[-1:] = [gettext("Code checks and sends are refused: %(why)s") % {"why": send.message}]
        else:
            notices.append(gettext("Code sends are refused: %(why)s") % {"why": send.message})
    return notices


def check_outcome_message(
    registration: PhoneRegistration,
    attempt: VerificationAttempt,
    *,
    ip: str | None,
    setup_started: bool = False,
) -> tuple[int, str]:
    """The message level and text that say exactly what happened to a code staff entered
    (``setup_started``: the accepted code started the WhatsApp client's setup, as on every door)."""
    phone = registration.formatted_phone
    if attempt.outcome == Attempt.ACCEPTED:
        text = gettext("Code accepted: %(phone)s is verified.") % {"phone": phone}
        if setup_started:
            text = join_sentences(
                text, gettext("Its WhatsApp client is being set up: there is nothing to press.")
            )
        return messages.SUCCESS, text
    if attempt.outcome == Attempt.REFUSED:
        why = refusal_text(attempt.refusal_reason, attempt.retry_after)
        return messages.ERROR, gettext("The code was not checked. %(why)s") % {"why": why}
    if attempt.outcome == Attempt.REJECTED:
        check = services.get_state(registration, ip=ip, channel=Channel.ADMIN).check
        if check.attempts_left > 0:
            text = ngettext(
                "NXCloud did not accept the code. %(left)d try left on this code "
                "(%(used)d of %(allowed)d used).",
                "NXCloud did not accept the code. %(left)d tries left on this code "
                "(%(used)d of %(allowed)d used).",
                check.attempts_left,
            ) % {"left": check.attempts_left, "used": check.attempts_used, "allowed": check.attempts_allowed}
            return messages.WARNING, text
        # What to do now (a new code, and when) is on the code page the message is shown on.
        return messages.ERROR, gettext("NXCloud did not accept the code, and that was the last try on it.")
    if attempt.outcome == Attempt.UNKNOWN:
        return messages.WARNING, gettext(
            "NXCloud's answer did not arrive, so it is unknown whether the code was accepted. It was "
            "not resent. Refresh the status from NXCloud, or check the code again in a moment."
        )
    if is_configuration_failure(attempt):
        return messages.ERROR, configuration_message(attempt)
    return messages.ERROR, gettext(
        "NXCloud could not be reached: the code was not checked and the try does not count. Try again."
    )


def attention_text(obj: PhoneRegistration) -> str:
    """What is known about a registration marked as needing attention ("" when it is not)."""
    if obj.stuck_at is None or obj.status not in (
        *services.follow.IN_PROGRESS,
        PhoneRegistration.Status.CODE_SENT,
    ):
        return ""
    # How long since what the words describe (the code sent, the number verified), not since
    # the follower flagged it (that is STUCK_AFTER later, or whenever the follower next ran).
    if obj.status == PhoneRegistration.Status.CODE_SENT:
        event = obj.code_sent_at
    elif obj.status == PhoneRegistration.Status.VERIFIED and obj.client_refusal:
        event = obj.client_requested_at or obj.verified_at
    else:
        event = obj.verified_at
    since = timesince(event or obj.stuck_at)
    if obj.status == PhoneRegistration.Status.CODE_SENT:
        return gettext("Needs attention (for %(since)s): a code was sent and nobody has typed one since.") % {
            "since": since
        }
    if obj.status == PhoneRegistration.Status.VERIFIED and obj.client_refusal:
        return gettext(
            "Needs attention (for %(since)s): NXCloud refused to create its WhatsApp client "
            "(%(answer)s), so nothing sends createClient again by itself. Create the client "
            "again once the cause is fixed."
        ) % {"since": since, "answer": obj.client_refusal}
    if obj.status == PhoneRegistration.Status.VERIFIED and obj.client_requested_at is not None:
        known = gettext(
            "createClient was sent %(when)s ago and its answer never came; NXCloud does not list "
            "the number. Refresh it from NXCloud, then create the client again if it is still absent."
        ) % {"when": timesince(obj.client_requested_at)}
    elif obj.status == PhoneRegistration.Status.VERIFIED:
        known = gettext("Its WhatsApp client has not been created: createClient keeps failing.")
    elif obj.register_status is not None:
        known = gettext("NXCloud last said: %(status)s.") % {"status": obj.get_register_status_display()}
    else:
        known = gettext("NXCloud has not listed the number yet.")
    synced = (
        gettext("Last change from phoneList %(when)s ago.") % {"when": timesince(obj.last_synced_at)}
        if obj.last_synced_at
        else gettext("phoneList has never changed it.")
    )
    return " ".join(
        [gettext("Needs attention (for %(since)s): in progress too long.") % {"since": since}, known, synced]
    )


def situation_text(decision: services.Decision) -> str:
    """The registration's situation as staff read it: its title, and the words the customer
    page (and the API) say to the customer in it (``services.situation``)."""
    return gettext("%(situation)s. The customer is told: “%(words)s”") % {
        "situation": decision.title,
        "words": decision.text,
    }
