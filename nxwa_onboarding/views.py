"""The customer's onboarding pages: add a number, type the code, watch it become registered.

Every step goes through ``nxwa_onboarding.services`` with channel ``customer``. A customer sees
and acts on their own registrations only: anyone else's, like one that does not exist, is a 404.
Every POST redirects (POST/redirect/GET) and says what happened through the messages framework.
Views that call NXCloud run outside ``ATOMIC_REQUESTS`` so each pending row is committed before
the call, as the services require. Customers get calm, honest words; the details (result codes,
NXCloud's messages) are on the audit rows in the admin, never on these pages. Every page's error
reports are filtered at DEBUG on as well as off (``reports.safe_reports``), and the posted code
is one of the values they hide (``sensitive_post_parameters``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from . import services
from .addresses import client_ip
from .choices import Failure
from .exceptions import NXCloudConfigurationError, OnboardingError
from .forms import CodeForm, SendCodeForm, StartForm
from .models import Channel, CodeRequest, Method, PhoneRegistration, VerificationAttempt
from .reports import safe_reports
from .texts import customer_configuration_text, is_configuration_failure, until_text

logger = logging.getLogger(__name__)

Status = PhoneRegistration.Status
CHANNEL = Channel.CUSTOMER
#: A customer (or the page's polling) may ask NXCloud for the number's status this often.
REFRESH_INTERVAL = timedelta(seconds=2)
#: Statuses in which the page shows progress towards "registered" and offers a refresh.
IN_PROGRESS = (Status.VERIFIED, Status.CLIENT_CREATED)

View = Callable[..., HttpResponseBase]


def _own_registration(request: HttpRequest, public_id: UUID) -> PhoneRegistration:
    """The signed-in customer's registration, or the same 404 as for one that does not exist."""
    return get_object_or_404(PhoneRegistration, public_id=public_id, owner_id=request.user.pk)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


# -- what customers are told -------------------------------------------------------------------


def _down_text() -> str:
    return _(
        "We could not reach WhatsApp's verification service just now. Nothing was used up: "
        "please try again in a minute."
    )


def _error_text(err: Exception) -> str:
    """Plain words for an exception from create_client/refresh_status, classified as every face
    classifies it (``services.failure_of``)."""
    failure = services.failure_of(err)
    if failure == Failure.CONFIGURATION:
        return customer_configuration_text()
    if failure == Failure.UNREACHABLE:
        return _down_text()
    if failure == Failure.MAYBE_SENT:
        return _("WhatsApp's service did not answer in time. Your number is safe: look again in a minute.")
    return _(
        "WhatsApp's service could not finish this step just now. Your number is safe: "
        "look again in a few minutes."
    )


def _tries_text(attempts_left: int) -> str:
    return ngettext("You have %(n)d try left.", "You have %(n)d tries left.", attempts_left) % {
        "n": attempts_left
    }


def _announce_send(request: HttpRequest, code_request: CodeRequest) -> None:
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
        messages.warning(request, _("No code was sent. %(why)s") % {"why": refusal.message})
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
        messages.error(request, _down_text())


def _announce_attempt(request: HttpRequest, registration: PhoneRegistration, attempt: Any) -> None:
    """Say how a verification attempt ended (accepted is announced by the caller)."""
    outcome = attempt.outcome
    if outcome == VerificationAttempt.Outcome.REJECTED:
        state = services.get_state(registration, ip=client_ip(request))
        left = state.check.attempts_left
        if left:
            text = ngettext(
                "That code was not accepted. You have %(n)d try left.",
                "That code was not accepted. You have %(n)d tries left.",
                left,
            ) % {"n": left}
        elif state.send.refusal is None:
            text = _("That code was not accepted, and it was the last try for this code. Ask for a new one.")
        else:
            text = _("That code was not accepted, and it was the last try for this code.")
        messages.error(request, text)
    elif outcome == VerificationAttempt.Outcome.REFUSED:
        refusal = services.Refusal(attempt.refusal_reason, attempt.retry_after)
        messages.warning(request, refusal.message)
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
        messages.error(request, _down_text())


