"""System checks: each message names the ``NXWA_ONBOARDING`` key to fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from .conf import conf
from .signing import ALGORITHMS

HINT = "Set it in settings.NXWA_ONBOARDING."


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    raw = getattr(settings, "NXWA_ONBOARDING", None)
    if raw is not None and not isinstance(raw, dict):
        return [Error("NXWA_ONBOARDING must be a dict.", id="nxwa_onboarding.E000")]
    if not conf.ACCESS_KEY:
        messages.append(
            Error("NXWA_ONBOARDING['ACCESS_KEY'] is missing or empty.", hint=HINT, id="nxwa_onboarding.E001")
        )
    if not conf.ACCESS_SECRET:
        messages.append(
            Error(
                "NXWA_ONBOARDING['ACCESS_SECRET'] is missing or empty.",
                hint=HINT + " Read it from the environment; never commit it.",
                id="nxwa_onboarding.E002",
            )
        )
    if conf.SIGN_ALGORITHM not in ALGORITHMS:
        messages.append(
            Error(
                f"NXWA_ONBOARDING['SIGN_ALGORITHM'] is {conf.SIGN_ALGORITHM!r}; "
                f"use one of {', '.join(sorted(ALGORITHMS))}.",
                id="nxwa_onboarding.E003",
            )
        )
    scheme = urlsplit(conf.BASE_URL).scheme
    if scheme not in ("http", "https") or not urlsplit(conf.BASE_URL).netloc:
        messages.append(
            Error(
                f"NXWA_ONBOARDING['BASE_URL'] must be an http(s) URL, got {conf.BASE_URL!r}.",
                id="nxwa_onboarding.E004",
            )
        )
    elif scheme == "http" and not settings.DEBUG:
        messages.append(
            Warning(
                "NXWA_ONBOARDING['BASE_URL'] uses plain http while DEBUG is off: "
                "signed requests and verification codes would cross the network unencrypted.",
                hint="Use https://api2.nxcloud.com (the default).",
                id="nxwa_onboarding.W001",
            )
        )
    try:
        connect, read = conf.TIMEOUT
        valid_timeout = connect > 0 and read > 0
    except (TypeError, ValueError):
        valid_timeout = False
    if not valid_timeout:
        messages.append(
            Error(
                "NXWA_ONBOARDING['TIMEOUT'] must be a (connect, read) pair of positive seconds.",
                id="nxwa_onboarding.E005",
            )
        )
    return messages
