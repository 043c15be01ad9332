"""The sandbox answers like NXCloud: every refusal, the code inbox, checkCode, 3 -> 4 -> 5.

Requests come two ways: from the real ``NXCloudClient`` (its session handed to the Django test
client through a small transport adapter, so the bytes it signs are the bytes the view reads),
and built by hand, then tampered with.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.core.checks import run_checks
from django.test import Client, override_settings
from django.utils import timezone
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from nxwa_onboarding.nxcloud.client import ENDPOINTS, NXCloudClient, serialize_body
from nxwa_onboarding.nxcloud.exceptions import NXCloudAuthError, NXCloudError, NXCloudParameterError
from nxwa_onboarding.nxcloud.signing import compute_sign
from nxwa_onboarding.sandbox.checks import check_sandbox_debug
from nxwa_onboarding.sandbox.models import SandboxMessage, SandboxNumber
from tests.helpers.users import make_user

pytestmark = pytest.mark.django_db

ACCESS_KEY = "test-access-key"
SECRET = "test-access-secret-CANARY-7f3a"
APP_KEY = "test-app-key"
MOUNT = "/sandbox/nxcloud"
PHONE = "8613800138000"
SANDBOX_SETTINGS = {
    "ACCESS_KEY": ACCESS_KEY,
    "ACCESS_SECRET": SECRET,
    "BASE_URL": "http://testserver" + MOUNT,
    "APP_KEY": APP_KEY,
    "SANDBOX_ALLOW_WITHOUT_DEBUG": True,
    "SANDBOX_REGISTER_STEPS": (2, 5),
}


class DjangoClientAdapter(BaseAdapter):
    """Hands each prepared request, bytes and headers untouched, to Django's test client."""

    def __init__(self) -> None:
        super().__init__()
        self.django = Client()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = str(request.url).removeprefix("http://testserver")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
        answer = self.django.generic(
            str(request.method),
            path,
            data=body,
            content_type=request.headers.get("Content-Type", ""),
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(dict(answer.headers.items()))
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


def staff_browser() -> Client:
    """A browser signed in as active staff: the only people the inbox pages answer."""
    browser = Client()
    browser.force_login(make_user("inbox-staff", staff=True))
    return browser


def sandbox_client(**overrides: Any) -> NXCloudClient:
    session = requests.Session()
    session.mount("http://testserver", DjangoClientAdapter())
    options: dict[str, Any] = {"base_url": "http://testserver" + MOUNT, "session": session}
    key = overrides.pop("access_key", ACCESS_KEY)
    secret = overrides.pop("access_secret", SECRET)
    options.update(overrides)
    return NXCloudClient(key, secret, **options)


@pytest.fixture(autouse=True)
def _sandbox_settings() -> Any:
    with override_settings(NXWA_ONBOARDING=SANDBOX_SETTINGS):
        yield


def signed_headers(action: str, body: str, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    headers = {
        "accessKey": ACCESS_KEY,
        "action": action,
        "bizType": "2",
        "ts": str(ts if ts is not None else int(time.time() * 1000)),
    }
    headers["sign"] = compute_sign(headers, body, secret)
    return headers


def post(action: str, body: str, headers: dict[str, str], path: str | None = None) -> dict[str, Any]:
    response = Client().post(
        MOUNT + (path or ENDPOINTS[action]), data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    answer: dict[str, Any] = response.json()
    assert set(answer) == {"code", "message", "data"}
    return answer


def check_code_body(code: str = "123456") -> str:
    return serialize_body({"phone_number": PHONE, "code": code})


# -- every refusal: from the real client ----------------------------------------------------------


def test_a_request_signed_with_another_secret_is_1003() -> None:
    with pytest.raises(NXCloudAuthError) as caught:
        sandbox_client(access_secret="another-secret").get_code(PHONE)
    assert caught.value.code == 1003
    assert not SandboxMessage.objects.exists()


def test_a_wrong_access_key_is_1005() -> None:
    with pytest.raises(NXCloudAuthError) as caught:
        sandbox_client(access_key="someone-else").get_code(PHONE)
    assert caught.value.code == 1005


def test_a_clock_two_minutes_behind_is_1004() -> None:
    client = sandbox_client(clock=lambda: time.time() - 120)
    with pytest.raises(NXCloudAuthError) as caught:
        client.get_code(PHONE)
    assert caught.value.code == 1004
    assert not SandboxMessage.objects.exists()


def test_a_clock_within_the_window_is_accepted() -> None:
    sandbox_client(clock=lambda: time.time() - 50).get_code(PHONE)
    assert SandboxMessage.objects.filter(phone_number=PHONE).count() == 1


def test_a_missing_body_field_is_9000() -> None:
    with pytest.raises(NXCloudParameterError) as caught:
        sandbox_client().call("checkCode", {"phone_number": PHONE})
    assert caught.value.code == 9000
    assert "code" in caught.value.message


def test_a_method_other_than_sms_or_voice_is_9000() -> None:
    with pytest.raises(NXCloudParameterError):
        sandbox_client().call("getCode", {"phone_number": PHONE, "method": "pigeon"})


def test_an_unknown_appkey_is_9008() -> None:
    with pytest.raises(NXCloudError) as caught:
        sandbox_client().phone_list("not-our-app")
    assert caught.value.code == 9008
    with pytest.raises(NXCloudError) as caught:
        sandbox_client().get_phone("not-our-app")
    assert caught.value.code == 9008


def test_a_request_without_its_headers_is_1001() -> None:
    client = sandbox_client()
    original = client._signed_headers

    def without_sign(action: str, body: str) -> dict[str, str]:
        headers = original(action, body)
        del headers["sign"]
        return headers

    client._signed_headers = without_sign  # type: ignore[method-assign]
    with pytest.raises(NXCloudAuthError) as caught:
        client.get_code(PHONE)
    assert caught.value.code == 1001


def test_a_base_url_with_a_wrong_prefix_reaches_an_unknown_path_and_is_1002() -> None:
    client = sandbox_client(base_url="http://testserver" + MOUNT + "/api/v2")
    with pytest.raises(NXCloudAuthError) as caught:
        client.get_code(PHONE)
    assert caught.value.code == 1002
    assert not SandboxMessage.objects.exists()


def test_sha256_signatures_are_accepted() -> None:
    sandbox_client(algorithm="sha256").get_code(PHONE, "voice")
    message = SandboxMessage.objects.get()
    assert message.method == "voice"


# -- every refusal: by hand, tampered ------------------------------------------------------------


@pytest.mark.parametrize("missing", ["accessKey", "ts", "bizType", "action", "sign"])
def test_each_missing_header_is_1001(missing: str) -> None:
    body = check_code_body()
    headers = signed_headers("checkCode", body)
    del headers[missing]
    answer = post("checkCode", body, headers)
    assert answer["code"] == 1001
    assert missing in answer["message"]


def test_a_body_changed_after_signing_is_1003() -> None:
    headers = signed_headers("getCode", serialize_body({"phone_number": PHONE, "method": "sms"}))
    tampered = serialize_body({"phone_number": "8613900139000", "method": "sms"})
    assert post("getCode", tampered, headers)["code"] == 1003
    assert not SandboxMessage.objects.exists()


def test_the_same_json_with_other_spacing_is_1003() -> None:
    # NXCloud signs the bytes, not the meaning: re-serialising breaks the signature.
    signed = serialize_body({"phone_number": PHONE, "method": "sms"})
    headers = signed_headers("getCode", signed)
    assert post("getCode", json.dumps({"phone_number": PHONE, "method": "sms"}), headers)["code"] == 1003


def test_an_algorithm_header_that_does_not_match_the_sign_is_1003() -> None:
    body = serialize_body({"phone_number": PHONE, "method": "sms"})
    headers = {**signed_headers("getCode", body), "algorithm": "sha256"}
    assert post("getCode", body, headers)["code"] == 1003


def test_a_stale_timestamp_is_1004_even_when_correctly_signed() -> None:
    body = check_code_body()
    stale = int(time.time() * 1000) - 61_000
    assert post("checkCode", body, signed_headers("checkCode", body, ts=stale))["code"] == 1004
    future = int(time.time() * 1000) + 61_000
    assert post("checkCode", body, signed_headers("checkCode", body, ts=future))["code"] == 1004


def test_a_wrong_access_key_header_is_1005() -> None:
    body = check_code_body()
    headers = {**signed_headers("checkCode", body), "accessKey": "someone-else"}
    assert post("checkCode", body, headers)["code"] == 1005


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"bizType": "1"}, None),
        ({"action": "getCode"}, None),
        ({}, "/api/wa/integrator/embedded/register/deleteEverything"),
    ],
    ids=["bizType", "action-not-the-path", "unknown-path"],
)
def test_a_wrong_biztype_or_action_is_1002(change: dict[str, str], path: str | None) -> None:
    body = check_code_body()
    headers = signed_headers("checkCode", body)
    headers.update(change)
    headers["sign"] = compute_sign(headers, body, SECRET)
    assert post("checkCode", body, headers, path=path)["code"] == 1002


