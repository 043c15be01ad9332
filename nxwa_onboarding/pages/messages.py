"""What customers are told after each step, in calm, honest words (the details are on the audit
rows in the admin, never on the customer pages). Every outcome is classified where the call
ended (``failure`` on the row, ``services.failure_of`` for exceptions)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import services
from ..addresses import client_ip
from ..choices import Channel, Failure, Method
from ..models import CodeRequest, PhoneRegistration, VerificationAttempt
from ..texts import customer_configuration_text, is_configuration_failure


def down_text() -> str:
    return _(
        "We could not reach WhatsApp's verification service just now. Nothing was used up: "
        "please try again in a minute."
    )


def error_text(err: Exception) -> str:
    """Plain words for an exception from create_client/refresh_status, classified as every face
    classifies it (``services.failure_of``)."""
    failure = services.failure_of(err)
    if failure == Failure.CONFIGURATION:
        return customer_configuration_text()
    if failure == Failure.UNREACHABLE:
        return down_text()
    if failure == Failure.MAYBE_SENT:
        return _("WhatsApp's service did not answer in time. Your number is safe: look again in a minute.")
    return _(
        "WhatsApp's service could not finish this step just now. Your number is safe: "
        "look again in a few minutes."
    )


def tries_text(attempts_left: int) -> str:
    return ngettext("You have %(n)d try left.", "You have %(n)d tries left.", attempts_left) % {
        "n": attempts_left
    }


def sent(request: HttpRequest, code_request: CodeRequest) -> None:
    """Say how a code request ended."""
    outcome = code_request.outcome
    if outcome == CodeRequest.Outcome.SENT:
        if code_request.method == Method.VOICE:
            text = _("We are calling %(phone)s now: the call will read out your code.")
        else:
            text = _("A code is on its way to %(phone)s by SMS.")
        messages.success(request, text % {"phone": code_request.registration.formatted_phone})
    elif outcome == CodeRequest.Outcome.REFUSED:
        refusal = services.Refusal(code_request.refusal_reason, code_request.retry_after)
        messages.warning(request, _("No code was sent. %(why)s") % {"why": refusal.customer_message})
    elif outcome == CodeRequest.Outcome.UNKNOWN:
        messages.warning(
            request,
            _(
                "We asked for a code but could not confirm that it was sent. If it arrives, "
                "enter it below; if nothing comes, ask for a new code in a minute."
            ),
        )
    elif outcome == CodeRequest.Outcome.REJECTED:
        messages.error(
            request,
            _(
                "WhatsApp could not send a code to this number. Check that it is the number of "
                "your WhatsApp Business account and try again later."
            ),
        )
    elif is_configuration_failure(code_request):
        messages.error(request, customer_configuration_text())
    else:
        messages.error(request, down_text())


def attempted(request: HttpRequest, registration: PhoneRegistration, attempt: Any) -> None:
    """Say how a verification attempt ended (accepted is announced by the caller)."""
    outcome = attempt.outcome
    if outcome == VerificationAttempt.Outcome.REJECTED:
        text, _left = services.rejected_code(
            registration, attempt, ip=client_ip(request), channel=Channel.CUSTOMER
        )
        messages.error(request, text)
    elif outcome == VerificationAttempt.Outcome.REFUSED:
        refusal = services.Refusal(attempt.refusal_reason, attempt.retry_after)
        messages.warning(request, refusal.customer_message)
    elif outcome == VerificationAttempt.Outcome.UNKNOWN:
        messages.warning(
            request,
            _(
                "We could not find out whether your code was accepted: WhatsApp's service did not "
                "answer in time. Look again in a minute; if the number is not verified by then, "
                "enter the code again or ask for a new one."
            ),
        )
    elif is_configuration_failure(attempt):
        messages.error(request, customer_configuration_text())
    else:
        messages.error(request, down_text())
