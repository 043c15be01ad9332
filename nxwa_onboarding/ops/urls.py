"""``path("nxwa/ops/", include("nxwa_onboarding.ops.urls"))``: ``metrics/`` and ``health/``."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "nxwa_ops"

urlpatterns = [
    path("metrics/", views.metrics, name="metrics"),
    path("health/", views.health, name="health"),
]