def test_a_body_that_is_not_a_json_object_is_1002() -> None:
    for body in ("[1, 2]", "{not json"):
        assert post("checkCode", body, signed_headers("checkCode", body))["code"] == 1002


def test_an_empty_field_is_9000() -> None:
    body = serialize_body({"phone_number": PHONE, "code": ""})
    assert post("checkCode", body, signed_headers("checkCode", body))["code"] == 9000


def test_get_is_refused_with_405() -> None:
    response = Client().get(MOUNT + ENDPOINTS["getCode"])
    assert response.status_code == 405
    assert response.json()["code"] == 1002


# -- codes, verification and registration ----------------------------------------------------------


def test_get_code_delivers_a_fresh_code_and_only_the_latest_is_accepted() -> None:
    client = sandbox_client()
    client.get_code(PHONE)
    client.get_code(PHONE)
    newest, older = SandboxMessage.objects.filter(phone_number=PHONE).order_by("-id")
    assert newest.code.isdigit()
    assert len(newest.code) == 6
    if older.code != newest.code:  # one chance in a million they are equal
        with pytest.raises(NXCloudError) as caught:
            client.check_code(PHONE, older.code)
        assert caught.value.code == 9001
        assert older.code not in caught.value.message
        assert older.code not in str(caught.value)
    client.check_code(PHONE, newest.code)
    assert SandboxNumber.objects.get(phone_number=PHONE).verified_at is not None


