"""The metrics benchmark's URLs: only ``nxwa_onboarding.ops``, as a host mounts it."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("nxwa/ops/", include("nxwa_onboarding.ops.urls"))]
