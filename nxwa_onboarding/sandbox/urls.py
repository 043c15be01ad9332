"""Mount under a prefix, e.g. ``path("sandbox/nxcloud/", include("nxwa_onboarding.sandbox.urls"))``,
and point ``NXWA_ONBOARDING["BASE_URL"]`` at it: the endpoints sit at NXCloud's own paths below."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from ..nxcloud.client import ENDPOINTS
from . import views

app_name = "nxwa_sandbox"

urlpatterns: list[URLPattern] = [
    path(route.lstrip("/"), views.endpoint, {"path_action": action}, name=action)
    for action, route in ENDPOINTS.items()
]
urlpatterns += [
    # Any other path under NXCloud's API answers 1002, as NXCloud does.
    re_path(r"^api/", views.endpoint, {"path_action": None}, name="unknown_endpoint"),
    path("inbox/", views.inbox, name="inbox"),
    re_path(r"^inbox/(?P<phone_number>[0-9]{1,15})/$", views.inbox_number, name="inbox_number"),
    re_path(r"^inbox/(?P<phone_number>[0-9]{1,15})/act/$", views.inbox_action, name="inbox_action"),
]
