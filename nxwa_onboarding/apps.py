from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _

from .checks import check_settings


class NxwaOnboardingConfig(AppConfig):
    name = "nxwa_onboarding"
    verbose_name = _("WhatsApp onboarding")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_settings, checks.Tags.security)
