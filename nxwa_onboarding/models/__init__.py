"""Every model of the app, one module per subject:

- ``registrations``: phone registrations and their append-only audit rows (code requests,
  verification attempts);
- ``applications``: customer applications and the webhook deliveries NXCloud sends them;
- ``follow``: the background follower's state per application;
- ``health``: a registered number's health and its createClient calls (Meta's budget);
- ``fraud``: the fraud guard's blocked and allowed prefixes and the notices it gave staff;
- ``retention``: the record of each erasure and purge (who, when, how much);
- ``holds``: the holds on calls to NXCloud (the failure budgets and the breaker).

Import from here (``from nxwa_onboarding.models import PhoneRegistration``): the modules are
where the code lives, this package is the address host projects use.
"""

from __future__ import annotations

from ..choices import AccountState, Channel, Method, RefusalReason
from .applications import Application, WebhookDelivery, default_application_id
from .follow import FollowState
from .fraud import AllowedPrefix, BlockedPrefix, GuardNotice
from .health import ClientSetupCall, NumberHealth
from .holds import CallHold
from .registrations import CallRecord, CodeRequest, PhoneRegistration, VerificationAttempt
from .retention import Erasure, PurgeRun

__all__ = [
    "AccountState",
    "AllowedPrefix",
    "Application",
    "BlockedPrefix",
    "CallHold",
    "CallRecord",
    "Channel",
    "ClientSetupCall",
    "CodeRequest",
    "Erasure",
    "FollowState",
    "GuardNotice",
    "Method",
    "NumberHealth",
    "PhoneRegistration",
    "PurgeRun",
    "RefusalReason",
    "VerificationAttempt",
    "WebhookDelivery",
    "default_application_id",
]
