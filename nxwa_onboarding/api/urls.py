"""The JSON API. Include under any prefix: ``path("onboarding/api/", include("nxwa_onboarding.api.urls"))``.

Serves the resources and the OpenAPI document at ``openapi.json``; each resource's path also
answers with a trailing slash, as it did before the document dropped them. Every view is run outside
``ATOMIC_REQUESTS`` (the services commit each pending row before its NXCloud call), never cached,
and its error reports are filtered at any ``DEBUG`` with the posted code hidden, like the
customer pages; a method an address does not take is answered with problem details too.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

# The optional-dependency guard: django-ninja comes with the ``api`` extra. Only a host that
# includes these URLs imports this module, and it gets this message instead of a bare
# ImportError; nothing else in the app imports ``nxwa_onboarding.api``.
try:
    import ninja  # noqa: F401
except ImportError as err:  # pragma: no cover - the suite runs with the extra installed
    raise ImproperlyConfigured(
        "nxwa_onboarding.api needs django-ninja: pip install 'django-nxwa-onboarding[api]'."
    ) from err

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path, re_path
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from ..reports import safe_reports
from . import problems
from .app import OnboardingAPI, build_api


def as_onboarding_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "Allow" in response:
            return problems.method_not_allowed().response({"Allow": response["Allow"]})
        return response

    wrapped = transaction.non_atomic_requests(
        never_cache(safe_reports(sensitive_post_parameters("code", "password")(wrapper)))
    )
    # django-ninja's views are CSRF-exempt at Django's level: its auth checks CSRF for session
    # callers (``auth.SessionAuth``) and token callers need none.
    wrapped.csrf_exempt = True  # type: ignore[attr-defined]
    return wrapped


def api_urlpatterns(api: OnboardingAPI) -> list[Any]:
    """The URL patterns of ``api``, each view wrapped as above (``urlpatterns`` of a URLconf)."""
    patterns, _app_name, namespace = api.urls
    aliases = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = as_onboarding_view(pattern.callback)
            route = str(pattern.pattern)
            if route and not route.endswith("/") and "." not in route:
                # The document's paths have no trailing slash; the slashed form the API had
                # first keeps answering the same (unnamed, undocumented) for older clients.
                aliases.append(path(route + "/", pattern.callback, pattern.default_args))
    # Anything else under the API's root is a 404 problem: never Django's APPEND_SLASH redirect
    # (which turns a POST into a GET) or a 500.
    return [path("", ([*patterns, *aliases], namespace, namespace)), re_path(r"^.*$", no_such_path)]


@as_onboarding_view
def no_such_path(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    return problems.no_such_path().response()


api = build_api()
urlpatterns = api_urlpatterns(api)
