"""The customer's onboarding pages: add a number, type the code, watch it become registered.

Every step goes through ``nxwa_onboarding.services`` with channel ``customer``. A customer sees
and acts on their own registrations only: anyone else's, like one that does not exist, is a 404.
Every POST redirects (POST/redirect/GET) and says what happened through the messages framework.
Pages read the database and never wait on NXCloud beyond the customer's own code: an accepted
check starts the client's setup (``tasks.start_setup``: enqueued on commit), and the page's poll reads
the registration and nudges the application's follower (``tasks.nudge``).
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
from datetime import datetime
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
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from .. import services, tasks
from ..addresses import client_ip
from ..choices import CLOSED_STATES, UNVERIFIED_STATES, RefusalReason
from ..models import Channel, Method, PhoneRegistration, VerificationAttempt
from ..nxcloud.exceptions import InvalidStateError
from ..reports import safe_reports
from ..services import policy
from ..texts import refusal_text, relative_text, taken_over_text
from ..unavailable import unavailable_when_database_down
from . import messages as announce
from .forms import CodeForm, SendCodeForm, StartForm

logger = logging.getLogger(__name__)

Status = PhoneRegistration.Status
CHANNEL = Channel.CUSTOMER

View = Callable[..., HttpResponseBase]


def _own_registration(request: HttpRequest, public_id: UUID) -> PhoneRegistration:
    """The signed-in customer's registration, or the same 404 as for one that does not exist."""
    return get_object_or_404(PhoneRegistration, public_id=public_id, owner_id=request.user.pk)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


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


def customer_page(
    *, calls_nxcloud: bool = False, action: bool = False, hidden: tuple[str, ...] = ()
) -> Callable[[View], View]:
    """Every customer page's decorators, in their one right order (built once here, not stacked
    by hand on each view), from the outside in:

    - ``calls_nxcloud``: ``transaction.non_atomic_requests``, so each pending row is committed
      before the call even under ``ATOMIC_REQUESTS``;
    - ``never_cache``; ``safe_reports`` (error reports filtered at DEBUG on and off);
      ``unavailable_when_database_down`` (a calm 503); ``sensitive_post_parameters(*hidden)``;
      ``login_required``;
    - ``action``: a POST on one of the customer's own registrations (``_post_only``: the view gets
      the registration, a GET goes to its page, anyone else's is a 404)."""

    def decorate(view: View) -> View:
        wrapped = _post_only(view) if action else view
        wrapped = login_required(wrapped)
        if hidden:
            wrapped = sensitive_post_parameters(*hidden)(wrapped)
        wrapped = safe_reports(unavailable_when_database_down(wrapped))
        wrapped = never_cache(wrapped)
        return transaction.non_atomic_requests(wrapped) if calls_nxcloud else wrapped

    return decorate


# -- pages -------------------------------------------------------------------------------------


@customer_page()
def registration_list(request: HttpRequest) -> HttpResponse:
    """The signed-in customer's own registrations, newest first."""
    registrations = PhoneRegistration.objects.filter(owner_id=request.user.pk).order_by("-created_at")
    # Each with its situation (decided from the row alone: a list reads no rules), as its page says.
    rows = [(registration, services.decide(registration)) for registration in registrations]
    return render(request, "nxwa_onboarding/list.html", {"registrations": registrations, "rows": rows})


@customer_page(calls_nxcloud=True)
def start(request: HttpRequest) -> HttpResponse:
    """Add a number and send its first code; then go to the registration's page."""
    if request.method == "POST":
        form = StartForm(request.POST, rules=policy.for_owner(request.user))
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
                refused = services.refused_addition(err, digits, request.user)
                if refused is not None and refused.registration is not None:
                    # Their own number: they go to it, told where it is (not a form error).
                    messages.info(request, refused.text)
                    return redirect(refused.registration)
                if refused is not None:
                    # No more than "it is taken" (not whose, not since when), and what to do.
                    err = ValidationError(refused.text, code=refused.situation.value)
                form.add_error("phone_number", err)
            else:
                if registration.took_over:
                    messages.info(request, taken_over_text())
                announce.sent(request, registration.code_requests.latest())
                return redirect(registration)
    else:
        form = StartForm()
    return render(request, "nxwa_onboarding/start.html", {"form": form})


