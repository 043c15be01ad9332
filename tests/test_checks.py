"""Settings (``conf``) and the system checks on ``NXWA_ONBOARDING``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from nxwa_onboarding.checks import POSITIVE_INTEGERS, check_settings
from nxwa_onboarding.conf import KNOWN_KEYS, Settings, conf

VALID = {"ACCESS_KEY": "key", "ACCESS_SECRET": "secret", "BASE_URL": "https://api2.nxcloud.com"}


def check_ids(configured: Any, *, debug: bool = False) -> list[str]:
    with override_settings(NXWA_ONBOARDING=configured, DEBUG=debug):
        return [message.id or "" for message in check_settings()]


def without(key: str) -> dict[str, Any]:
    return {name: value for name, value in VALID.items() if name != key}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "configured",
    [
        VALID,
        {"ACCESS_KEY": "key", "ACCESS_SECRET": "secret"},  # the default BASE_URL
        {**VALID, "SIGN_ALGORITHM": "sha256", "TIMEOUT": (1, 5)},
        {**VALID, "SIGN_ALGORITHM": "MD5", "TIMEOUT": 4},
        {**VALID, "BASE_URL": "https://nxcloud.example:8443/"},
    ],
    ids=["valid", "defaults", "sha256", "uppercase-md5", "other-https"],
)
def test_valid_settings_give_no_messages(configured: dict[str, Any], debug: bool) -> None:
    assert check_ids(configured, debug=debug) == []


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (without("ACCESS_KEY"), "nxwa_onboarding.E001"),
        ({**VALID, "ACCESS_KEY": ""}, "nxwa_onboarding.E001"),
        ({**VALID, "ACCESS_KEY": None}, "nxwa_onboarding.E001"),
        (without("ACCESS_SECRET"), "nxwa_onboarding.E002"),
        ({**VALID, "ACCESS_SECRET": ""}, "nxwa_onboarding.E002"),
        ({**VALID, "SIGN_ALGORITHM": "sha1"}, "nxwa_onboarding.E003"),
        ({**VALID, "SIGN_ALGORITHM": "hmac-sha256"}, "nxwa_onboarding.E003"),
        ({**VALID, "BASE_URL": "ftp://api2.nxcloud.com"}, "nxwa_onboarding.E004"),
        ({**VALID, "BASE_URL": "api2.nxcloud.com"}, "nxwa_onboarding.E004"),
        ({**VALID, "BASE_URL": "https://"}, "nxwa_onboarding.E004"),
        ({**VALID, "BASE_URL": ""}, "nxwa_onboarding.E004"),
        ({**VALID, "TIMEOUT": (0, 10)}, "nxwa_onboarding.E005"),
        ({**VALID, "TIMEOUT": (1, 2, 3)}, "nxwa_onboarding.E005"),
        ({**VALID, "TIMEOUT": None}, "nxwa_onboarding.E005"),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_each_problem_has_its_error(configured: dict[str, Any], expected: str, debug: bool) -> None:
    assert check_ids(configured, debug=debug) == [expected]


def test_missing_key_and_secret_both_reported() -> None:
    assert check_ids({}) == ["nxwa_onboarding.E001", "nxwa_onboarding.E002"]


def test_messages_name_the_setting_to_fix() -> None:
    with override_settings(NXWA_ONBOARDING={**without("ACCESS_SECRET"), "SIGN_ALGORITHM": "sha1"}):
        messages = check_settings()
    assert all(isinstance(message, Error) for message in messages)
    assert "ACCESS_SECRET" in messages[0].msg
    assert "SIGN_ALGORITHM" in messages[1].msg
    assert "'sha1'" in messages[1].msg


def test_plain_http_warns_only_with_debug_off() -> None:
    configured = {**VALID, "BASE_URL": "http://127.0.0.1:8000/sandbox"}
    assert check_ids(configured, debug=False) == ["nxwa_onboarding.W001"]
    assert check_ids(configured, debug=True) == []
    with override_settings(NXWA_ONBOARDING=configured, DEBUG=False):
        (message,) = check_settings()
    assert isinstance(message, Warning)
    assert "BASE_URL" in message.msg


def test_plain_http_webhook_base_url_warns_only_with_debug_off() -> None:
    configured = {**VALID, "WEBHOOK_BASE_URL": "http://127.0.0.1:8000"}
    assert check_ids(configured, debug=False) == ["nxwa_onboarding.W003"]
    assert check_ids(configured, debug=True) == []


def test_not_a_dict() -> None:
    assert check_ids([("ACCESS_KEY", "key")]) == ["nxwa_onboarding.E000"]


def test_the_secret_never_appears_in_a_message() -> None:
    configured = {"ACCESS_SECRET": "CANARY-in-checks", "SIGN_ALGORITHM": "nope", "BASE_URL": "ftp://x"}
    with override_settings(NXWA_ONBOARDING=configured):
        messages = check_settings()
    assert len(messages) == 3
    assert all("CANARY-in-checks" not in f"{message.msg} {message.hint}" for message in messages)


def test_the_check_is_registered() -> None:
    with override_settings(NXWA_ONBOARDING=without("ACCESS_KEY")):
        with pytest.raises(SystemCheckError, match=r"nxwa_onboarding\.E001"):
            call_command("check")
        assert "nxwa_onboarding.E001" in [message.id for message in run_checks()]
    with override_settings(NXWA_ONBOARDING=VALID):
        assert "nxwa_onboarding.E001" not in [message.id for message in run_checks()]


# -- the type of every other key ----------------------------------------------------------------

EVERY_KEY = {
    **VALID,
    "MAX_FAILED_CALLS_PER_HOUR": 10,
    "BREAKER_FAILURES": 20,
    "BREAKER_WINDOW": 300,
    "MAX_LIST_BYTES": 1_000_000,
    "MAX_LIST_ITEMS": 500,
    "SIGN_ALGORITHM": "sha256",
    "TIMEOUT": (2, 8),
    "APP_KEY": "app-key",
    "MAX_CHECK_ATTEMPTS": 3,
    "CODE_TTL": 300,
    "RESEND_COOLDOWN": 30,
    "MAX_SENDS_PER_DAY": 10,
    "MAX_ATTEMPTS_PER_IP_PER_HOUR": 100,
    "MAX_SENDS_PER_OWNER_PER_DAY": 8,
    "MAX_SENDS_PER_IP_PER_HOUR": 8,
    "MAX_OPEN_REGISTRATIONS_PER_OWNER": 2,
    "MAX_SENDS_PER_DAY_GLOBAL": 300,
    "UNVERIFIED_EXPIRY": 3600,
    "CLIENT_IP": "nxwa_onboarding.addresses.remote_addr",
    "API_AUTHENTICATION": "nxwa_onboarding.api.auth.SessionAuth",
    "ALLOWED_REGIONS": ["CN", "HK", "001"],
    "DEFAULT_REGION": "CN",
    "SANDBOX_ALLOW_WITHOUT_DEBUG": False,
    "SANDBOX_REGISTER_STEPS": (0.5, 1),
    "WEBHOOK_BASE_URL": "https://onboarding.example.com",
    "APPLICATION_FOR_OWNER": "nxwa_onboarding.services.applications.application_for_owner",
    "FOLLOW_BACKOFF": (2, 120),
    "STUCK_AFTER": 3600,
    "TASK_BACKEND": "default",
    "HEALTH_READ_INTERVAL": 21600,
    "HEALTH_READ_BATCH": 100,
    "SUPPORT_CONTACT": "support@example.com",
    "SEND_BUDGETS": {"GB": 200, "+4479": 50, "HK": 0},
    "AUTO_BLOCK": {
        "min_sends": 20,
        "max_conversion": 0.05,
        "prefix_digits": 7,
        "window_hours": 24,
        "mode": "block",
    },
    "AUTO_BLOCK_ALLOW": ["+447911", "+8613800138000"],
    "ALLOWED_METHODS": ["sms", "voice"],
    "VOICE_FALLBACK_AFTER": 20,
    "OPS_TOKEN": "ops-token-0123456789-abcdefghijklmnopqrstuvwxyz",
    "RETENTION_DAYS": 365,
    "RETENTION_UNFINISHED_DAYS": 14,
    "ERASE_ON_USER_DELETE": True,
}


def test_every_known_key_is_set_in_the_valid_example() -> None:
    assert sorted(EVERY_KEY) == sorted(KNOWN_KEYS)


@pytest.mark.parametrize("debug", [False, True])
def test_every_key_set_correctly_gives_no_messages(debug: bool) -> None:
    assert check_ids(EVERY_KEY, debug=debug) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        *[(key, value) for key in POSITIVE_INTEGERS for value in (1, 86400)],
        ("SANDBOX_REGISTER_STEPS", (0, 0)),
        ("SANDBOX_REGISTER_STEPS", (2, 2)),
        ("SANDBOX_REGISTER_STEPS", [1.5, 4]),
        ("SANDBOX_ALLOW_WITHOUT_DEBUG", True),
        ("APP_KEY", ""),
        ("APP_KEY", None),  # os.environ.get() of an unset variable: no appkey, like ""
        ("ALLOWED_REGIONS", None),
        ("ALLOWED_REGIONS", ("GB",)),
        ("ALLOWED_REGIONS", ["cn", "hk"]),
        ("DEFAULT_REGION", None),
        ("DEFAULT_REGION", "gb"),
        ("WEBHOOK_BASE_URL", ""),
        ("WEBHOOK_BASE_URL", None),
        ("WEBHOOK_BASE_URL", "https://example.com/"),
        ("WEBHOOK_BASE_URL", "https://example.com:8443"),
        ("FOLLOW_BACKOFF", (0.5, 0.5)),
        ("FOLLOW_BACKOFF", [5, 600]),
        ("STUCK_AFTER", 60),
        ("TASK_BACKEND", "nxwa"),
    ],
)
def test_good_values_are_accepted(key: str, value: Any) -> None:
    # A cooldown as short as 1 second would make the example's voice fallback pointless (W140).
    fallback = {"VOICE_FALLBACK_AFTER": None} if key == "RESEND_COOLDOWN" else {}
    assert check_ids({**EVERY_KEY, **fallback, key: value}) == []


NOT_POSITIVE_INTEGERS = [0, -1, True, False, "5", "five", 5.0, 2.5, None, [5]]
BAD = [
    *[(key, value, "nxwa_onboarding.E006") for key in POSITIVE_INTEGERS for value in NOT_POSITIVE_INTEGERS],
    *[
        ("SANDBOX_REGISTER_STEPS", value, "nxwa_onboarding.E007")
        for value in [(5, 2), (-1, 2), (0, -1), (1,), (1, 2, 3), ("2", "5"), (True, 5), 5, None, "25"]
    ],
    *[
        ("SANDBOX_ALLOW_WITHOUT_DEBUG", value, "nxwa_onboarding.E008")
        for value in ["False", "true", 1, 0, None]
    ],
    *[("APP_KEY", value, "nxwa_onboarding.E009") for value in [123, b"app-key", ["app-key"]]],
    *[
        ("CLIENT_IP", value, "nxwa_onboarding.E011")
        for value in ["no.such.module.reader", "nxwa_onboarding.conf.DEFAULT_BASE_URL", 42, None]
    ],
    *[
        ("API_AUTHENTICATION", value, "nxwa_onboarding.E013")
        for value in ["no.such.module.TokenAuth", "nxwa_onboarding.conf.DEFAULT_BASE_URL", 42, None]
    ],
    *[
        ("ALLOWED_REGIONS", value, "nxwa_onboarding.E012")
        for value in ["CN", [], ["UK"], ["CN", 86], ["ZZ"], {"CN": True}]
    ],
    *[("DEFAULT_REGION", value, "nxwa_onboarding.E012") for value in ["UK", "001", "", 86, ["CN"]]],
    *[
        ("WEBHOOK_BASE_URL", value, "nxwa_onboarding.E014")
        for value in ["example.com", "ftp://example.com", "https://", "https://x.com/?a=1", 42, ["https://x"]]
    ],
    *[
        ("APPLICATION_FOR_OWNER", value, "nxwa_onboarding.E015")
        for value in ["no.such.module.pick", "nxwa_onboarding.conf.DEFAULT_BASE_URL", 42, None]
    ],
    *[
        ("FOLLOW_BACKOFF", value, "nxwa_onboarding.E016")
        for value in [(0, 5), (10, 5), (-1, 5), (5,), (1, 2, 3), ("5", "60"), (True, 5), 5, None]
    ],
    *[("STUCK_AFTER", value, "nxwa_onboarding.E017") for value in NOT_POSITIVE_INTEGERS],
    *[("TASK_BACKEND", value, "nxwa_onboarding.E018") for value in ["", None, 1, ["default"]]],
    *[("HEALTH_READ_INTERVAL", value, "nxwa_onboarding.E130") for value in NOT_POSITIVE_INTEGERS],
    *[("HEALTH_READ_BATCH", value, "nxwa_onboarding.E131") for value in [*NOT_POSITIVE_INTEGERS, 501]],
    *[("SUPPORT_CONTACT", value, "nxwa_onboarding.E132") for value in [None, 1, ["help@example.com"]]],
    *[
        (key, value, "nxwa_onboarding.E110")
        for key in ("MAX_FAILED_CALLS_PER_HOUR", "BREAKER_FAILURES", "BREAKER_WINDOW")
        for value in NOT_POSITIVE_INTEGERS
    ],
    *[
        (key, value, "nxwa_onboarding.E111")
        for key in ("MAX_LIST_BYTES", "MAX_LIST_ITEMS")
        for value in NOT_POSITIVE_INTEGERS
    ],
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD)
def test_each_wrong_value_is_an_error_naming_key_and_value(key: str, value: Any, expected: str) -> None:
    with override_settings(NXWA_ONBOARDING={**EVERY_KEY, key: value}):
        messages = check_settings()
    assert [message.id for message in messages] == [expected]
    (message,) = messages
    assert isinstance(message, Error)
    assert f"NXWA_ONBOARDING[{key!r}]" in message.msg
    assert f"got {value!r}" in message.msg


def test_check_runs_and_reports_when_every_value_is_wrong() -> None:
    """``conf`` would raise on several of these; ``manage.py check`` must still list them all."""
    wrong = {
        **VALID,
        "TIMEOUT": "slow",
        "APP_KEY": 42,
        **{key: "five" for key in POSITIVE_INTEGERS},
        "SANDBOX_ALLOW_WITHOUT_DEBUG": "False",
        "SANDBOX_REGISTER_STEPS": "soon",
        "MAX_SEND_PER_DAY": 5,
    }
    with override_settings(NXWA_ONBOARDING=wrong), pytest.raises(SystemCheckError) as raised:
        call_command("check")
    ids = set(re.findall(r"nxwa_onboarding\.[EW]\d{3}", str(raised.value)))
    assert {"nxwa_onboarding.E005", *(f"nxwa_onboarding.E00{n}" for n in range(6, 10))} <= ids
    assert "nxwa_onboarding.W002" in ids
    assert str(raised.value).count("must be a positive integer") == len(POSITIVE_INTEGERS)


# -- unknown keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("MAX_SEND_PER_DAY", "MAX_SENDS_PER_DAY"),
        ("code_ttl", "CODE_TTL"),
        ("ACCESS_SECRETS", "ACCESS_SECRET"),
        ("SANDBOX_ALLOW_WITHOUT_DEBUGGING", "SANDBOX_ALLOW_WITHOUT_DEBUG"),
    ],
)
def test_unknown_key_warns_with_the_closest_known_key(key: str, suggestion: str) -> None:
    with override_settings(NXWA_ONBOARDING={**EVERY_KEY, key: 1}):
        (message,) = check_settings()
    assert isinstance(message, Warning)
    assert message.id == "nxwa_onboarding.W002"
    assert message.msg == f"NXWA_ONBOARDING has an unknown key {key!r}; did you mean {suggestion!r}?"


@pytest.mark.parametrize("key", ["COLOUR", 7])
def test_unknown_key_without_a_close_match_lists_the_known_keys(key: Any) -> None:
    with override_settings(NXWA_ONBOARDING={**EVERY_KEY, key: 1}):
        (message,) = check_settings()
    assert message.id == "nxwa_onboarding.W002"
    assert message.msg == f"NXWA_ONBOARDING has an unknown key {key!r}."
    assert all(known in str(message.hint) for known in KNOWN_KEYS)


def test_every_known_key_has_the_docstring_the_settings_reference_shows() -> None:
    """The settings reference (docs/reference/settings.md) is generated from ``conf.Settings``:
    every property is a row, and its docstring is the row's meaning."""
    undocumented = [key for key in KNOWN_KEYS if not (getattr(Settings, key).__doc__ or "").strip()]
    assert undocumented == []


