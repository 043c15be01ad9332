"""The client on the wire, with ``responses``: URL, headers and exact body bytes of every endpoint,
the sign recomputed from each captured request, result codes to exceptions, what is retried, and
answers that must never count as success."""

from __future__ import annotations

import json
import pickle
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from responses import matchers
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from nxwa_onboarding import __version__
from nxwa_onboarding.nxcloud.client import NXCloudClient, build_session, environment_matters
from nxwa_onboarding.nxcloud.exceptions import (
    NXCloudAuthError,
    NXCloudBusinessError,
    NXCloudConfigurationError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    OnboardingError,
    TransportError,
)
from tests.helpers.fuzz import examples
from tests.helpers.wire import (
    ACCESS_KEY,
    BASE_URL,
    CANARY_SECRET,
    CODE,
    PHONE,
    Captured,
    Clock,
    assert_signed,
    capture_raised,
    captured,
    envelope,
    exception_text,
    make_client,
    nxcloud_mock,
    url,
)

Call = Callable[[NXCloudClient], Any]


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


# One row per endpoint (getCode and getPhone twice): the call, its action, the exact bytes NXCloud
# must receive (None: no body at all), the answer's ``data`` and what the method returns.
ENDPOINTS = [
    pytest.param(lambda c: c.login(), "login", None, {"token": "tok-1"}, "tok-1", id="login"),
    pytest.param(
        lambda c: c.create_app("牛小信 Shop", "https://shop.example/hook?a=1&b=2"),
        "createApp",
        utf8('{"app_name":"牛小信 Shop","webhook":"https://shop.example/hook?a=1&b=2"}'),
        {"app_id": 1000, "app_name": "牛小信 Shop", "app_key": "k-1"},
        {"app_id": 1000, "app_name": "牛小信 Shop", "app_key": "k-1"},
        id="createApp",
    ),
    pytest.param(
        lambda c: c.get_code(PHONE),
        "getCode",
        utf8('{"phone_number":"8613800138000","method":"sms"}'),
        {},
        None,
        id="getCode-sms",
    ),
    pytest.param(
        lambda c: c.get_code(PHONE, "voice"),
        "getCode",
        utf8('{"phone_number":"8613800138000","method":"voice"}'),
        {},
        None,
        id="getCode-voice",
    ),
    pytest.param(
        lambda c: c.check_code(PHONE, CODE),
        "checkCode",
        utf8('{"phone_number":"8613800138000","code":"482913"}'),
        None,
        None,
        id="checkCode",
    ),
    pytest.param(
        lambda c: c.create_client(PHONE),
        "createClient",
        utf8('{"phone_number":"8613800138000"}'),
        None,
        None,
        id="createClient",
    ),
    pytest.param(
        lambda c: c.phone_list("app-key-1"),
        "phoneList",
        utf8('{"appkey":"app-key-1"}'),
        [{"display_phone_number": "+86 138 0013 8000", "register_status": 5}],
        [{"display_phone_number": "+86 138 0013 8000", "register_status": 5}],
        id="phoneList",
    ),
    pytest.param(
        lambda c: c.get_phone("app-key-1"),
        "getPhone",
        utf8('{"appkey":"app-key-1","messaging_product":"whatsapp"}'),
        {"8613800138000": {"status": "CONNECTED"}},
        {"8613800138000": {"status": "CONNECTED"}},
        id="getPhone",
    ),
    pytest.param(
        lambda c: c.get_phone("app-key-1", ["8613800138000", "8613900139000"]),
        "getPhone",
        utf8(
            '{"appkey":"app-key-1","messaging_product":"whatsapp",'
            '"business_phones":"8613800138000,8613900139000"}'
        ),
        {},
        {},
        id="getPhone-business_phones",
    ),
]


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
@pytest.mark.parametrize(("call", "action", "body", "data", "returned"), ENDPOINTS)
def test_endpoint_on_the_wire(
    call: Call, action: str, body: bytes | None, data: Any, returned: Any, algorithm: str
) -> None:
    client = make_client(algorithm=algorithm, clock=Clock(start=1_700_000_000.5))
    static_headers: dict[str, str | re.Pattern[str]] = {
        "accessKey": ACCESS_KEY,
        "action": action,
        "bizType": "2",
        "ts": re.compile(r"^\d{13}$"),
        "sign": re.compile(r"^[0-9a-f]+$"),
        "Content-Type": "application/json",
        "User-Agent": f"django-nxwa-onboarding/{__version__}",
    }
    with nxcloud_mock() as rsps:
        rsps.post(url(action), json=envelope(data=data), match=[matchers.header_matcher(static_headers)])
        assert call(client) == returned
        (request,) = captured(rsps)
        raw_body = rsps.calls[0].request.body

    assert request.url == url(action)  # NXCloud's paths, spelled out in tests/wire.py
    if body is None:
        assert raw_body is None  # login: no body at all, and none signed
    else:
        assert raw_body == body  # compact, UTF-8, no \u escapes: the bytes that were signed
    assert request.headers["ts"] == "1700000000500"
    if algorithm == "md5":
        assert "algorithm" not in request.headers
    else:
        assert request.headers["algorithm"] == "sha256"
        assert len(request.headers["sign"]) == 64
    assert_signed(request)
    assert request.kwargs["timeout"] == (3.05, 10)