@customer_page()
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
    decision = services.decide(registration, state)
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
        "check_refusal": _check_refusal_text(check.refusal, send_wait) if code_out else "",
        "attempts_left": check.attempts_left,
        "tries_text": announce.tries_text(check.attempts_left),
        "expires_text": relative_text(check.expires_at, now) if can_check else "",
        "can_send": can_send,
        "send_wait": send_wait,
        "send_when": relative_text(send.refusal.until, now) if send_wait and send.refusal else "",
        "send_wait_seconds": _seconds_until(send.refusal.until if send.refusal else None, now),
        "send_blocked": (
            send.refusal.customer_message if send.refusal and not send_wait and can_send else ""
        ),
        # The SMS did not come: one voice call now, inside the SMS cooldown (VOICE_FALLBACK_AFTER).
        "call_instead": can_send and send.refusal is not None and send.can_call,
        "code_form": code_form or CodeForm(),
        "send_form": send_form
        or SendCodeForm(initial={"method": registration.last_code_method or Method.SMS}),
        "in_progress": services.follow.is_followed(registration),
        "step": decision.step,
        "situation": decision,
        "health": services.health_view.merchant_view(registration),
        "setup_again": _setup_again(registration, now),
        "can_withdraw": registration.status in UNVERIFIED_STATES,
    }
    return render(request, "nxwa_onboarding/detail.html", context, status=status)


def _setup_again(registration: PhoneRegistration, now: datetime) -> str:
    """When setup can be tried again, when Meta's registration budget for the number is spent."""
    until = services.health_view.setup_again_at(registration, now)
    return refusal_text(RefusalReason.SETUP_LIMIT, until, now, clock=False) if until is not None else ""


def _check_refusal_text(refusal: services.Refusal | None, send_wait: bool) -> str:
    """Why the code cannot be checked. When the send button below says when a new code can be
    asked for ("Available in 58 seconds"), the when is said there only, not twice."""
    if refusal is None:
        return ""
    if send_wait:
        return refusal_text(refusal.reason)
    return refusal.customer_message


def _seconds_until(until: datetime | None, now: datetime) -> int:
    """Whole seconds (rounded up) until ``until``; what the page's script waits to enable a button."""
    if until is None or until <= now:
        return 0
    return math.ceil((until - now).total_seconds())


@customer_page(calls_nxcloud=True, action=True, hidden=("code",))
def check(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Pass the typed code to NXCloud; once accepted, start the number's WhatsApp client."""
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, registration, code_form=form)
    attempt = services.check_code(
        registration, form.cleaned_data["code"], user=request.user, ip=client_ip(request), channel=CHANNEL
    )
    if attempt.outcome == VerificationAttempt.Outcome.ACCEPTED and registration.status in CLOSED_STATES:
        messages.error(request, refusal_text(RefusalReason.CLOSED))  # closed by staff meanwhile
    elif attempt.outcome == VerificationAttempt.Outcome.ACCEPTED:
        messages.success(request, _("Your number is verified."))
        if tasks.start_setup(registration):
            messages.info(request, _("We are now setting up WhatsApp for your number."))
    else:
        announce.attempted(request, registration, attempt)
    return redirect(registration)


@customer_page(calls_nxcloud=True, action=True)
def send_code(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Send a new code, within the cooldown and the daily limit."""
    form = SendCodeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, registration, send_form=form)
    code_request = services.request_code(
        registration, form.cleaned_data["method"], user=request.user, ip=client_ip(request), channel=CHANNEL
    )
    announce.sent(request, code_request)
    return redirect(registration)


@customer_page(calls_nxcloud=True, action=True)
def refresh(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Where the number is now, read from the database; the application's follower is nudged
    (never NXCloud itself). The page's script posts here too (``X-Requested-With: fetch``) with
    the status it shows (``shown``) and gets JSON instead of a redirect."""
    shown = request.POST.get("shown", "")
    tasks.keep_going(registration)
    if _wants_json(request):
        return JsonResponse(
            {
                "status": registration.status,
                "changed": bool(shown) and registration.status != shown,
                "done": not services.follow.is_followed(registration),
            }
        )
    if registration.status == Status.REGISTERED and shown and shown != Status.REGISTERED:
        messages.success(request, _("Your number is registered with WhatsApp."))
    return redirect(registration)


@customer_page(action=True)
def withdraw(request: HttpRequest, registration: PhoneRegistration) -> HttpResponse:
    """Take back a number not yet verified: it is closed (recorded with who and when) and frees
    the number and the open slot at once. A verified number is staff's to close."""
    try:
        services.withdraw_registration(registration, user=request.user)
    except InvalidStateError as err:
        messages.error(request, str(err))
        return redirect(registration)
    messages.success(request, _("The number was withdrawn. You can add another one."))
    return redirect("nxwa_onboarding:list")