def test_a_wrong_code_is_9001_and_does_not_echo_the_code() -> None:
    client = sandbox_client()
    client.get_code(PHONE)
    response = Client().post(
        MOUNT + ENDPOINTS["checkCode"],
        data=check_code_body("990077"),
        content_type="application/json",
        headers=signed_headers("checkCode", check_code_body("990077")),
    )
    assert response.json()["code"] == 9001
    assert b"990077" not in response.content
    assert not SandboxNumber.objects.filter(verified_at__isnull=False).exists()


def test_check_code_before_any_code_is_refused() -> None:
    with pytest.raises(NXCloudError) as caught:
        sandbox_client().check_code(PHONE, "123456")
    assert caught.value.code == 9001


def test_create_client_needs_a_verified_number() -> None:
    with pytest.raises(NXCloudError) as caught:
        sandbox_client().create_client(PHONE)
    assert caught.value.code == 9001
    assert sandbox_client().phone_list(APP_KEY) == []


def test_an_invalid_phone_number_is_refused() -> None:
    with pytest.raises(NXCloudError) as caught:
        sandbox_client().get_code("+86 138")
    assert caught.value.code == 9001


def verify(client: NXCloudClient, phone: str = PHONE) -> None:
    client.get_code(phone)
    client.check_code(phone, SandboxMessage.objects.filter(phone_number=phone).latest("id").code)


