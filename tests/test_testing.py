"""The test helpers a host project uses (nxwa_onboarding.testing), each feature proven by use."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from django.test import override_settings

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import NXCloudAuthError, NXCloudBusinessError, TransportError
from nxwa_onboarding.testing import FakeNXCloud, fake_nxcloud
from tests.helpers.guide import pytest_in

PHONE = "8613800138000"
BASE_URL = "https://api2.nxcloud.com"


SECRET = "test-access-secret-CANARY-7f3a"


def client(secret: str = SECRET, **options: object) -> NXCloudClient:
    return NXCloudClient("test-access-key", secret, base_url=BASE_URL, **options)  # type: ignore[arg-type]


# -- registration as a pytest plugin ---------------------------------------------------------------


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("nxwa_onboarding") == "nxwa_onboarding.testing"


HOST_SETTINGS = """
SECRET_KEY = "host-project-tests"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "nxwa_onboarding"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
NXWA_ONBOARDING = {"ACCESS_KEY": "host-key", "ACCESS_SECRET": "host-secret", "APP_KEY": "host-app"}
"""

HOST_TEST = """
from nxwa_onboarding import services


def test_merchant_verifies(nxcloud, db):
    registration = services.start_registration("+86 138 0013 8000")
    code = nxcloud.latest_code(registration.phone_number)
    assert services.check_code(registration, code).outcome == "accepted"


def test_nxcloud_down(nxcloud, db):
    nxcloud.fail("getCode", http_status=500, body="<html>Bad gateway</html>")
    registration = services.start_registration("+86 138 0013 8000")
    assert registration.code_requests.latest().outcome == "unknown"