def test_ts_is_the_current_time_in_milliseconds_and_fresh_for_every_send() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("createClient"), json=envelope())
        before = time.time()
        client.create_client(PHONE)
        time.sleep(0.005)
        client.create_client(PHONE)
        after = time.time()
        first, second = captured(rsps)
    for request in (first, second):
        assert len(request.headers["ts"]) == 13
        assert before * 1000 - 1 <= int(request.headers["ts"]) <= after * 1000 + 1
        assert_signed(request)
    assert int(second.headers["ts"]) > int(first.headers["ts"])
    assert first.headers["sign"] != second.headers["sign"]


def test_the_timeout_given_is_always_passed() -> None:
    client = make_client(timeout=(0.7, 4.5))
    with nxcloud_mock() as rsps:
        rsps.post(url("phoneList"), json=envelope(data=[]))
        client.phone_list("k")
        (request,) = captured(rsps)
    assert request.kwargs["timeout"] == (0.7, 4.5)


def test_one_session_reused_for_every_call() -> None:
    client = make_client()
    session = client.session
    with nxcloud_mock() as rsps:
        rsps.post(url("createClient"), json=envelope())
        client.create_client(PHONE)
        client.create_client(PHONE)
    assert client.session is session
    assert isinstance(session, requests.Session)
    assert session.headers["User-Agent"] == f"django-nxwa-onboarding/{__version__}"


def test_a_session_passed_in_is_used_and_still_sends_our_user_agent() -> None:
    session = requests.Session()
    client = make_client(session=session)
    assert client.session is session
    with nxcloud_mock() as rsps:
        rsps.post(url("createClient"), json=envelope())
        client.create_client(PHONE)
        (request,) = captured(rsps)
    assert request.headers["User-Agent"] == f"django-nxwa-onboarding/{__version__}"


def test_get_phone_passes_a_business_phones_string_through() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("getPhone"), json=envelope(data={}))
        client.get_phone("k", "8613800138000,8613900139000")
        (request,) = captured(rsps)
    assert json.loads(request.body)["business_phones"] == "8613800138000,8613900139000"


def test_get_code_refuses_an_unknown_method_before_sending() -> None:
    client = make_client()
    with nxcloud_mock(assert_all=False) as rsps:
        rsps.post(url("getCode"), json=envelope(data={}))
        with pytest.raises(ValueError, match="method"):
            client.get_code(PHONE, "email")
        assert not rsps.calls


def test_a_lone_surrogate_is_refused_before_sending_without_echoing_the_body() -> None:
    client = make_client()
    with nxcloud_mock(assert_all=False) as rsps:
        rsps.post(url("checkCode"), json=envelope())
        with pytest.raises(ValueError, match="UTF-8") as info:
            client.check_code(PHONE, CODE + "\ud800")
        assert not rsps.calls
    assert CODE not in exception_text(info.value)