def _create_client(request: HttpRequest, registration: PhoneRegistration, *, quiet: bool = False) -> bool:
    """Start the WhatsApp client for a verified number; False (and a message) if that failed."""
    try:
        services.create_client(registration, user=request.user)
    except (OnboardingError, NXCloudConfigurationError) as err:
        logger.warning(
            "create_client failed for registration %s: %s", registration.public_id, type(err).__name__
        )
        if not quiet:
            messages.warning(request, _error_text(err))
        return False
    return True


# -- pages -------------------------------------------------------------------------------------


@never_cache
@safe_reports
@login_required
def registration_list(request: HttpRequest) -> HttpResponse:
    """The signed-in customer's own registrations, newest first."""
    registrations = PhoneRegistration.objects.filter(owner_id=request.user.pk).order_by("-created_at")
    return render(request, "nxwa_onboarding/list.html", {"registrations": registrations})


@transaction.non_atomic_requests
@never_cache
@safe_reports
@login_required
def start(request: HttpRequest) -> HttpResponse:
    """Add a number and send its first code; then go to the registration's page."""
    if request.method == "POST":
        form = StartForm(request.POST)
        if form.is_valid():
            digits = form.cleaned_data["phone_number"]
            try:
                registration = services.start_registration(
                    digits,
                    owner=request.user,
                    user=request.user,
                    method=form.cleaned_data["method"],
                    ip=client_ip(request),
                    channel=CHANNEL,
                )
            except ValidationError as err:
                if err.code == "duplicate":
                    own = (
                        PhoneRegistration.objects.filter(owner_id=request.user.pk, phone_number=digits)
                        .exclude(status=Status.FAILED)
                        .first()
                    )
                    if own is not None:
                        messages.info(request, _("You are already onboarding this number: here it is."))
                        return redirect(own)
                form.add_error("phone_number", err)
            else:
                _announce_send(request, registration.code_requests.latest())
                return redirect(registration)
    else:
        form = StartForm()
    return render(request, "nxwa_onboarding/start.html", {"form": form})


@never_cache
@safe_reports
@login_required
def detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The number's state and what to do next."""
    registration = _own_registration(request, public_id)
    return _render_detail(request, registration)