"""


@pytest.mark.slow
def test_a_host_project_gets_the_fixture_without_any_conftest(tmp_path: Path) -> None:
    """The testing how-to's example, in a project of its own: no conftest, no import of the plugin."""
    (tmp_path / "host_settings.py").write_text(HOST_SETTINGS)
    (tmp_path / "test_host.py").write_text(HOST_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = host_settings\npythonpath = .\n")
    result = pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# -- reading what was "sent" -----------------------------------------------------------------------


@pytest.mark.django_db
def test_latest_code_reads_the_code_sent_to_a_number(nxcloud: FakeNXCloud) -> None:
    assert nxcloud.latest_code(PHONE) is None
    registration = services.start_registration("+86 138 0013 8000")
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    assert code.isdigit()
    assert len(code) == 6
    assert services.check_code(registration, code).outcome == "accepted"


def test_codes_sent_to_lists_every_code_newest_first(nxcloud: FakeNXCloud) -> None:
    for _ in range(3):
        client().get_code(PHONE)
    codes = nxcloud.codes_sent_to(PHONE)
    assert len(codes) == 3
    assert codes[0] == nxcloud.latest_code(PHONE)
    assert [sent.code for sent in nxcloud.inbox[PHONE]] == codes[::-1]


def test_only_the_latest_code_is_accepted(nxcloud: FakeNXCloud) -> None:
    client().get_code(PHONE)
    client().get_code(PHONE)
    newest, older = nxcloud.codes_sent_to(PHONE)
    if older != newest:
        with pytest.raises(NXCloudBusinessError) as caught:
            client().check_code(PHONE, older)
        assert caught.value.code == 9001
    client().check_code(PHONE, newest)
    assert PHONE in nxcloud.verified


def test_the_wrong_code_answer_can_be_minus_one(nxcloud: FakeNXCloud) -> None:
    nxcloud.wrong_code_result = -1
    client().get_code(PHONE)
    with pytest.raises(NXCloudBusinessError) as caught:
        client().check_code(PHONE, "000000" if nxcloud.latest_code(PHONE) != "000000" else "111111")
    assert caught.value.code == -1


def test_calls_record_each_request_and_its_answer(nxcloud: FakeNXCloud) -> None:
    client().get_code(PHONE, "voice")
    (call,) = nxcloud.calls_to("getCode")
    assert call.payload == {"phone_number": PHONE, "method": "voice"}
    assert call.answer_code == 0
    assert call.headers["action"] == "getCode"


# -- checking requests like NXCloud --------------------------------------------------------------


def test_a_request_signed_with_another_secret_is_refused_1003(nxcloud: FakeNXCloud) -> None:
    with pytest.raises(NXCloudAuthError) as caught:
        client(secret="not-the-secret").get_code(PHONE)
    assert caught.value.code == 1003
    assert nxcloud.inbox == {}
    assert nxcloud.calls[-1].answer_code == 1003


def test_a_stale_timestamp_is_refused_1004(nxcloud: FakeNXCloud) -> None:
    with pytest.raises(NXCloudAuthError) as caught:
        client(clock=lambda: time.time() - 300).get_code(PHONE)
    assert caught.value.code == 1004


def test_the_context_manager_takes_its_own_credentials() -> None:
    with fake_nxcloud(access_key="ak", access_secret="sk", base_url="https://nx.example") as fake:
        NXCloudClient("ak", "sk", base_url="https://nx.example").get_code(PHONE)
        assert fake.latest_code(PHONE) is not None
        with pytest.raises(NXCloudAuthError):
            NXCloudClient("other", "sk", base_url="https://nx.example").get_code(PHONE)


def test_the_fixture_reads_override_settings_when_entered() -> None:
    settings = {"ACCESS_KEY": "k2", "ACCESS_SECRET": "s2", "BASE_URL": "https://nx2.example"}
    with override_settings(NXWA_ONBOARDING=settings), fake_nxcloud() as fake:
        NXCloudClient.from_settings().get_code(PHONE)
        assert fake.base_url == "https://nx2.example"
        assert fake.latest_code(PHONE) is not None


# -- scripting failures ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_fail_with_a_result_code(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 9001, message="Meta refused")
    registration = services.start_registration(PHONE)
    sent = registration.code_requests.get()
    assert (sent.outcome, sent.result_code, sent.result_message) == ("rejected", 9001, "Meta refused")
    assert nxcloud.latest_code(PHONE) is None


@pytest.mark.django_db
def test_fail_with_a_timeout(nxcloud: FakeNXCloud) -> None:
    registration = services.start_registration(PHONE)
    nxcloud.fail("checkCode", timeout=True)
    attempt = services.check_code(registration, str(nxcloud.latest_code(PHONE)))
    assert attempt.outcome == "unknown"
    assert registration.status == PhoneRegistration.Status.CODE_SENT
    assert len(nxcloud.calls_to("checkCode")) == 1  # never resent


@pytest.mark.django_db
def test_fail_with_a_500_page(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", http_status=500, body="<html>Internal Server Error</html>")
    registration = services.start_registration(PHONE)
    sent = registration.code_requests.get()
    assert (sent.outcome, sent.http_status) == (CodeRequest.Outcome.UNKNOWN, 500)
    assert "<html>" not in sent.result_message


def test_fail_with_a_refused_connection_then_recover(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", connection_error=True)
    client(sleep=lambda seconds: None).get_code(PHONE)  # retried: it never reached NXCloud
    assert nxcloud.latest_code(PHONE) is not None
    nxcloud.fail("getCode", connection_error=True, times=3)
    with pytest.raises(TransportError) as caught:
        client(sleep=lambda seconds: None).get_code(PHONE)
    assert caught.value.sent is False


def test_failures_are_used_in_order_and_times_counts(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("checkCode", 9001, times=2)
    client().get_code(PHONE)
    code = str(nxcloud.latest_code(PHONE))
    for _ in range(2):
        with pytest.raises(NXCloudBusinessError):
            client().check_code(PHONE, code)
    client().check_code(PHONE, code)


def test_a_refused_request_does_not_use_up_a_scripted_failure(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 9001)
    with pytest.raises(NXCloudAuthError):
        client(secret="wrong").get_code(PHONE)
    with pytest.raises(NXCloudBusinessError):
        client().get_code(PHONE)


def test_fail_names_a_real_action_and_can_be_cleared(nxcloud: FakeNXCloud) -> None:
    with pytest.raises(ValueError, match="unknown NXCloud action 'checkcode'"):
        nxcloud.fail("checkcode", 9001)
    nxcloud.fail("getCode", 9001)
    nxcloud.clear_failures()
    client().get_code(PHONE)


# -- registration status -----------------------------------------------------------------------


@pytest.mark.django_db
def test_phone_list_moves_a_created_client_to_registered(nxcloud: FakeNXCloud) -> None:
    registration = services.start_registration(PHONE)
    services.check_code(registration, str(nxcloud.latest_code(PHONE)))
    services.create_client(registration)
    seen = []
    for _ in range(3):
        services.refresh_status(registration)
        seen.append(registration.register_status)
    assert seen == [3, 4, 5]
    assert registration.status == PhoneRegistration.Status.REGISTERED


@pytest.mark.django_db
def test_set_register_status_plays_a_failed_registration(nxcloud: FakeNXCloud) -> None:
    registration = services.start_registration(PHONE)
    services.check_code(registration, str(nxcloud.latest_code(PHONE)))
    services.create_client(registration)
    nxcloud.set_register_status(PHONE, 2)
    for _ in range(2):
        services.refresh_status(registration)
    assert registration.register_status == 2
    assert registration.status == PhoneRegistration.Status.FAILED


def test_a_wrong_appkey_is_9008(nxcloud: FakeNXCloud) -> None:
    with pytest.raises(NXCloudBusinessError) as caught:
        client().phone_list("someone-elses-app")
    assert caught.value.code == 9008
    assert client().phone_list("test-app-key") == []


def test_the_plugin_module_imports_without_django_configured() -> None:
    code = textwrap.dedent(
        """
        import sys
        import nxwa_onboarding.testing
        from django.conf import settings
        assert not settings.configured
        assert "responses" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env={"PATH": ""})
