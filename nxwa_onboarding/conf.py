"""The app's settings: one lazily read property per key of ``settings.NXWA_ONBOARDING``.

Nothing is cached, so ``override_settings(NXWA_ONBOARDING=...)`` takes effect at once.
The system checks (``checks.py``) validate the raw dict and never go through these properties,
so a wrong value is reported by ``manage.py check`` instead of crashing it; a property that
cannot make sense of its value raises ``ImproperlyConfigured`` naming the key.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_BASE_URL = "https://api2.nxcloud.com"
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)


class Settings:
    """Typed access to ``NXWA_ONBOARDING`` with the documented defaults."""

    @property
    def _raw(self) -> dict[str, Any]:
        value = getattr(settings, "NXWA_ONBOARDING", None)
        return value if isinstance(value, dict) else {}

    def _get(self, key: str, default: Any) -> Any:
        return self._raw.get(key, default)

    def _int(self, key: str, default: int) -> int:
        value = self._get(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"NXWA_ONBOARDING[{key!r}] must be a positive integer, got {value!r}."
            ) from None

    @property
    def ACCESS_KEY(self) -> str:
        return str(self._get("ACCESS_KEY", "") or "")

    @property
    def ACCESS_SECRET(self) -> str:
        return str(self._get("ACCESS_SECRET", "") or "")

    @property
    def BASE_URL(self) -> str:
        return str(self._get("BASE_URL", DEFAULT_BASE_URL)).rstrip("/")

    @property
    def SIGN_ALGORITHM(self) -> str:
        return str(self._get("SIGN_ALGORITHM", "md5")).lower()

    @property
    def TIMEOUT(self) -> tuple[float, float]:
        value = self._get("TIMEOUT", DEFAULT_TIMEOUT)
        if isinstance(value, int | float):
            return (float(value), float(value))
        connect, read = value
        return (float(connect), float(read))

    @property
    def APP_KEY(self) -> str:
        return str(self._get("APP_KEY", "") or "")

    @property
    def WEBHOOK_BASE_URL(self) -> str:
        """This site's origin as NXCloud reaches it (``https://example.com``): webhook URLs start here."""
        return str(self._get("WEBHOOK_BASE_URL", "") or "").rstrip("/")

    @property
    def APPLICATION_FOR_OWNER(self) -> str:
        """Dotted path to a callable taking the owner (or None) and returning the ``Application``
        a new registration belongs to."""
        return str(
            self._get("APPLICATION_FOR_OWNER", "nxwa_onboarding.services.applications.application_for_owner")
        )

    @property
    def MAX_CHECK_ATTEMPTS(self) -> int:
        return self._int("MAX_CHECK_ATTEMPTS", 5)

    @property
    def CODE_TTL(self) -> int:
        return self._int("CODE_TTL", 600)

    @property
    def RESEND_COOLDOWN(self) -> int:
        return self._int("RESEND_COOLDOWN", 60)

    @property
    def MAX_SENDS_PER_DAY(self) -> int:
        return self._int("MAX_SENDS_PER_DAY", 5)

    @property
    def MAX_ATTEMPTS_PER_IP_PER_HOUR(self) -> int:
        return self._int("MAX_ATTEMPTS_PER_IP_PER_HOUR", 30)

    @property
    def MAX_SENDS_PER_OWNER_PER_DAY(self) -> int:
        """getCode calls for one customer's registrations, all numbers, in any 24 hours."""
        return self._int("MAX_SENDS_PER_OWNER_PER_DAY", 10)

    @property
    def MAX_SENDS_PER_IP_PER_HOUR(self) -> int:
        """getCode calls requested from one address (an IPv6 /64), all numbers, in any hour."""
        return self._int("MAX_SENDS_PER_IP_PER_HOUR", 10)

    @property
    def MAX_OPEN_REGISTRATIONS_PER_OWNER(self) -> int:
        """Unverified open registrations one customer may hold at once."""
        return self._int("MAX_OPEN_REGISTRATIONS_PER_OWNER", 3)

    @property
    def MAX_SENDS_PER_DAY_GLOBAL(self) -> int:
        """getCode calls for the whole installation in any 24 hours: the circuit breaker."""
        return self._int("MAX_SENDS_PER_DAY_GLOBAL", 500)

    @property
    def UNVERIFIED_EXPIRY(self) -> int:
        """Seconds an unverified registration holds its number against a newcomer."""
        return self._int("UNVERIFIED_EXPIRY", 86_400)

    @property
    def CLIENT_IP(self) -> str:
        """Dotted path to a callable taking the request and returning its address (or None)."""
        return str(self._get("CLIENT_IP", "nxwa_onboarding.addresses.remote_addr"))

    @property
    def API_AUTHENTICATION(self) -> str:
        """Dotted path to the JSON API's authentication class (django-ninja's kind: a callable
        taking the request and returning the user, or None), instantiated without arguments
        when the API's URLconf is imported."""
        return str(self._get("API_AUTHENTICATION", "nxwa_onboarding.api.auth.SessionAuth"))

    @property
    def ALLOWED_REGIONS(self) -> tuple[str, ...] | None:
        """ISO region codes (``("CN", "HK")``) whose numbers may be registered; ``None``: any.
        ``"001"`` lets numbers that belong to no country (satellite phones) in."""
        value = self._get("ALLOWED_REGIONS", None)
        if value is None:
            return None
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(
                isinstance(code, str) and code.upper() in {*phonenumbers.SUPPORTED_REGIONS, "001"}
                for code in value
            )
        ):
            raise ImproperlyConfigured(
                "NXWA_ONBOARDING['ALLOWED_REGIONS'] must be a non-empty list of region codes "
                f"such as ['CN', 'HK'], got {value!r}."
            )
        return tuple(code.upper() for code in value)

    @property
    def DEFAULT_REGION(self) -> str | None:
        """The region (``"CN"``) of a number typed without a country code; ``None``: none."""
        value = self._get("DEFAULT_REGION", None)
        if value is None:
            return None
        if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ImproperlyConfigured(
                f"NXWA_ONBOARDING['DEFAULT_REGION'] must be a region code such as 'CN', got {value!r}."
            )
        return value.upper()

    @property
    def SANDBOX_ALLOW_WITHOUT_DEBUG(self) -> bool:
        # Only a real True: the string "False" must not open the sandbox on a production server.
        return self._get("SANDBOX_ALLOW_WITHOUT_DEBUG", False) is True

    @property
    def SANDBOX_REGISTER_STEPS(self) -> tuple[float, float]:
        """Seconds after createClient at which the sandbox reports register_status 4, then 5."""
        value = self._get("SANDBOX_REGISTER_STEPS", (2.0, 5.0))
        try:
            to_created, to_registered = value
            return (float(to_created), float(to_registered))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"NXWA_ONBOARDING['SANDBOX_REGISTER_STEPS'] must be a pair of seconds, got {value!r}."
            ) from None

    @property
    def FOLLOW_BACKOFF(self) -> tuple[float, float]:
        """Seconds between following steps of an application: the first after a change, and the
        most it grows to (doubling) while nothing changes."""
        value = self._get("FOLLOW_BACKOFF", (5.0, 300.0))
        try:
            shortest, longest = value
            return (float(shortest), float(longest))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"NXWA_ONBOARDING['FOLLOW_BACKOFF'] must be a pair of seconds, got {value!r}."
            ) from None

    @property
    def STUCK_AFTER(self) -> int:
        """Seconds in progress (or with a code out and no attempt) before a registration needs
        attention."""
        return self._int("STUCK_AFTER", 86_400)

    @property
    def TASK_BACKEND(self) -> str:
        """The alias in the host's ``TASKS`` setting that the app's tasks are enqueued on."""
        return str(self._get("TASK_BACKEND", "default"))

    @property
    def MAX_FAILED_CALLS_PER_HOUR(self) -> int:
        """Calls that failed (our configuration, NXCloud unreachable) one registration, one
        address (an IPv6 /64) or one customer may make in any hour; past it, calls for them are
        refused until the hour is over. Looser than the other limits: the failures are ours."""
        return self._int("MAX_FAILED_CALLS_PER_HOUR", 10)

    @property
    def BREAKER_FAILURES(self) -> int:
        """Configuration failures (NXCloud refusing our credentials or request) of the whole
        installation within ``BREAKER_WINDOW`` that stop every call to NXCloud: the breaker."""
        return self._int("BREAKER_FAILURES", 20)

    @property
    def BREAKER_WINDOW(self) -> int:
        """Seconds the breaker counts configuration failures over, and stays open for once
        tripped (staff can close it earlier in the admin)."""
        return self._int("BREAKER_WINDOW", 300)

    @property
    def MAX_LIST_BYTES(self) -> int:
        """Bytes of a phoneList or getPhone answer read at most (about 250 a number); a longer
        one is an error."""
        return self._int("MAX_LIST_BYTES", 32 * 1024 * 1024)

    @property
    def MAX_LIST_ITEMS(self) -> int:
        """Items of a phoneList answer read at most; the rest are skipped (logged once)."""
        return self._int("MAX_LIST_ITEMS", 150_000)


#: Every key ``NXWA_ONBOARDING`` may hold: the public properties above.
KNOWN_KEYS: tuple[str, ...] = tuple(
    name for name, member in vars(Settings).items() if isinstance(member, property) and name.isupper()
)

conf = Settings()