# -- conf -------------------------------------------------------------------------------------


def test_conf_reads_settings_lazily() -> None:
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "first"}):
        assert conf.ACCESS_KEY == "first"
        with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "second", "SIGN_ALGORITHM": "SHA256"}):
            assert conf.ACCESS_KEY == "second"
            assert conf.SIGN_ALGORITHM == "sha256"
        assert conf.ACCESS_KEY == "first"
        assert conf.SIGN_ALGORITHM == "md5"


@pytest.mark.parametrize("configured", [{}, None], ids=["empty", "unset"])
def test_conf_defaults(configured: dict[str, Any] | None) -> None:
    with override_settings(NXWA_ONBOARDING=configured):
        assert conf.ACCESS_KEY == ""
        assert conf.ACCESS_SECRET == ""
        assert conf.BASE_URL == "https://api2.nxcloud.com"
        assert conf.SIGN_ALGORITHM == "md5"
        assert conf.TIMEOUT == (3.05, 10)


def test_conf_values() -> None:
    configured = {**VALID, "BASE_URL": "https://nxcloud.example/", "TIMEOUT": [2, "7.5"]}
    with override_settings(NXWA_ONBOARDING=configured):
        assert conf.BASE_URL == "https://nxcloud.example"
        assert conf.TIMEOUT == (2.0, 7.5)
    with override_settings(NXWA_ONBOARDING={**VALID, "TIMEOUT": 4}):
        assert conf.TIMEOUT == (4.0, 4.0)


