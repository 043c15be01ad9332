"""The sandbox's NXCloud endpoints and its inbox pages.

Every endpoint answers like NXCloud: HTTP 200 and ``{"code", "message", "data"}``, after checking
the request with ``protocol.check_request`` against this project's own ACCESS_KEY and
ACCESS_SECRET (the credentials its client signs with). Nothing here answers unless DEBUG is on
or ``SANDBOX_ALLOW_WITHOUT_DEBUG`` is set: a production server never serves the inbox by mistake,
even where system checks are not run. The inbox pages show the codes, so they also need an active
staff login (anonymous visitors go to the admin's login, anyone else gets 403); the endpoints
need none, since NXCloud's are checked by signature, not by session.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ..choices import RegisterStatus
from ..conf import conf
from ..phone import digits_only, format_phone
from . import callbacks, engine
from .checks import sandbox_enabled
from .models import SandboxApp, SandboxMessage, SandboxNumber
from .protocol import ProtocolError, check_request
from .state import DatabaseState

logger = logging.getLogger(__name__)


def _envelope(code: int, message: str, data: Any = None, status: int = 200) -> HttpResponse:
    body = json.dumps({"code": code, "message": message, "data": data}, ensure_ascii=False)
    return HttpResponse(body.encode("utf-8"), status=status, content_type="application/json")


def _require_enabled() -> None:
    if not sandbox_enabled():
        raise Http404


def _login_url() -> str:
    """The admin's login (staff sign in there); the project's LOGIN_URL without the admin."""
    try:
        return reverse("admin:login")
    except NoReverseMatch:
        return str(settings.LOGIN_URL)


InboxView = Callable[..., HttpResponse]


def _staff_only(view: InboxView) -> InboxView:
    """An inbox page: 404 while the sandbox is off (before anything else, so a switched-off
    sandbox does not even ask for a login), the admin's login for anonymous visitors, 403 for
    anyone signed in who is not active staff."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _require_enabled()
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), _login_url())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@csrf_exempt
def endpoint(request: HttpRequest, path_action: str | None = None) -> HttpResponse:
    """One NXCloud endpoint; ``path_action`` is the action its path names (None: unknown path)."""
    _require_enabled()
    if request.method != "POST":
        response = _envelope(1002, "Parameter error: use POST", status=405)
        response["Allow"] = "POST"
        return response
    try:
        if not conf.ACCESS_SECRET:
            raise ProtocolError(1005, "Insufficient permissions")
        checked = check_request(
            path_action,
            request.headers,
            request.body,
            access_key=conf.ACCESS_KEY,
            access_secret=conf.ACCESS_SECRET,
            now_ms=int(time.time() * 1000),
        )
    except ProtocolError as err:
        logger.info("sandbox %s refused: %s", path_action or "unknown path", err.code)
        return _envelope(err.code, err.message)
    code, message, data = engine.handle(DatabaseState(), checked.action, checked.payload)
    logger.info("sandbox %s answered %s", checked.action, code)
    return _envelope(code, message, data)


def _register_status_label(number: SandboxNumber | None) -> str:
    if number is None or number.client_created_at is None:
        return ""
    statuses = dict(DatabaseState().register_statuses(number.app_key or conf.APP_KEY))
    status = statuses.get(number.phone_number)
    if status is None:
        return ""
    return f"{status} · {RegisterStatus(status).label}"


@never_cache
@require_GET
@_staff_only
def inbox(request: HttpRequest) -> HttpResponse:
    """Every number that received a code, the most recent first, like a phone's message list."""
    wanted = request.GET.get("number", "").strip()
    if wanted:
        digits = digits_only(wanted)[:15]
        if digits:
            return HttpResponseRedirect(reverse("nxwa_sandbox:inbox_number", args=[digits]))
    rows = list(
        SandboxMessage.objects.values("phone_number")
        .annotate(last_at=Max("created_at"), last_id=Max("id"), count=Count("id"))
        .order_by("-last_id")
    )
    latest = SandboxMessage.objects.in_bulk([row["last_id"] for row in rows])
    threads = [
        {
            "phone_number": row["phone_number"],
            "formatted_phone": format_phone(row["phone_number"]),
            "count": row["count"],
            "last_at": row["last_at"],
            "code": engine.display_code(latest[row["last_id"]].code),
        }
        for row in rows
    ]
    return render(
        request,
        "nxwa_sandbox/inbox.html",
        {"threads": threads, "number_query": wanted, "now": timezone.now()},
    )


