"""System checks: each message names the ``NXWA_ONBOARDING`` key to fix.

The checks read the raw dict, not ``conf``, so that any wrong value is reported rather than
raised: E000 not a dict, E001/E002 credentials, E003 SIGN_ALGORITHM, E004/W001 BASE_URL,
E005 TIMEOUT, E006 rule limits, E007 SANDBOX_REGISTER_STEPS, E008 SANDBOX_ALLOW_WITHOUT_DEBUG,
E009 APP_KEY, E011 CLIENT_IP, E012 ALLOWED_REGIONS / DEFAULT_REGION,
E013 API_AUTHENTICATION, E014/W003 WEBHOOK_BASE_URL, E015 APPLICATION_FOR_OWNER,
E016 FOLLOW_BACKOFF, E017 STUCK_AFTER, E018 TASK_BACKEND, W002 unknown key (E010 is the
sandbox's own check). The fraud guard's: E140 SEND_BUDGETS, E141 AUTO_BLOCK, E142
AUTO_BLOCK_ALLOW, E143 VOICE_FALLBACK_AFTER, E144 ALLOWED_METHODS, W140 a voice fallback
that comes no sooner than the cooldown, E120/W120 OPS_TOKEN,
E121/W121/W122 RETENTION_DAYS / RETENTION_UNFINISHED_DAYS, E122 ERASE_ON_USER_DELETE,
E110 MAX_FAILED_CALLS_PER_HOUR / BREAKER_FAILURES / BREAKER_WINDOW, E111 MAX_LIST_BYTES /
MAX_LIST_ITEMS.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .conf import AUTO_BLOCK_DEFAULTS, AUTO_BLOCK_MODES, KNOWN_KEYS, conf
from .nxcloud.signing import ALGORITHMS

HINT = "Set it in settings.NXWA_ONBOARDING."
#: E001/E002: where the credentials come from, and what to do without any.
CREDENTIALS_HINT = (
    "Set it in settings.NXWA_ONBOARDING from the environment variable {variable} "
    "(NXWA_ACCESS_KEY, NXWA_ACCESS_SECRET and NXWA_APP_KEY in the installation guide). No NXCloud "
    "credentials yet? Add 'nxwa_onboarding.sandbox' to INSTALLED_APPS with DEBUG on and any "
    "values: the offline sandbox plays NXCloud (docs/howto/install.md, step 7, before migrate)."
)

#: The rule settings: each must be a positive integer.
POSITIVE_INTEGERS = (
    "MAX_CHECK_ATTEMPTS",
    "CODE_TTL",
    "RESEND_COOLDOWN",
    "MAX_SENDS_PER_DAY",
    "MAX_ATTEMPTS_PER_IP_PER_HOUR",
    "MAX_SENDS_PER_OWNER_PER_DAY",
    "MAX_SENDS_PER_IP_PER_HOUR",
    "MAX_OPEN_REGISTRATIONS_PER_OWNER",
    "MAX_SENDS_PER_DAY_GLOBAL",
    "UNVERIFIED_EXPIRY",
)


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    raw = getattr(settings, "NXWA_ONBOARDING", None)
    if raw is None:
        raw = {}
    elif not isinstance(raw, dict):
        return [Error("NXWA_ONBOARDING must be a dict.", id="nxwa_onboarding.E000")]
    if not conf.ACCESS_KEY:
        messages.append(
            Error(
                "NXWA_ONBOARDING['ACCESS_KEY'] is missing or empty.",
                hint=CREDENTIALS_HINT.format(variable="NXWA_ACCESS_KEY"),
                id="nxwa_onboarding.E001",
            )
        )
    if not conf.ACCESS_SECRET:
        messages.append(
            Error(
                "NXWA_ONBOARDING['ACCESS_SECRET'] is missing or empty.",
                hint=CREDENTIALS_HINT.format(variable="NXWA_ACCESS_SECRET") + " Never commit it.",
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
    messages += check_webhook_base_url(raw)
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
    messages += check_types(raw)
    messages += check_voice_fallback(raw)
    messages += check_ops_token(raw)
    messages += check_retention(raw)
    messages += check_unknown_keys(raw)
    return messages


def check_voice_fallback(raw: dict[Any, Any]) -> list[CheckMessage]:
    """A fallback set to come no sooner than the cooldown is never offered early (W140). (The
    defaults, 60 and 60, make it the same as asking again: not worth a warning.)"""
    if "VOICE_FALLBACK_AFTER" not in raw:
        return []
    after, cooldown = raw.get("VOICE_FALLBACK_AFTER", 60), raw.get("RESEND_COOLDOWN", 60)
    if is_positive_integer(after) and is_positive_integer(cooldown) and after >= cooldown:
        return [
            Warning(
                f"NXWA_ONBOARDING['VOICE_FALLBACK_AFTER'] ({after}) is not shorter than "
                f"RESEND_COOLDOWN ({cooldown}): the voice call is never offered before any new code.",
                hint="Make it shorter than RESEND_COOLDOWN, or None to turn it off.",
                id="nxwa_onboarding.W140",
            )
        ]
    return []


#: Shorter than this, a bearer token could be guessed (``secrets.token_urlsafe(32)`` is 43).
OPS_TOKEN_MIN_LENGTH = 32


def check_ops_token(raw: dict[Any, Any]) -> list[CheckMessage]:
    """The metrics and health token: a string, and long enough not to be guessed."""
    value = raw.get("OPS_TOKEN")
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        return [
            Error(
                f"NXWA_ONBOARDING['OPS_TOKEN'] must be a string, got {type(value).__name__}.",
                hint="Read it from the environment, e.g. os.environ.get('NXWA_OPS_TOKEN', '').",
                id="nxwa_onboarding.E120",
            )
        ]
    if len(value) < OPS_TOKEN_MIN_LENGTH:
        return [
            Warning(
                f"NXWA_ONBOARDING['OPS_TOKEN'] is shorter than {OPS_TOKEN_MIN_LENGTH} characters: "
                "a bearer token that short can be guessed.",
                hint='Make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
                id="nxwa_onboarding.W120",
            )
        ]
    return []


def check_webhook_base_url(raw: dict[Any, Any]) -> list[CheckMessage]:
    """Like BASE_URL: an http(s) origin, https unless DEBUG. Unset is fine until an application
    is created (``create_application`` says so in plain words)."""
    value = raw.get("WEBHOOK_BASE_URL")
    if value in (None, ""):
        return []
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        return [
            Error(
                f"NXWA_ONBOARDING['WEBHOOK_BASE_URL'] must be this site's http(s) origin as NXCloud "
                f"reaches it, such as 'https://example.com', got {value!r}.",
                id="nxwa_onboarding.E014",
            )
        ]
    if parts.scheme == "http" and not settings.DEBUG:
        return [
            Warning(
                "NXWA_ONBOARDING['WEBHOOK_BASE_URL'] uses plain http while DEBUG is off: NXCloud's "
                "callbacks, and the token in their URL, would cross the network unencrypted.",
                hint="Use this site's https:// origin.",
                id="nxwa_onboarding.W003",
            )
        ]
    return []


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_positive_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def is_callable_path(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return callable(import_string(value))
    except ImportError:
        return False


def is_register_steps(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(is_number(step) for step in value)
        and 0 <= value[0] <= value[1]
    )


def is_backoff(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(is_number(step) for step in value)
        and 0 < value[0] <= value[1]
    )


def is_task_backend(value: Any) -> bool:
    """A non-empty alias; whether the host's ``TASKS`` has it is the Tasks framework's own check."""
    return isinstance(value, str) and bool(value)


def is_region(value: Any) -> bool:
    return isinstance(value, str) and value.upper() in phonenumbers.SUPPORTED_REGIONS


def is_region_list(value: Any) -> bool:
    """Non-empty, and every item a region phonenumbers knows or "001" (numbers of no country)."""
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(is_region(code) or code == "001" for code in value)
    )


def is_prefix(value: Any) -> bool:
    """A number or prefix with its ``+`` and the country code: ``"+4479"``."""
    return (
        isinstance(value, str) and value.startswith("+") and value[1:].isdigit() and 1 <= len(value) - 1 <= 15
    )


def is_send_budgets(value: Any) -> bool:
    """``{"GB": 200, "+4479": 50}``: region codes or prefixes to a count of codes a day (0: none)."""
    return isinstance(value, dict) and all(
        (is_region(key) or is_prefix(key))
        and isinstance(count, int)
        and not isinstance(count, bool)
        and count >= 0
        for key, count in value.items()
    )


def is_auto_block(value: Any, keys: tuple[str, ...] = tuple(AUTO_BLOCK_DEFAULTS)) -> bool:
    if not isinstance(value, dict) or not set(value) <= set(keys):
        return False
    rules: dict[str, Callable[[Any], bool]] = {
        "min_sends": is_positive_integer,
        "max_conversion": lambda v: is_number(v) and 0 <= v <= 1,
        "prefix_digits": lambda v: is_positive_integer(v) and 2 <= v <= 15,
        "window_hours": lambda v: is_number(v) and v > 0,
        "mode": lambda v: v in AUTO_BLOCK_MODES,
    }
    return all(rules[key](item) for key, item in value.items())


def is_allow_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(is_prefix(item) for item in value)


def is_methods(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and len(set(value)) == len(value)
        and all(item in ("sms", "voice") for item in value)
    )


#: key -> (is the value right, what it must be, check id). One id per kind of problem.
TYPES: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    **{key: (is_positive_integer, "a positive integer", "nxwa_onboarding.E006") for key in POSITIVE_INTEGERS},
    "SANDBOX_REGISTER_STEPS": (
        is_register_steps,
        "a pair of seconds (to_created, to_registered) with 0 <= to_created <= to_registered",
        "nxwa_onboarding.E007",
    ),
    "CLIENT_IP": (
        is_callable_path,
        "a dotted path to a callable that takes the request and returns its address",
        "nxwa_onboarding.E011",
    ),
    # Checked only when set: importing the default would import django-ninja, an optional extra.
    "API_AUTHENTICATION": (
        is_callable_path,
        "a dotted path to an authentication class (see the token-auth how-to)",
        "nxwa_onboarding.E013",
    ),
    "APPLICATION_FOR_OWNER": (
        is_callable_path,
        "a dotted path to a callable that takes the owner and returns their Application",
        "nxwa_onboarding.E015",
    ),
    "SANDBOX_ALLOW_WITHOUT_DEBUG": (
        lambda value: isinstance(value, bool),
        "True or False",
        "nxwa_onboarding.E008",
    ),
    "APP_KEY": (lambda value: isinstance(value, str | None), "a string", "nxwa_onboarding.E009"),
    "ALLOWED_REGIONS": (
        lambda value: value is None or is_region_list(value),
        "None (any region) or a non-empty list of region codes such as ['CN', 'HK']",
        "nxwa_onboarding.E012",
    ),
    "DEFAULT_REGION": (
        lambda value: value is None or is_region(value),
        "None or a region code such as 'CN'",
        "nxwa_onboarding.E012",
    ),
    "FOLLOW_BACKOFF": (
        is_backoff,
        "a pair of seconds (shortest, longest) with 0 < shortest <= longest",
        "nxwa_onboarding.E016",
    ),
    "STUCK_AFTER": (is_positive_integer, "a positive integer (seconds)", "nxwa_onboarding.E017"),
    "TASK_BACKEND": (is_task_backend, "the name of a backend in TASKS", "nxwa_onboarding.E018"),
    "HEALTH_READ_INTERVAL": (is_positive_integer, "a positive integer (seconds)", "nxwa_onboarding.E130"),
    "HEALTH_READ_BATCH": (
        lambda value: is_positive_integer(value) and value <= 500,
        "a positive integer of at most 500 (numbers per getPhone)",
        "nxwa_onboarding.E131",
    ),
    "SUPPORT_CONTACT": (lambda value: isinstance(value, str), "a string", "nxwa_onboarding.E132"),
    "SEND_BUDGETS": (
        is_send_budgets,
        "a dict of region codes or +prefixes to codes a day, such as {'GB': 200, '+4479': 50}",
        "nxwa_onboarding.E140",
    ),
    "AUTO_BLOCK": (
        is_auto_block,
        "a dict with min_sends (a positive integer), max_conversion (0 to 1), prefix_digits "
        "(2 to 15), window_hours (positive) and mode ('block', 'monitor' or 'off')",
        "nxwa_onboarding.E141",
    ),
    "AUTO_BLOCK_ALLOW": (
        is_allow_list,
        "a list of numbers or prefixes with their +, such as ['+447911']",
        "nxwa_onboarding.E142",
    ),
    "VOICE_FALLBACK_AFTER": (
        lambda value: value is None or is_positive_integer(value),
        "a positive integer (seconds) or None (off)",
        "nxwa_onboarding.E143",
    ),
    "ALLOWED_METHODS": (
        is_methods,
        "a non-empty list of 'sms' and 'voice'",
        "nxwa_onboarding.E144",
    ),
    "RETENTION_DAYS": (is_positive_integer, "a positive integer (days)", "nxwa_onboarding.E121"),
    "RETENTION_UNFINISHED_DAYS": (is_positive_integer, "a positive integer (days)", "nxwa_onboarding.E121"),
    "ERASE_ON_USER_DELETE": (lambda value: isinstance(value, bool), "True or False", "nxwa_onboarding.E122"),
    **{
        key: (is_positive_integer, "a positive integer", "nxwa_onboarding.E110")
        for key in ("MAX_FAILED_CALLS_PER_HOUR", "BREAKER_FAILURES", "BREAKER_WINDOW")
    },
    **{
        key: (is_positive_integer, "a positive integer", "nxwa_onboarding.E111")
        for key in ("MAX_LIST_BYTES", "MAX_LIST_ITEMS")
    },
}


def check_types(raw: dict[Any, Any]) -> list[CheckMessage]:
    """The keys whose values ``conf`` would coerce (``int("5")``) or misread (``bool("False")``)."""
    return [
        Error(
            f"NXWA_ONBOARDING[{key!r}] must be {expected}, got {raw[key]!r}.",
            id=check_id,
        )
        for key, (is_valid, expected, check_id) in TYPES.items()
        if key in raw and not is_valid(raw[key])
    ]


def check_unknown_keys(raw: dict[Any, Any]) -> list[CheckMessage]:
    """A misspelt key is otherwise ignored in silence and its default used."""
    messages: list[CheckMessage] = []
    for key in raw:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(str(key).upper(), KNOWN_KEYS, n=1)
        messages.append(
            Warning(
                f"NXWA_ONBOARDING has an unknown key {key!r}"
                + (f"; did you mean {close[0]!r}?" if close else "."),
                hint=None if close else f"The known keys are {', '.join(KNOWN_KEYS)}.",
                id="nxwa_onboarding.W002",
            )
        )
    return messages


#: Longer than this, retention is not limited in any sense a regulator would accept.
RETENTION_SENSIBLE_DAYS = 3650


def check_retention(raw: dict[Any, Any]) -> list[CheckMessage]:
    """Retention that would purge what the app still needs, or keep data for ever."""
    messages: list[CheckMessage] = []
    unfinished = raw.get("RETENTION_UNFINISHED_DAYS", 30)
    expiry = raw.get("UNVERIFIED_EXPIRY", 86_400)
    if is_positive_integer(unfinished) and is_positive_integer(expiry) and unfinished * 86_400 < expiry:
        messages.append(
            Warning(
                "NXWA_ONBOARDING['RETENTION_UNFINISHED_DAYS'] is shorter than UNVERIFIED_EXPIRY: "
                "nxwa_purge would close unverified registrations while they still hold their number.",
                hint="Make RETENTION_UNFINISHED_DAYS at least UNVERIFIED_EXPIRY / 86400.",
                id="nxwa_onboarding.W121",
            )
        )
    for key in ("RETENTION_DAYS", "RETENTION_UNFINISHED_DAYS"):
        value: Any = raw.get(key)
        if is_positive_integer(value) and value > RETENTION_SENSIBLE_DAYS:
            messages.append(
                Warning(
                    f"NXWA_ONBOARDING[{key!r}] keeps personal data for {value} days: more than ten "
                    "years is not a limit (GDPR and PIPL expect retention to be limited).",
                    hint="Keep numbers and addresses only as long as you need them; 180 days is the default.",
                    id="nxwa_onboarding.W122",
                )
            )
    return messages
