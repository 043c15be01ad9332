"""Mount once, e.g. ``path("nxwa/webhooks/", include("nxwa_onboarding.webhooks.urls"))``, and set
``NXWA_ONBOARDING["WEBHOOK_BASE_URL"]`` to this site's origin: each application's webhook URL is
that origin followed by its path here (the admin shows it, ready to paste into NXCloud)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "nxwa_webhooks"

urlpatterns = [
    path("<str:token>/", views.receive, name="receive"),
]
