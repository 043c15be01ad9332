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
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from .services.retention import erase_on_user_delete

        # Opt-in (ERASE_ON_USER_DELETE): read when a user is deleted, so override_settings works.
        pre_delete.connect(
            erase_on_user_delete,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="nxwa_onboarding.erase_on_delete",
        )