# -- arbitrary Unicode ------------------------------------------------------------------------


@settings(max_examples=examples(200), deadline=None)
@given(app_name=st.text(), webhook=st.text(), phone=st.text(), code=st.text())
def test_arbitrary_unicode_fields_are_signed_over_the_bytes_received(
    app_name: str, webhook: str, phone: str, code: str
) -> None:
    client = make_client()
    sent = [{"app_name": app_name, "webhook": webhook}, {"phone_number": phone, "code": code}]
    with nxcloud_mock() as rsps:
        rsps.post(url("createApp"), json=envelope(data={}))
        rsps.post(url("checkCode"), json=envelope())
        client.create_app(app_name, webhook)
        client.check_code(phone, code)
        requests_seen = captured(rsps)
    for request, payload in zip(requests_seen, sent, strict=True):
        assert_signed(request)
        assert json.loads(request.body.decode("utf-8")) == payload
        # Serialised once, compact, no ASCII escaping (JSON still escapes control characters).
        assert request.body == json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# -- result codes -----------------------------------------------------------------------------

RESULT_CODES = [
    (-1, NXCloudBusinessError),
    (1001, NXCloudAuthError),
    (1002, NXCloudAuthError),
    (1003, NXCloudAuthError),
    (1004, NXCloudAuthError),
    (1005, NXCloudAuthError),
    (9000, NXCloudParameterError),
    (9001, NXCloudBusinessError),
    (9002, NXCloudBusinessError),
    (9006, NXCloudBusinessError),
    (9007, NXCloudNotIntegratorError),
    (9008, NXCloudBusinessError),
    (9009, NXCloudBusinessError),
    (9010, NXCloudBusinessError),
]


@pytest.mark.parametrize(("code", "error_class"), RESULT_CODES)
def test_result_code_to_exception(code: int, error_class: type[NXCloudError]) -> None:
    client = make_client()
    with nxcloud_mock(ordered=True, assert_all=False) as rsps:
        # The same answer twice, then nothing (a third request would end in a TransportError).
        rsps.post(url("createApp"), json=envelope(code, f"refused with {code}"))
        rsps.post(url("createApp"), json=envelope(code, f"refused with {code}"))
        error = capture_raised(lambda: client.create_app("Shop", "https://shop.example/hook"))
        assert len(rsps.calls) == (2 if code == 1004 else 1)  # only 1004 is retried, once
    assert type(error) is error_class
    assert isinstance(error, NXCloudError)
    assert isinstance(error, OnboardingError)
    assert (error.code, error.message, error.action, error.http_status) == (
        code,
        f"refused with {code}",
        "createApp",
        200,
    )
    assert str(code) in str(error)


def test_the_http_status_of_a_refusal_is_carried() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("phoneList"), json=envelope(1002, "bad action"), status=400)
        with pytest.raises(NXCloudAuthError) as info:
            client.phone_list("k")
    assert info.value.http_status == 400


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_with_a_result_code_is_still_a_transport_error(status: int) -> None:
    # Behind a 5xx the outcome is unknown, whatever the body says: never a clean refusal.
    client = make_client()
    with nxcloud_mock(assert_all=False) as rsps:
        rsps.post(url("checkCode"), json=envelope(9001, "refused"), status=status)
        with pytest.raises(TransportError) as info:
            client.check_code(PHONE, CODE)
        assert len(rsps.calls) == 1
    assert info.value.sent is True
    assert info.value.http_status == status


def test_a_missing_message_is_an_empty_string() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("getCode"), json={"code": 9001})
        with pytest.raises(NXCloudBusinessError) as info:
            client.get_code(PHONE)
    assert info.value.message == ""


def test_1004_is_retried_once_and_re_signed_with_a_fresh_ts() -> None:
    clock = Clock(step=1.25)
    client = make_client(clock=clock)
    with nxcloud_mock(ordered=True) as rsps:
        rsps.post(url("checkCode"), json=envelope(1004, "timestamp expired"))
        rsps.post(url("checkCode"), json=envelope())
        client.check_code(PHONE, CODE)
        first, second = captured(rsps)
    assert first.body == second.body
    assert int(second.headers["ts"]) - int(first.headers["ts"]) == 1250
    assert first.headers["sign"] != second.headers["sign"]
    assert_signed(first)
    assert_signed(second)


