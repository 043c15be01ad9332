"""Settings (``conf``) and the system checks on ``NXWA_ONBOARDING``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from nxwa_onboarding.checks import check_settings
from nxwa_onboarding.conf import conf

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
