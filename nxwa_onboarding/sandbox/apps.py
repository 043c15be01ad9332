from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _

from .checks import check_sandbox_debug


class SandboxConfig(AppConfig):
    name = "nxwa_onboarding.sandbox"
    label = "nxwa_sandbox"
    verbose_name = _("NXCloud sandbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_sandbox_debug, checks.Tags.security)
