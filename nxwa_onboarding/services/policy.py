"""One answer to "which settings hold for this registration?": its application's policy, key by
key, falling back to ``NXWA_ONBOARDING``.

An integrator serves shops in different countries with different needs, so an ``Application``
may override the keys that make sense per customer (``POLICY_KEYS``). Every rule reads them
through ``for_registration`` (or ``for_application`` / ``for_owner`` before a registration
exists); a policy is checked key by key with the same tests as the settings' system checks
(``validate_policy``), and a wrong one is refused naming the key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ..checks import TYPES, is_auto_block
from ..conf import conf
from .applications import assign_application
from .rules import Limits

if TYPE_CHECKING:
    from ..models import Application, PhoneRegistration

logger = logging.getLogger("nxwa_onboarding.services")

#: The settings a customer application's policy may override (the rest are the installation's).
POLICY_KEYS = (
    "MAX_CHECK_ATTEMPTS",
    "CODE_TTL",
    "RESEND_COOLDOWN",
    "MAX_SENDS_PER_DAY",
    "MAX_ATTEMPTS_PER_IP_PER_HOUR",
    "MAX_SENDS_PER_OWNER_PER_DAY",
    "MAX_SENDS_PER_IP_PER_HOUR",
    "MAX_OPEN_REGISTRATIONS_PER_OWNER",
    "ALLOWED_REGIONS",
    "DEFAULT_REGION",
    "ALLOWED_METHODS",
    "SEND_BUDGETS",
    "AUTO_BLOCK",
    "VOICE_FALLBACK_AFTER",
)


def _valid(key: str, value: Any) -> bool:
    if key == "AUTO_BLOCK":  # only its mode is the customer's; the figures are the installation's
        return is_auto_block(value, keys=("mode",))
    is_valid, _expected, _id = TYPES[key]
    return is_valid(value)


def _expected(key: str) -> str:
    if key == "AUTO_BLOCK":
        return "{'mode': 'block'}, {'mode': 'monitor'} or {'mode': 'off'}"
    return TYPES[key][1]


def policy_errors(value: Any) -> list[str]:
    """What is wrong with a policy, one sentence per key, each naming it (empty: fine)."""
    if not isinstance(value, dict):
        return [_("A policy must be a JSON object of setting names to values, such as {}.")]
    errors: list[str] = []
    for key, item in value.items():
        if key not in POLICY_KEYS:
            errors.append(
                _("%(key)s is not a setting a policy can change; it can change %(keys)s.")
                % {"key": key, "keys": ", ".join(POLICY_KEYS)}
            )
        elif not _valid(key, item):
            errors.append(
                _("%(key)s must be %(expected)s, not %(value)s.")
                % {"key": key, "expected": _expected(key), "value": repr(item)}
            )
    return errors


def validate_policy(value: Any) -> dict[str, Any]:
    """The policy, or ``ValidationError`` with one message per wrong key (code ``policy``)."""
    errors = policy_errors(value)
    if errors:
        raise ValidationError([ValidationError(text, code="policy") for text in errors])
    return dict(value)


@dataclass(frozen=True)
class Policy:
    """The settings in effect for one application's registrations."""

    overrides: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """The policy's value for ``key`` if it sets one, else the setting's (typed, by ``conf``)."""
        if key in self.overrides:
            value = self.overrides[key]
            if key in ("ALLOWED_REGIONS",) and value is not None:
                return tuple(code.upper() for code in value)
            if key == "DEFAULT_REGION" and value is not None:
                return str(value).upper()
            if key == "ALLOWED_METHODS":
                return tuple(value)
            if key == "SEND_BUDGETS":
                return {str(k).upper(): int(v) for k, v in value.items()}
            if key == "AUTO_BLOCK":
                return {**conf.AUTO_BLOCK, **value}
            return value
        return getattr(conf, key)

    def overrides_key(self, key: str) -> bool:
        return key in self.overrides

    @property
    def limits(self) -> Limits:
        fallback = self.get("VOICE_FALLBACK_AFTER")
        return Limits(
            max_check_attempts=int(self.get("MAX_CHECK_ATTEMPTS")),
            code_ttl=timedelta(seconds=int(self.get("CODE_TTL"))),
            resend_cooldown=timedelta(seconds=int(self.get("RESEND_COOLDOWN"))),
            max_sends_per_day=int(self.get("MAX_SENDS_PER_DAY")),
            max_attempts_per_ip_per_hour=int(self.get("MAX_ATTEMPTS_PER_IP_PER_HOUR")),
            max_sends_per_owner_per_day=int(self.get("MAX_SENDS_PER_OWNER_PER_DAY")),
            max_sends_per_ip_per_hour=int(self.get("MAX_SENDS_PER_IP_PER_HOUR")),
            max_sends_per_day_global=conf.MAX_SENDS_PER_DAY_GLOBAL,
            voice_fallback_after=None if fallback is None else timedelta(seconds=int(fallback)),
            methods=self.methods,
        )

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.get("ALLOWED_METHODS"))


SETTINGS = Policy()


def for_application(application: Application | None) -> Policy:
    """``application``'s policy over the settings. A stored policy that is wrong (changed
    outside the admin's form) is logged and its wrong keys are left out: the settings hold."""
    raw = getattr(application, "policy", None) or {}
    if not isinstance(raw, dict) or not raw:
        return SETTINGS
    good = {key: value for key, value in raw.items() if key in POLICY_KEYS and _valid(key, value)}
    if len(good) != len(raw):
        logger.error(
            "nxwa_onboarding: application %s has a policy with wrong keys (%s); the settings hold for them",
            getattr(application, "pk", None),
            ", ".join(sorted(str(key) for key in set(raw) - set(good))),
        )
    return Policy(good)


def for_registration(registration: PhoneRegistration) -> Policy:
    """The settings every rule reads for ``registration``: its application's policy first."""
    return for_application(registration.application if registration.application_id else None)


def for_owner(owner: Any) -> Policy:
    """Before a registration exists (the number typed on the start page): the policy of the
    application a new registration of ``owner`` would belong to."""
    return for_application(assign_application(owner))
