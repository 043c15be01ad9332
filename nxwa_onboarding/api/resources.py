"""The resources: registrations, their state, submitting a code, asking for a new one.

Every step goes through ``nxwa_onboarding.services`` with channel ``api`` and the request's
address, exactly as the customer pages do (``views``), and the same input is refused with the
same words: the pages' forms validate the bodies. A caller sees and acts on their own
registrations only; anyone else's, like one that does not exist, is the same 404.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router
from ninja import Status as Answer

from .. import services, tasks
from ..addresses import client_ip
from ..choices import AttemptOutcome, Channel, Failure, RefusalReason, RegistrationStatus, SendOutcome
from ..models import CodeRequest, PhoneRegistration, VerificationAttempt
from ..nxcloud.exceptions import InvalidStateError
from ..pages.forms import CodeForm, SendCodeForm, StartForm
from ..services import policy
from . import present, problems
from .auth import caller
from .schemas import CodeIn, ProblemOut, RegistrationOut, RegistrationSummaryOut, SendIn, StartIn

logger = logging.getLogger(__name__)

CHANNEL = Channel.API
Status = RegistrationStatus
READ_PROBLEMS = frozenset({401, 404, 500, 503})
WRITE_PROBLEMS = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503, 504})

router = Router(tags=["registrations"])


def own_registration(request: HttpRequest, public_id: UUID) -> PhoneRegistration:
    """The caller's registration, or the same 404 as for one that does not exist."""
    found = PhoneRegistration.objects.filter(public_id=public_id, owner_id=caller(request).pk).first()
    if found is None:
        raise problems.not_found()
    return found


def valid(form: forms.Form) -> dict[str, Any]:
    """The form's cleaned data, or 422 naming each field that is not valid."""
    if form.is_valid():
        return form.cleaned_data
    raise problems.invalid(
        [
            {"field": field, "detail": str(message), "code": error.code or "invalid"}
            for field, errors in form.errors.as_data().items()
            for error in errors
            for message in error.messages
        ]
    )


def address(request: HttpRequest) -> str:
    """The request's address for the per-address rules. The services refuse a missing address
    only on the channels listed in ``services.state.ADDRESSED_CHANNELS``; ``api`` is not among
    them (it is the services' default channel, for calls from the host's own code), so the API
    refuses here, as the rules would (``no_address``), rather than skip those limits."""
    ip = client_ip(request)
    if ip is None:
        raise problems.refused(RefusalReason.NO_ADDRESS)
    return ip


# -- reading -------------------------------------------------------------------------------------


@router.get("registrations", response={200: list[RegistrationSummaryOut], READ_PROBLEMS: ProblemOut})
def list_registrations(request: HttpRequest) -> Any:
    """The caller's registrations, newest first."""
    registrations = PhoneRegistration.objects.filter(owner_id=caller(request).pk).order_by("-created_at")
    return [present.summary(registration) for registration in registrations]


@router.get("registrations/{public_id}", response={200: RegistrationOut, READ_PROBLEMS: ProblemOut})
def get_registration(request: HttpRequest, public_id: UUID) -> Any:
    """One registration: status, setup progress, tries left, when the code expires, when a new
    code can be sent and, when something is refused, why and until when."""
    return present.detail(own_registration(request, public_id), request)


# -- acting --------------------------------------------------------------------------------------


@router.post("registrations", response={201: RegistrationOut, WRITE_PROBLEMS: ProblemOut})
def create_registration(request: HttpRequest, payload: StartIn) -> Any:
    """Add a number and send its first code (``last_code_request`` says how that went: a
    refused or failed send does not undo the registration; ask again with ``send``).

    409 ``already-onboarding``: the caller already has this number open (its id in
    ``registration``), even at the open limit. 409 ``open-limit``: the caller holds as many
    numbers waiting for their codes as allowed; verify or withdraw one first."""
    user = caller(request)
    form = StartForm(
        data={"phone_number": payload.phone_number, "method": payload.method}, rules=policy.for_owner(user)
    )
    data = valid(form)
    ip = address(request)
    try:
        registration = services.create_registration(data["phone_number"], owner=user, user=user)
    except ValidationError as err:
        refused = services.refused_addition(err, data["phone_number"], user)
        if refused is not None:
            raise problems.adding_refused(refused) from None
        raise problems.invalid(
            [{"field": "phone_number", "detail": str(m), "code": err.code or "invalid"} for m in err.messages]
        ) from None
    row = services.request_code(registration, data["method"], user=user, ip=ip, channel=CHANNEL)
    return Answer(201, present.detail(registration, request, row))


