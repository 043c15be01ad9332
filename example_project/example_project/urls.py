from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/onboarding/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # The JSON API (the `api` extra) and its OpenAPI document at /onboarding/api/openapi.json.
    path("onboarding/api/", include("nxwa_onboarding.api.urls")),
    path("onboarding/", include("nxwa_onboarding.urls")),
    path("nxwa/webhooks/", include("nxwa_onboarding.webhooks.urls")),
]
if getattr(settings, "SANDBOX", False):
    urlpatterns.append(path("sandbox/nxcloud/", include("nxwa_onboarding.sandbox.urls")))
