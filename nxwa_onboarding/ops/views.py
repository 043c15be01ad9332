"""The operator's two doors: Prometheus metrics and a health report, for staff or a bearer token.

An anonymous caller gets a 401 with no body to speak of; a signed-in user who is not staff a 403.
A scraper sends ``Authorization: Bearer <OPS_TOKEN>`` (a setting; unset, only staff get in).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..conf import conf
from . import health as health_checks

try:  # the optional ``metrics`` extra
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from .metrics import registry
except ImportError:  # pragma: no cover - the suite installs it
    registry = None  # type: ignore[assignment]

View = Callable[[HttpRequest], HttpResponse]


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def allowed(request: HttpRequest) -> bool | None:
    """True for staff or the right token; False for a known user who is not staff; None for an
    anonymous caller (or a wrong token)."""
    expected = conf.OPS_TOKEN
    offered = bearer_token(request)
    if expected and offered and hmac.compare_digest(offered.encode(), expected.encode()):
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return bool(user.is_staff)
    return None


def staff_or_token(view: View) -> View:
    @wraps(view)
    def guarded(request: HttpRequest) -> HttpResponse:
        verdict = allowed(request)
        if verdict is None:
            response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="nxwa-ops"'
            return response
        if not verdict:
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
        return view(request)

    return guarded


@never_cache
@require_GET
@staff_or_token
def metrics(request: HttpRequest) -> HttpResponse:
    """The app's metrics in Prometheus' text format, read from the database now."""
    if registry is None:  # pragma: no cover - the suite installs it
        return HttpResponse(
            "prometheus-client is not installed: pip install 'django-nxwa-onboarding[metrics]'.\n",
            status=501,
            content_type="text/plain",
        )
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_GET
@staff_or_token
def health(request: HttpRequest) -> HttpResponse:
    """Whether the database, the task queue and NXCloud's credentials are fine, as JSON: 200
    when all are, 503 otherwise."""
    report = health_checks.report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