@router.post("registrations/{public_id}/check", response={200: RegistrationOut, WRITE_PROBLEMS: ProblemOut})
def check_code(request: HttpRequest, public_id: UUID, payload: CodeIn) -> Any:
    """Submit the code received; once accepted, the number's WhatsApp setup starts."""
    registration = own_registration(request, public_id)
    code = valid(CodeForm(data={"code": payload.code}))["code"]
    user = caller(request)
    attempt = services.check_code(registration, code, user=user, ip=address(request), channel=CHANNEL)
    if attempt.outcome != AttemptOutcome.ACCEPTED:
        raise attempt_problem(request, registration, attempt)
    tasks.start_setup(registration)
    return Answer(200, present.detail(registration, request))


@router.post(
    "registrations/{public_id}/send",
    response={200: RegistrationOut, 202: RegistrationOut, WRITE_PROBLEMS: ProblemOut},
)
def send_code(request: HttpRequest, public_id: UUID, payload: SendIn) -> Any:
    """Send a new code, within the cooldown and the limits: 200 sent; 202 asked for but not
    confirmed (it may well arrive: the code can be submitted)."""
    registration = own_registration(request, public_id)
    method = valid(SendCodeForm(data={"method": payload.method}))["method"]
    row = services.request_code(
        registration, method, user=caller(request), ip=address(request), channel=CHANNEL
    )
    if row.outcome not in (SendOutcome.SENT, SendOutcome.UNKNOWN):
        raise send_problem(row)
    status = 200 if row.outcome == SendOutcome.SENT else 202
    return Answer(status, present.detail(registration, request, row))


@router.post("registrations/{public_id}/refresh", response={200: RegistrationOut, WRITE_PROBLEMS: ProblemOut})
def refresh(request: HttpRequest, public_id: UUID) -> Any:
    """Where the number is now, read from the database (never from NXCloud): what a client polls
    until ``done``. The work that moves it on runs in the background and is nudged here."""
    registration = own_registration(request, public_id)
    tasks.keep_going(registration)
    return Answer(200, present.detail(registration, request))


@router.delete("registrations/{public_id}", response={204: None, WRITE_PROBLEMS: ProblemOut})
def withdraw_registration(request: HttpRequest, public_id: UUID) -> Any:
    """Withdraw a number not yet verified: it is closed (recorded with who and when) and frees
    the number and the open slot at once. 409 ``cannot-withdraw``: a verified or registered
    number is closed by staff only. Withdrawn (or closed) already: 204 again."""
    registration = own_registration(request, public_id)
    try:
        services.withdraw_registration(registration, user=caller(request))
    except InvalidStateError as err:
        raise problems.cannot_withdraw(str(err)) from None
    return Answer(204, None)


# -- outcomes as problems ----------------------------------------------------------------------


def attempt_problem(
    request: HttpRequest, registration: PhoneRegistration, attempt: VerificationAttempt
) -> problems.Problem:
    """A verification attempt that was not accepted, in the customer page's words."""
    if attempt.outcome == AttemptOutcome.REJECTED:
        text, left = services.rejected_code(registration, attempt, ip=client_ip(request), channel=CHANNEL)
        return problems.Problem(422, "code-rejected", _("Code not accepted"), text, attempts_left=left)
    if attempt.outcome == AttemptOutcome.REFUSED:
        state = services.get_state(registration, ip=client_ip(request), channel=CHANNEL)
        left = state.check.attempts_left
        return problems.refused(attempt.refusal_reason, attempt.retry_after, attempts_left=left)
    if attempt.outcome == AttemptOutcome.UNKNOWN:
        return problems.failed(
            Failure.MAYBE_SENT,
            _(
                "We could not find out whether your code was accepted: WhatsApp's service did not "
                "answer in time. Look again in a minute; if the number is not verified by then, "
                "enter the code again or ask for a new one."
            ),
        )
    return problems.failed(attempt.failure or Failure.UNREACHABLE)


def send_problem(row: CodeRequest) -> problems.Problem:
    """A code request that sent nothing, in the customer page's words."""
    if row.outcome == SendOutcome.REFUSED:
        return problems.refused(row.refusal_reason, row.retry_after)
    if row.outcome == SendOutcome.REJECTED:
        return problems.Problem(
            422,
            "code-not-sent",
            _("No code sent"),
            _(
                "WhatsApp could not send a code to this number. Check that it is the number of "
                "your WhatsApp Business account and try again later."
            ),
        )
    return problems.failed(row.failure or Failure.UNREACHABLE)