def test_1004_twice_is_raised() -> None:
    client = make_client(clock=Clock())
    with nxcloud_mock(ordered=True, assert_all=False) as rsps:
        for _ in range(3):
            rsps.post(url("checkCode"), json=envelope(1004, "timestamp expired"))
        rsps.post(url("checkCode"), json=envelope())
        with pytest.raises(NXCloudAuthError) as info:
            client.check_code(PHONE, CODE)
        sent = captured(rsps)
    assert info.value.code == 1004
    assert len(sent) == 2
    assert sent[0].headers["ts"] != sent[1].headers["ts"]


@pytest.mark.parametrize("code", [-1, 1003, 9001])
def test_other_refusals_are_never_retried(code: int) -> None:
    client = make_client()
    with nxcloud_mock(ordered=True, assert_all=False) as rsps:
        rsps.post(url("checkCode"), json=envelope(code, "no"))
        rsps.post(url("checkCode"), json=envelope())
        with pytest.raises(NXCloudError) as info:
            client.check_code(PHONE, CODE)
        assert len(rsps.calls) == 1
    assert info.value.code == code


# -- answers that are not success --------------------------------------------------------------

NOT_SUCCESS = [
    pytest.param(200, b"<html><body>502 Bad Gateway</body></html>", id="html"),
    pytest.param(200, b'{"code": 0, "message": "succ', id="truncated-json"),
    pytest.param(200, b'[{"code": 0}]', id="json-list"),
    pytest.param(200, b'{"code": "0", "message": "success"}', id="code-string"),
    pytest.param(200, b'{"code": true, "message": "success"}', id="code-true"),
    pytest.param(200, b'{"code": false, "message": "success"}', id="code-false"),
    pytest.param(200, b'{"code": 0.0, "message": "success"}', id="code-float"),
    pytest.param(200, b'{"message": "success", "data": {}}', id="code-missing"),
    pytest.param(200, b'{"code": null}', id="code-null"),
    pytest.param(200, b"0", id="bare-zero"),
    pytest.param(200, b"", id="empty"),
    pytest.param(200, b'{"code": 0, "message": "\xff\xfe"}', id="not-utf8"),
    pytest.param(500, b'{"code": 0, "message": "success"}', id="500-with-code-0"),
    pytest.param(502, b"<html>Bad Gateway</html>", id="502-html"),
    pytest.param(201, b'{"code": 0, "message": "success"}', id="201-with-code-0"),
    pytest.param(302, b'{"code": 0, "message": "success"}', id="302-with-code-0"),
]


@pytest.mark.parametrize(("status", "content"), NOT_SUCCESS)
def test_answers_that_are_never_success(status: int, content: bytes) -> None:
    client = make_client()
    with nxcloud_mock(assert_all=False) as rsps:
        rsps.post(
            url("createClient"),
            body=content,
            status=status,
            content_type="text/html",
            headers={"Location": BASE_URL + "/elsewhere"},
        )
        with pytest.raises(TransportError) as info:
            client.create_client(PHONE)
        assert len(rsps.calls) == 1  # not retried: the request reached NXCloud
    assert info.value.sent is True
    assert info.value.http_status == status
    assert info.value.action == "createClient"


def test_login_without_a_token_is_not_success() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("login"), json=envelope(data={"token": None}))
        with pytest.raises(TransportError, match="token"):
            client.login()


def test_phone_list_with_data_that_is_not_a_list_is_not_success() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("phoneList"), json=envelope(data={"display_phone_number": "+86"}))
        with pytest.raises(TransportError):
            client.phone_list("k")


def test_phone_list_with_null_data_is_empty() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("phoneList"), json=envelope(data=None))
        assert client.phone_list("k") == []


# -- network failures, classified (the real thing is in test_client_network.py) ---------------