def test_register_status_moves_3_4_5_over_the_configured_seconds() -> None:
    client = sandbox_client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        verify(client)
        client.create_client(PHONE)
        seen = []
        for _ in range(4):
            (number,) = client.phone_list(APP_KEY)
            seen.append(number["register_status"])
            clock.shift(timedelta(seconds=1.9))
    assert seen == [3, 3, 4, 5]  # at 0, 1.9, 3.8 and 5.7 seconds with steps (2, 5)
    assert number["display_phone_number"] == "+86 138 0013 8000"
    assert number["status"] == "CONNECTED"


def test_a_second_create_client_does_not_restart_the_clock() -> None:
    client = sandbox_client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        verify(client)
        client.create_client(PHONE)
        clock.shift(timedelta(seconds=6))
        client.create_client(PHONE)
        assert client.phone_list(APP_KEY)[0]["register_status"] == 5


def test_get_phone_filters_by_business_phones() -> None:
    client = sandbox_client()
    other = "8613900139000"
    for phone in (PHONE, other):
        verify(client, phone)
        client.create_client(phone)
    assert set(client.get_phone(APP_KEY)) == {"+86 138 0013 8000", "+86 139 0013 9000"}
    assert set(client.get_phone(APP_KEY, ["+86 139 0013 9000"])) == {"+86 139 0013 9000"}


def test_login_and_create_app_and_its_app_key_is_then_accepted() -> None:
    client = sandbox_client()
    assert client.login().startswith("sandbox-token-")
    app = client.create_app("Shop", "https://shop.example/webhook")
    assert app["app_name"] == "Shop"
    assert client.phone_list(app["app_key"]) == []


# -- inbox pages ---------------------------------------------------------------------------------


def test_the_inbox_lists_numbers_and_each_number_shows_codes_newest_first() -> None:
    client = sandbox_client()
    client.get_code(PHONE)
    client.get_code(PHONE, "voice")
    client.get_code("8613900139000")
    newest = SandboxMessage.objects.filter(phone_number=PHONE).latest("id")
    oldest = SandboxMessage.objects.filter(phone_number=PHONE).earliest("id")

    browser = staff_browser()
    listing = browser.get(MOUNT + "/inbox/")
    assert listing.status_code == 200
    text = listing.content.decode()
    # Most recent first, like a phone's message list.
    assert text.index("/inbox/8613900139000/") < text.index(f"/inbox/{PHONE}/")
    assert "+86 139 0013 9000" in text
    assert "2 messages" in text

    page = browser.get(MOUNT + f"/inbox/{PHONE}/")
    assert page.status_code == 200
    html = page.content.decode()
    shown = f"{newest.code[:3]}-{newest.code[3:]}"
    assert html.index(f'data-code="{newest.code}"') < html.index(f'data-code="{oldest.code}"')
    assert shown in html
    assert "newest: the one that works" in html
    assert "replaced by a newer code" in html
    assert "voice call" in html
    assert page["Cache-Control"].startswith("max-age=0")


def test_the_inbox_lookup_accepts_a_number_typed_any_way() -> None:
    browser = staff_browser()
    response = browser.get(MOUNT + "/inbox/", {"number": "+86 138-0013-8000"})
    assert response.status_code == 302
    assert response["Location"] == MOUNT + f"/inbox/{PHONE}/"
    empty = browser.get(response["Location"])
    assert "No messages for this number yet." in empty.content.decode()


