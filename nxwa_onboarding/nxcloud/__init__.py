"""NXCloud's WhatsApp integrator API, as one small client: ``client`` (the actions, typed),
``transport`` (one signed POST, its limits and its answer), ``signing`` (the sign rule, shared
with the webhooks), ``redact`` (values that never show in a log or an error report) and
``exceptions`` (what a call can end in). It knows nothing of the app's models: the services call it.
"""

from __future__ import annotations

from .client import NXCloudClient, NXCloudResponse
from .exceptions import (
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
from .signing import compute_sign, verify_sign

__all__ = [
    "InvalidStateError",
    "NXCloudAuthError",
    "NXCloudBusinessError",
    "NXCloudClient",
    "NXCloudConfigurationError",
    "NXCloudError",
    "NXCloudNotIntegratorError",
    "NXCloudParameterError",
    "NXCloudResponse",
    "OnboardingError",
    "TransportError",
    "compute_sign",
    "verify_sign",
]
