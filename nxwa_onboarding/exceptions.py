"""Moved to ``nxwa_onboarding.nxcloud.exceptions``; this documented path re-exports it for host
projects."""

from __future__ import annotations

from .nxcloud.exceptions import (
    InvalidStateError,
    NXCloudAuthError,
    NXCloudBusinessError,
    NXCloudConfigurationError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    OnboardingError,
    TransportError,
)

__all__ = [
    "InvalidStateError",
    "NXCloudAuthError",
    "NXCloudBusinessError",
    "NXCloudConfigurationError",
    "NXCloudError",
    "NXCloudNotIntegratorError",
    "NXCloudParameterError",
    "OnboardingError",
    "TransportError",
]