def _refused() -> requests.ConnectionError:
    from urllib3.exceptions import NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def _dns_failure() -> requests.ConnectionError:
    reason = NameResolutionError("api2.nxcloud.com", None, socket.gaierror(-2, "Name or service not known"))  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


NEVER_CONNECTED = [
    pytest.param(_refused, id="refused"),
    pytest.param(_dns_failure, id="dns"),
    pytest.param(lambda: requests.ConnectTimeout("connect timeout"), id="connect-timeout"),
]
MAYBE_SENT = [
    pytest.param(lambda: requests.ReadTimeout("read timeout"), id="read-timeout"),
    pytest.param(
        lambda: requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())),
        id="dropped",
    ),
]


@pytest.mark.parametrize("failure", NEVER_CONNECTED)
def test_never_connected_is_retried_twice_then_raised_unsent(failure: Callable[[], Exception]) -> None:
    slept: list[float] = []
    client = make_client(clock=Clock(), sleep=slept.append)
    with nxcloud_mock(ordered=True) as rsps:
        for _ in range(3):
            rsps.post(url("getCode"), body=failure())
        with pytest.raises(TransportError) as info:
            client.get_code(PHONE)
        sent = captured(rsps)
    assert info.value.sent is False
    assert len(sent) == 3
    assert len({request.headers["ts"] for request in sent}) == 3
    for request in sent:
        assert_signed(request)
    assert len(slept) == 2
    assert all(0 < seconds <= 1 for seconds in slept)


@pytest.mark.parametrize("failure", NEVER_CONNECTED)
def test_never_connected_then_answered_succeeds(failure: Callable[[], Exception]) -> None:
    client = make_client(clock=Clock())
    with nxcloud_mock(ordered=True) as rsps:
        rsps.post(url("getCode"), body=failure())
        rsps.post(url("getCode"), json=envelope(data={}))
        client.get_code(PHONE)
        assert len(rsps.calls) == 2


@pytest.mark.parametrize("failure", MAYBE_SENT)
def test_maybe_sent_is_never_retried(failure: Callable[[], Exception]) -> None:
    slept: list[float] = []
    client = make_client(sleep=slept.append)
    with nxcloud_mock(ordered=True, assert_all=False) as rsps:
        rsps.post(url("checkCode"), body=failure())
        rsps.post(url("checkCode"), json=envelope())
        with pytest.raises(TransportError) as info:
            client.check_code(PHONE, CODE)
        assert len(rsps.calls) == 1
    assert info.value.sent is True
    assert slept == []


# -- configuration ----------------------------------------------------------------------------


@override_settings(
    NXWA_ONBOARDING={
        "ACCESS_KEY": "settings-key",
        "ACCESS_SECRET": CANARY_SECRET,
        "BASE_URL": "https://nxcloud.example/",
        "SIGN_ALGORITHM": "SHA256",
        "TIMEOUT": (1.5, 6),
    }
)
def test_from_settings_uses_the_settings() -> None:
    client = NXCloudClient.from_settings()
    assert client.access_key == "settings-key"
    assert client.timeout == (1.5, 6.0)
    with nxcloud_mock() as rsps:
        rsps.post("https://nxcloud.example/api/wa/integrator/embedded/register/phoneList", json=envelope())
        client.phone_list("k")
        (request,) = captured(rsps)
    assert request.headers["accessKey"] == "settings-key"
    assert request.headers["algorithm"] == "sha256"
    assert request.kwargs["timeout"] == (1.5, 6.0)
    assert_signed(request, CANARY_SECRET)


@override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "settings-key", "ACCESS_SECRET": CANARY_SECRET})
def test_from_settings_defaults() -> None:
    client = NXCloudClient.from_settings()
    assert client.base_url == "https://api2.nxcloud.com"
    assert client.algorithm == "md5"
    assert client.timeout == (3.05, 10.0)