@never_cache
@require_GET
@_staff_only
def inbox_number(request: HttpRequest, phone_number: str) -> HttpResponse:
    """One number's messages, newest first; only the newest code is accepted by checkCode."""
    messages = [
        {
            "code": message.code,
            "display_code": engine.display_code(message.code),
            "method": message.method,
            "created_at": message.created_at,
            "is_current": index == 0,
        }
        for index, message in enumerate(
            SandboxMessage.objects.filter(phone_number=phone_number).order_by("-id")[:50]
        )
    ]
    number = SandboxNumber.objects.filter(phone_number=phone_number).first()
    return render(
        request,
        "nxwa_sandbox/inbox_number.html",
        {
            "phone_number": phone_number,
            "formatted_phone": format_phone(phone_number),
            "messages": messages,
            "number": number,
            "register_status": _register_status_label(number),
            "apps": SandboxApp.objects.order_by("-id")[:50],
            "bound_app": SandboxApp.objects.filter(app_key=number.app_key).first() if number else None,
            "simulations": SIMULATION_LABELS,
            "sent": request.GET.get("sent", "")[:80],
        },
    )


SIMULATION_LABELS = [
    ("quality_downgrade", _("Quality downgrade")),
    ("ban", _("Ban")),
    ("reinstate", _("Reinstate")),
    ("name_approved", _("Display name approved")),
    ("name_rejected", _("Display name rejected")),
]


def _send_callback(app: SandboxApp, payload: dict[str, Any]) -> str:
    """POST a signed callback to the application's webhook URL, as NXCloud would; what came back."""
    body = callbacks.body_of(payload)
    headers = callbacks.signed_headers(body, access_key=conf.ACCESS_KEY, access_secret=conf.ACCESS_SECRET)
    try:
        response = requests.post(
            app.webhook, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=5
        )
    except requests.RequestException as err:
        logger.info("sandbox callback to application %s failed: %s", app.pk, type(err).__name__)
        return f"failed: {type(err).__name__}"
    logger.info(
        "sandbox callback %s to application %s: HTTP %s", payload.get("field"), app.pk, response.status_code
    )
    return f"HTTP {response.status_code}"


@never_cache
@require_POST
@_staff_only
def inbox_action(request: HttpRequest, phone_number: str) -> HttpResponse:
    """The inbox's buttons: bind the number to an application (NXCloud does it through its
    embedded page), or have "NXCloud" send that application's webhook one of ``SIMULATIONS``."""
    number = SandboxNumber.objects.filter(phone_number=phone_number).first()
    if number is None:
        raise Http404
    back = reverse("nxwa_sandbox:inbox_number", args=[phone_number])
    if "bind" in request.POST:
        app_key = request.POST.get("app_key", "")
        if app_key and not SandboxApp.objects.filter(app_key=app_key).exists():
            raise Http404
        SandboxNumber.objects.filter(pk=number.pk).update(app_key=app_key)
        return HttpResponseRedirect(back)
    simulation = request.POST.get("simulate", "")
    if simulation not in callbacks.SIMULATIONS:
        raise Http404
    app = SandboxApp.objects.filter(app_key=number.app_key).first() if number.app_key else None
    if app is None:
        return HttpResponseRedirect(back + "?sent=" + "no application: bind the number first")
    sent = _send_callback(app, callbacks.simulated(simulation, phone_number))
    return HttpResponseRedirect(back + "?" + urlencode({"sent": f"{simulation}: {sent}"}))
