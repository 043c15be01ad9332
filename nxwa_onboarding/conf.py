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
#: What ``AUTO_BLOCK`` holds for a key it leaves out.
AUTO_BLOCK_DEFAULTS: dict[str, Any] = {
    "min_sends": 20,
    "max_conversion": 0.05,
    "prefix_digits": 7,
    "window_hours": 24,
    "mode": "off",
}
AUTO_BLOCK_MODES = ("block", "monitor", "off")


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
        """Your NXCloud access key, sent in the ``accessKey`` header of every call. Required (E001):
        read it from the environment."""
        return str(self._get("ACCESS_KEY", "") or "")

    @property
    def ACCESS_SECRET(self) -> str:
        """Your NXCloud access secret: used only to sign each call, never sent, stored or logged.
        Required (E002): read it from the environment."""
        return str(self._get("ACCESS_SECRET", "") or "")

    @property
    def BASE_URL(self) -> str:
        """NXCloud's API root. Must be http(s); plain http with ``DEBUG`` off is a warning. The
        sandbox's URL (``http://127.0.0.1:8000/sandbox/nxcloud``) for development."""
        return str(self._get("BASE_URL", DEFAULT_BASE_URL)).rstrip("/")

    @property
    def SIGN_ALGORITHM(self) -> str:
        """How calls are signed: ``"md5"`` or ``"sha256"`` (sent as the ``algorithm`` header when
        not md5)."""
        return str(self._get("SIGN_ALGORITHM", "md5")).lower()

    @property
    def TIMEOUT(self) -> tuple[float, float]:
        """(connect, read) seconds, passed on every request to NXCloud; one number is both."""
        value = self._get("TIMEOUT", DEFAULT_TIMEOUT)
        if isinstance(value, int | float):
            return (float(value), float(value))
        connect, read = value
        return (float(connect), float(read))

    @property
    def APP_KEY(self) -> str:
        """The app key of the installation's *default* customer application, used to read its
        numbers' status (phoneList). A single-application installation needs nothing else:
        registrations not assigned elsewhere belong to it. A string."""
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
        """Checks allowed per code (rejected and unknown outcomes count); a new code starts afresh."""
        return self._int("MAX_CHECK_ATTEMPTS", 5)

    @property
    def CODE_TTL(self) -> int:
        """Seconds a code may be checked after it was sent."""
        return self._int("CODE_TTL", 600)

    @property
    def RESEND_COOLDOWN(self) -> int:
        """Seconds between two codes for one registration (a rejected send counts)."""
        return self._int("RESEND_COOLDOWN", 60)

    @property
    def MAX_SENDS_PER_DAY(self) -> int:
        """Codes sent to one phone number in any 24 hours, across its registrations."""
        return self._int("MAX_SENDS_PER_DAY", 5)

    @property
    def MAX_ATTEMPTS_PER_IP_PER_HOUR(self) -> int:
        """Checks from one address (an IPv6 /64) in any hour, across registrations."""
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
        """Let the offline sandbox answer with ``DEBUG`` off (a staging server only; never in
        production). Must be ``True`` or ``False``."""
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
    def HEALTH_READ_INTERVAL(self) -> int:
        """Seconds between two ``getPhone`` reads of one registered number's health by the
        follower (webhooks update it in between, as they arrive)."""
        return self._int("HEALTH_READ_INTERVAL", 21_600)

    @property
    def HEALTH_READ_BATCH(self) -> int:
        """Registered numbers one ``getPhone`` call asks about (its ``business_phones``)."""
        return self._int("HEALTH_READ_BATCH", 100)

    @property
    def SUPPORT_CONTACT(self) -> str:
        """Whom a merchant contacts about a banned or restricted number, as the customer page says
        it (an email address, a page, a team's name); "" says "our support team"."""
        return str(self._get("SUPPORT_CONTACT", ""))

    @property
    def SEND_BUDGETS(self) -> dict[str, int]:
        """Codes that may be sent per day (any 24 hours), installation-wide, to one region
        (``"GB"``) or one number prefix with its ``+`` (``"+4479"``): ``{"GB": 200, "+4479": 50}``.
        Past it, sends there are refused (``send_budget``) without calling NXCloud. ``0``: no
        budget for that region or prefix. Default: none."""
        value = self._get("SEND_BUDGETS", None) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                f"NXWA_ONBOARDING['SEND_BUDGETS'] must be a dict such as {{'GB': 200}}, got {value!r}."
            )
        return {str(key).upper(): int(count) for key, count in value.items()}

    @property
    def AUTO_BLOCK(self) -> dict[str, Any]:
        """Prefixes whose numbers never convert: with at least ``min_sends`` codes in the last
        ``window_hours`` to numbers starting with the same ``prefix_digits`` digits (country code
        included) and at most ``max_conversion`` of those numbers ever verified, new sends there
        are refused (``mode`` ``"block"``), only reported (``"monitor"``) or nothing (``"off"``,
        the default). Keys left out take the defaults in ``AUTO_BLOCK_DEFAULTS``."""
        value = self._get("AUTO_BLOCK", None) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"NXWA_ONBOARDING['AUTO_BLOCK'] must be a dict, got {value!r}.")
        return {**AUTO_BLOCK_DEFAULTS, **value}

    @property
    def AUTO_BLOCK_ALLOW(self) -> tuple[str, ...]:
        """Numbers or prefixes with their ``+`` (``["+447911", "+447700900123"]``) that
        ``AUTO_BLOCK`` never blocks (staff can add more in the admin's allow-list)."""
        value = self._get("AUTO_BLOCK_ALLOW", None) or ()
        return tuple(str(item).strip().lstrip("+") for item in value)

    @property
    def ALLOWED_METHODS(self) -> tuple[str, ...]:
        """How codes may be sent: ``["sms", "voice"]`` (the default), or one of them."""
        value = self._get("ALLOWED_METHODS", None) or ("sms", "voice")
        return tuple(str(item) for item in value)

    @property
    def VOICE_FALLBACK_AFTER(self) -> int | None:
        """Seconds after an SMS code with no correct entry from which one voice call may be
        asked for even inside RESEND_COOLDOWN ("Call me instead"); ``None`` turns it off."""
        value = self._get("VOICE_FALLBACK_AFTER", 60)
        return None if value is None else self._int("VOICE_FALLBACK_AFTER", 60)

    @property
    def TASK_BACKEND(self) -> str:
        """The alias in the host's ``TASKS`` setting that the app's tasks are enqueued on."""
        return str(self._get("TASK_BACKEND", "default"))

    @property
    def RETENTION_DAYS(self) -> int:
        """Days personal data is kept: phone numbers of registrations that ended (closed, failed)
        that long ago, and addresses, webhook payloads and task rows older than that, are
        pseudonymised or deleted by ``nxwa_purge`` (``services.retention``)."""
        return self._int("RETENTION_DAYS", 180)

    @property
    def RETENTION_UNFINISHED_DAYS(self) -> int:
        """Days an unfinished registration (new, or a code sent and never verified) is kept:
        past that since its last code, ``nxwa_purge`` closes it and pseudonymises its number."""
        return self._int("RETENTION_UNFINISHED_DAYS", 30)

    @property
    def ERASE_ON_USER_DELETE(self) -> bool:
        """When a user is deleted, erase their numbers and addresses first (``services.retention
        .erase_user``). Off by default: a host that keeps audit records decides."""
        return self._get("ERASE_ON_USER_DELETE", False) is True

    @property
    def OPS_TOKEN(self) -> str:
        """The bearer token a metrics scraper or a health probe sends
        (``Authorization: Bearer …``) to ``nxwa_onboarding.ops``'s ``metrics/`` and ``health/``;
        empty (the default): only signed-in staff get in. Read it from the environment."""
        return str(self._get("OPS_TOKEN", "") or "")

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