@pytest.mark.parametrize(
    "configured",
    [
        {"ACCESS_SECRET": CANARY_SECRET},
        {"ACCESS_KEY": "", "ACCESS_SECRET": CANARY_SECRET},
        {"ACCESS_KEY": "settings-key"},
        {"ACCESS_KEY": "settings-key", "ACCESS_SECRET": CANARY_SECRET, "SIGN_ALGORITHM": "sha1"},
        {},
    ],
    ids=["no-key", "empty-key", "no-secret", "unknown-algorithm", "nothing"],
)
def test_from_settings_refuses_a_bad_configuration(configured: dict[str, Any]) -> None:
    with override_settings(NXWA_ONBOARDING=configured), pytest.raises(NXCloudConfigurationError) as info:
        NXCloudClient.from_settings()
    assert isinstance(info.value, ImproperlyConfigured)
    assert not isinstance(info.value, OnboardingError)
    assert CANARY_SECRET not in str(info.value)
    assert CANARY_SECRET not in repr(info.value)


def test_configuration_error_sits_outside_the_onboarding_base() -> None:
    assert issubclass(NXCloudConfigurationError, ImproperlyConfigured)
    assert not issubclass(NXCloudConfigurationError, OnboardingError)
    assert issubclass(TransportError, OnboardingError)
    assert issubclass(NXCloudError, OnboardingError)


def test_client_repr_does_not_show_the_secret() -> None:
    client = make_client()
    assert CANARY_SECRET not in repr(client)
    assert CANARY_SECRET not in str(client)
    assert ACCESS_KEY in repr(client)


def test_captured_refuses_a_str_body() -> None:
    # The helper itself: a str body would mean requests re-encoded text the client signed.
    request = requests.Request("POST", BASE_URL, data="{}").prepare()
    request.body = "{}"
    with pytest.raises(AssertionError):
        Captured.from_prepared(request)


@pytest.mark.parametrize(
    "error",
    [
        TransportError("getCode", "read timeout: no answer in time", sent=True),
        TransportError("getCode", "could not connect", sent=False, http_status=None),
        TransportError("getCode", "NXCloud answered with a server error", sent=True, http_status=502),
        NXCloudAuthError(1003, "bad sign", "checkCode", 200),
        NXCloudBusinessError(9001, "refused", "checkCode", 200),
    ],
    ids=repr,
)
def test_exceptions_survive_pickling(error: OnboardingError) -> None:
    # A task queue or a parallel test runner pickles exceptions on their way back.
    copied = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copied) is type(error)
    assert repr(copied) == repr(error)
    assert vars(copied) == vars(error)


def test_the_environment_is_read_per_call_only_when_it_says_something(tmp_path: Path) -> None:
    """``trust_env`` is decided once, when the session is made: off when the environment has no
    proxy, CA bundle or netrc for requests to read (no per-call lookup), on when it has."""
    home = str(tmp_path)
    assert not environment_matters({"PATH": "/usr/bin", "HOME": home}, home)
    assert environment_matters({"HTTPS_PROXY": "http://proxy.internal:3128"}, home)
    assert environment_matters({"no_proxy": "localhost"}, home)
    (tmp_path / ".netrc").write_text("machine api2.nxcloud.com login x password y\n")
    assert environment_matters({}, home)


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"REQUESTS_CA_BUNDLE": "/etc/ssl/ours.pem"},
        {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
        {"REQUESTS_CA_BUNDLE": "/etc/ssl/ours.pem", "CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
        {"REQUESTS_CA_BUNDLE": "/etc/ssl/ours.pem", "HTTPS_PROXY": "http://proxy.internal:3128"},
        {"no_proxy": "api2.nxcloud.com", "CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
    ],
)
def test_a_ca_bundle_alone_is_read_once_and_used_as_requests_would(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A CA bundle named in the environment (and nothing else requests reads there) is taken
    when the session is made, so no call walks the environment for proxies: the settings a call
    ends with are those requests' own environment lookup gives."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    url = "https://api2.nxcloud.com/api/wa/getCode"
    ours = build_session()
    assert ours.trust_env == any("proxy" in name.lower() for name in environment)
    plain = requests.Session()  # trust_env on: requests reads the environment on every call
    assert ours.merge_environment_settings(url, {}, None, None, None) == plain.merge_environment_settings(
        url, {}, None, None, None
    )


def test_a_proxy_in_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert build_session().trust_env
