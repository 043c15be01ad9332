from __future__ import annotations

from django.urls import URLPattern

app_name = "nxwa_sandbox"

urlpatterns: list[URLPattern] = []