@pytest.mark.parametrize("key", POSITIVE_INTEGERS)
def test_conf_names_the_key_it_cannot_read(key: str) -> None:
    pattern = rf"NXWA_ONBOARDING\['{key}'\].*'five'"
    with (
        override_settings(NXWA_ONBOARDING={**VALID, key: "five"}),
        pytest.raises(ImproperlyConfigured, match=pattern),
    ):
        getattr(conf, key)


def test_conf_names_the_register_steps_it_cannot_read() -> None:
    with (
        override_settings(NXWA_ONBOARDING={**VALID, "SANDBOX_REGISTER_STEPS": 5}),
        pytest.raises(ImproperlyConfigured, match=r"\['SANDBOX_REGISTER_STEPS'\].*got 5"),
    ):
        _ = conf.SANDBOX_REGISTER_STEPS


@pytest.mark.parametrize(("value", "allowed"), [(True, True), (False, False), ("False", False), (1, False)])
def test_conf_allows_the_sandbox_without_debug_only_for_true(value: Any, allowed: bool) -> None:
    with override_settings(NXWA_ONBOARDING={**VALID, "SANDBOX_ALLOW_WITHOUT_DEBUG": value}):
        assert conf.SANDBOX_ALLOW_WITHOUT_DEBUG is allowed


