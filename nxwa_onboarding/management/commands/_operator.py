"""Shared by the operator commands: find a registration from a number typed any way, and put an
NXCloud outcome into words. (A leading underscore keeps Django from taking this for a command.)"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from nxwa_onboarding.choices import Channel, Failure
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.exceptions import NXCloudError
from nxwa_onboarding.phone import format_phone, normalize_phone
from nxwa_onboarding.services import decide, failure_of, get_state
from nxwa_onboarding.texts import configuration_problem_text, refusal_text


def parse_phone(text: str) -> str:
    """The digits NXCloud wants, or a ``CommandError`` saying what is wrong with the number."""
    try:
        return normalize_phone(text)
    except ValidationError as err:
        raise CommandError(f"{text!r}: {' '.join(err.messages)}") from None


def open_registration(digits: str) -> PhoneRegistration | None:
    """The number's registration that is not ``failed`` (there is at most one)."""
    return PhoneRegistration.objects.open_for(digits).first()


def outcome_text(row: CodeRequest | VerificationAttempt) -> str:
    """``failure_text`` for a finished code request or verification attempt."""
    return failure_text(
        row.outcome,
        refusal_reason=row.refusal_reason,
        retry_after=row.retry_after,
        result_code=row.result_code,
        result_message=row.result_message,
        failure=row.failure,
    )


def failure_text(
    outcome: str,
    *,
    refusal_reason: str = "",
    retry_after: object = None,
    result_code: int | None = None,
    result_message: str = "",
    failure: str = "",
) -> str:
    """Why a send or a check did not succeed, for an operator."""
    if outcome == "refused":
        return refusal_text(refusal_reason, retry_after if isinstance(retry_after, datetime) else None)
    if failure == Failure.CONFIGURATION:
        return configuration_problem_text(result_code, result_message)
    if outcome == "rejected":
        return f"NXCloud refused it (result {result_code}: {result_message or 'no message'})."
    if outcome == "unknown":
        return (
            f"No clear answer from NXCloud ({result_message or 'no answer'}): the request may "
            "have reached it. It was not resent."
        )
    return f"Could not reach NXCloud ({result_message or 'no answer'}); nothing was sent. Try again."


def describe(digits: str) -> str:
    return format_phone(digits)


def error_text(err: Exception, action: str) -> str:
    """Why a call that raised ``err`` failed, classified as every face classifies it."""
    failure = failure_of(err)
    code = err.code if isinstance(err, NXCloudError) else None
    message = err.message if isinstance(err, NXCloudError) else str(err)
    if failure == Failure.CONFIGURATION:
        return configuration_problem_text(code, message)
    if isinstance(err, NXCloudError):
        return f"NXCloud refused {action} (result {err.code}: {err.message})."
    return f"Could not read {action}: {err}."


def situation_line(registration: PhoneRegistration) -> str:
    """The registration's situation as every door says it (``services.situation``): its title,
    and the words the customer is told."""
    decision = decide(registration, get_state(registration, channel=Channel.COMMAND))
    return f"Now: {decision.title}. The customer is told: {decision.text}"