def _render_detail(
    request: HttpRequest,
    registration: PhoneRegistration,
    *,
    code_form: CodeForm | None = None,
    send_form: SendCodeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    state = services.get_state(registration, ip=client_ip(request))
    now = timezone.now()
    check, send = state.check, state.send
    code_out = registration.status == Status.CODE_SENT
    can_check = code_out and check.refusal is None
    can_send = registration.status in (Status.NEW, Status.CODE_SENT)
    # Bad input into a form the page no longer shows (a stale tab, a crafted post): say what was
    # wrong above the page instead, as after any other post.
    hidden_errors = [
        error
        for form, visible in ((code_form, can_check), (send_form, can_send))
        if form is not None and not visible
        for errors in form.errors.values()
        for error in errors
    ]
    if hidden_errors:
        for error in hidden_errors:
            messages.error(request, str(error))
        return redirect(registration)
    # Waiting only for the cooldown or the daily cap: the button says when it becomes available.
    send_wait = send.refusal is not None and send.refusal.until is not None and send.refusal.until > now
    context: dict[str, Any] = {
        "registration": registration,
        "state": state,
        "code_out": code_out,
        "can_check": can_check,
        "check_refusal": check.refusal.message if code_out and check.refusal else "",
        "attempts_left": check.attempts_left,
        "tries_text": _tries_text(check.attempts_left),
        "expires_text": until_text(check.expires_at, now) if can_check else "",
        "can_send": can_send,
        "send_wait": send_wait,
        "send_when": until_text(send.refusal.until, now) if send_wait and send.refusal else "",
        "send_wait_seconds": _seconds_until(send.refusal.until if send.refusal else None, now),
        "send_blocked": (send.refusal.message if send.refusal and not send_wait and can_send else ""),
        "code_form": code_form or CodeForm(),
        "send_form": send_form
        or SendCodeForm(initial={"method": registration.last_code_method or Method.SMS}),
        "in_progress": registration.status in IN_PROGRESS,
        "step": _step(registration),
    }
    return render(request, "nxwa_onboarding/detail.html", context, status=status)


def _seconds_until(until: datetime | None, now: datetime) -> int:
    """Whole seconds (rounded up) until ``until``; what the page's script waits to enable a button."""
    if until is None or until <= now:
        return 0
    return math.ceil((until - now).total_seconds())


def _step(registration: PhoneRegistration) -> int:
    """Where the number is on the way: 1 code, 2 verified, 3 WhatsApp being set up, 4 registered."""
    steps: dict[str, int] = {
        Status.NEW: 1,
        Status.CODE_SENT: 1,
        Status.VERIFIED: 2,
        Status.CLIENT_CREATED: 3,
        Status.REGISTERED: 4,
    }
    return steps.get(registration.status, 0)


def _post_only(view: View) -> View:
    """A GET to an action's address (a bookmark, a reload) just shows the registration."""

    def wrapper(request: HttpRequest, public_id: UUID) -> HttpResponseBase:
        registration = _own_registration(request, public_id)
        if request.method != "POST":
            return redirect(registration)
        return view(request, registration)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@transaction.non_atomic_requests
@never_cache
@safe_reports
@sensitive_post_parameters("code")
@login_required
@_post_only
def check(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Pass the typed code to NXCloud; once accepted, start the number's WhatsApp client."""
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, registration, code_form=form)
    attempt = services.check_code(
        registration, form.cleaned_data["code"], user=request.user, ip=client_ip(request), channel=CHANNEL
    )
    if attempt.outcome == VerificationAttempt.Outcome.ACCEPTED:
        messages.success(request, _("Your number is verified."))
        if _create_client(request, registration):
            messages.info(request, _("We are now setting up WhatsApp for your number."))
    else:
        _announce_attempt(request, registration, attempt)
    return redirect(registration)


@transaction.non_atomic_requests
@never_cache
@safe_reports
@login_required
@_post_only
def send_code(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Send a new code, within the cooldown and the daily limit."""
    form = SendCodeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, registration, send_form=form)
    code_request = services.request_code(
        registration, form.cleaned_data["method"], user=request.user, ip=client_ip(request), channel=CHANNEL
    )
    _announce_send(request, code_request)
    return redirect(registration)


@transaction.non_atomic_requests
@never_cache
@safe_reports
@login_required
@_post_only
def refresh(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Move a verified number on: create its client if that has not happened, then read its
    status from NXCloud. The page's script posts here too (``X-Requested-With: fetch``) and
    gets JSON instead of a redirect."""
    quiet = _wants_json(request)
    before = registration.status
    if registration.status == Status.VERIFIED:
        _create_client(request, registration, quiet=quiet)
    if registration.status == Status.CLIENT_CREATED:
        last = registration.last_synced_at
        if last is None or timezone.now() - last >= REFRESH_INTERVAL:
            try:
                services.refresh_status(registration)
            except (OnboardingError, NXCloudConfigurationError) as err:
                logger.warning(
                    "refresh_status failed for registration %s: %s",
                    registration.public_id,
                    type(err).__name__,
                )
                if not quiet:
                    messages.warning(request, _error_text(err))
    if quiet:
        return JsonResponse(
            {
                "status": registration.status,
                "changed": registration.status != before,
                "done": registration.status not in IN_PROGRESS,
            }
        )
    if registration.status == Status.REGISTERED and before != Status.REGISTERED:
        messages.success(request, _("Your number is registered with WhatsApp."))
    return redirect(registration)
