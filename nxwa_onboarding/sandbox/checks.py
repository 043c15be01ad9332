"""The sandbox must not answer on a production server by accident."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from ..conf import conf


def sandbox_enabled() -> bool:
    """True when the sandbox may answer: DEBUG is on, or the deployer explicitly allowed it."""
    return bool(settings.DEBUG) or conf.SANDBOX_ALLOW_WITHOUT_DEBUG


def check_sandbox_debug(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if sandbox_enabled():
        return []
    return [
        Error(
            "The offline NXCloud sandbox ('nxwa_onboarding.sandbox') is installed while DEBUG is off. "
            "It accepts any request signed with your ACCESS_SECRET and shows verification codes "
            "to anyone who opens its inbox.",
            hint=(
                "Remove 'nxwa_onboarding.sandbox' from INSTALLED_APPS and its URLs, or, for a "
                "staging server only, set NXWA_ONBOARDING['SANDBOX_ALLOW_WITHOUT_DEBUG'] = True."
            ),
            id="nxwa_onboarding.E010",
        )
    ]