def test_conf_reads_the_number_regions() -> None:
    with override_settings(NXWA_ONBOARDING={**VALID}):
        assert conf.ALLOWED_REGIONS is None
        assert conf.DEFAULT_REGION is None
    with override_settings(
        NXWA_ONBOARDING={**VALID, "ALLOWED_REGIONS": ["cn", "HK"], "DEFAULT_REGION": "cn"}
    ):
        assert conf.ALLOWED_REGIONS == ("CN", "HK")
        assert conf.DEFAULT_REGION == "CN"


@pytest.mark.parametrize(("key", "value"), [("ALLOWED_REGIONS", ["UK"]), ("DEFAULT_REGION", "UK")])
def test_conf_names_the_region_setting_it_cannot_read(key: str, value: Any) -> None:
    with (
        override_settings(NXWA_ONBOARDING={**VALID, key: value}),
        pytest.raises(ImproperlyConfigured, match=rf"\['{key}'\].*'UK'"),
    ):
        getattr(conf, key)


# -- the fraud guard's settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("SEND_BUDGETS", {"XX": 5}, "nxwa_onboarding.E140"),
        ("SEND_BUDGETS", {"+44a9": 5}, "nxwa_onboarding.E140"),
        ("SEND_BUDGETS", {"GB": -1}, "nxwa_onboarding.E140"),
        ("SEND_BUDGETS", {"GB": True}, "nxwa_onboarding.E140"),
        ("SEND_BUDGETS", ["GB"], "nxwa_onboarding.E140"),
        ("AUTO_BLOCK", {"mode": "sometimes"}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK", {"min_sends": 0}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK", {"max_conversion": 1.5}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK", {"prefix_digits": 1}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK", {"window_hours": 0}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK", {"min_send": 20}, "nxwa_onboarding.E141"),
        ("AUTO_BLOCK_ALLOW", ["447911"], "nxwa_onboarding.E142"),
        ("AUTO_BLOCK_ALLOW", "+447911", "nxwa_onboarding.E142"),
        ("VOICE_FALLBACK_AFTER", 0, "nxwa_onboarding.E143"),
        ("VOICE_FALLBACK_AFTER", "60", "nxwa_onboarding.E143"),
        ("ALLOWED_METHODS", [], "nxwa_onboarding.E144"),
        ("ALLOWED_METHODS", ["sms", "sms"], "nxwa_onboarding.E144"),
        ("ALLOWED_METHODS", ["fax"], "nxwa_onboarding.E144"),
        ("VOICE_FALLBACK_AFTER", 30, "nxwa_onboarding.W140"),  # with the example's RESEND_COOLDOWN 30
    ],
)
def test_fraud_guard_settings_are_checked(key: str, value: Any, check_id: str) -> None:
    assert check_ids({**EVERY_KEY, key: value}) == [check_id]


def test_the_default_voice_fallback_is_not_warned_about() -> None:
    assert check_ids(VALID) == []


@pytest.mark.parametrize(
    ("key", "variable"), [("ACCESS_KEY", "NXWA_ACCESS_KEY"), ("ACCESS_SECRET", "NXWA_ACCESS_SECRET")]
)
def test_missing_credentials_name_the_environment_variable_and_the_sandbox(key: str, variable: str) -> None:
    with override_settings(NXWA_ONBOARDING=without(key)):
        (message,) = [m for m in check_settings() if m.id in ("nxwa_onboarding.E001", "nxwa_onboarding.E002")]
    assert variable in str(message.hint)
    assert "nxwa_onboarding.sandbox" in str(message.hint)
