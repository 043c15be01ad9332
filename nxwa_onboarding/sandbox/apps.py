from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "nxwa_onboarding.sandbox"
    label = "nxwa_sandbox"
    verbose_name = "NXCloud sandbox"
    default_auto_field = "django.db.models.BigAutoField"