def test_the_inbox_shows_the_number_state() -> None:
    client = sandbox_client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        verify(client)
        client.create_client(PHONE)
        clock.shift(timedelta(seconds=3))
        html = staff_browser().get(MOUNT + f"/inbox/{PHONE}/").content.decode()
    assert "NXCloud: number verified." in html
    assert "4 · Creation succeeded" in html


INBOX_PAGES = ["/inbox/", f"/inbox/{PHONE}/", "/inbox/?number=%2B8613800138000"]


@pytest.mark.parametrize("page", INBOX_PAGES)
def test_the_inbox_sends_anonymous_visitors_to_the_admin_login(page: str) -> None:
    sandbox_client().get_code(PHONE)
    response = Client().get(MOUNT + page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
    assert SandboxMessage.objects.get().code not in response.content.decode()


@pytest.mark.parametrize("page", INBOX_PAGES)
def test_the_inbox_is_forbidden_to_signed_in_people_who_are_not_staff(page: str) -> None:
    sandbox_client().get_code(PHONE)
    browser = Client()
    browser.force_login(make_user("a-customer"))
    response = browser.get(MOUNT + page)
    assert response.status_code == 403
    assert SandboxMessage.objects.get().code not in response.content.decode()


def test_the_inbox_is_closed_to_staff_whose_account_is_inactive() -> None:
    user = make_user("former-staff", staff=True)
    browser = Client()
    browser.force_login(user)
    assert browser.get(MOUNT + "/inbox/").status_code == 200
    user.is_active = False
    user.save()
    assert browser.get(MOUNT + "/inbox/").status_code != 200


def test_the_nxcloud_endpoints_stay_open_to_signed_requests_without_a_login() -> None:
    """NXCloud checks requests by signature, not by session: so does the sandbox."""
    body = check_code_body()
    response = Client().post(
        MOUNT + ENDPOINTS["checkCode"],
        data=body,
        content_type="application/json",
        headers=signed_headers("checkCode", body),
    )
    assert response.status_code == 200
    assert json.loads(response.content)["code"] != 1005


# -- never in production ------------------------------------------------------------------------


def test_nothing_answers_with_debug_off_unless_allowed() -> None:
    settings = {**SANDBOX_SETTINGS, "SANDBOX_ALLOW_WITHOUT_DEBUG": False}
    body = check_code_body()
    with override_settings(NXWA_ONBOARDING=settings, DEBUG=False):
        assert Client().get(MOUNT + "/inbox/").status_code == 404
        response = Client().post(
            MOUNT + ENDPOINTS["checkCode"],
            data=body,
            content_type="application/json",
            headers=signed_headers("checkCode", body),
        )
        assert response.status_code == 404
    with override_settings(NXWA_ONBOARDING=settings, DEBUG=True):
        assert staff_browser().get(MOUNT + "/inbox/").status_code == 200


def test_the_system_check_refuses_the_sandbox_with_debug_off() -> None:
    settings = {**SANDBOX_SETTINGS, "SANDBOX_ALLOW_WITHOUT_DEBUG": False}
    with override_settings(NXWA_ONBOARDING=settings, DEBUG=False):
        (error,) = check_sandbox_debug()
        assert error.id == "nxwa_onboarding.E010"
        assert "SANDBOX_ALLOW_WITHOUT_DEBUG" in str(error.hint)
        assert "nxwa_onboarding.E010" in [m.id for m in run_checks()]
    with override_settings(NXWA_ONBOARDING=settings, DEBUG=True):
        assert check_sandbox_debug() == []
    with override_settings(DEBUG=False):
        assert check_sandbox_debug() == []  # explicitly allowed


def test_no_secret_or_code_in_the_sandbox_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    client = sandbox_client()
    client.get_code(PHONE)
    code = SandboxMessage.objects.get().code
    client.check_code(PHONE, code)
    with pytest.raises(NXCloudAuthError):
        sandbox_client(access_secret="wrong").get_code(PHONE)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert SECRET not in text
        assert code not in text
