"""The client against a real HTTP server on 127.0.0.1 (tests/loopback.py): refused connections,
read timeouts, dropped connections, server errors and keep-alive, where ``responses`` cannot
tell the truth."""

from __future__ import annotations

import json
import time

import pytest

from harness.loopback import Behaviour, LoopbackNXCloud, closed_port, loopback, result
from nxwa_onboarding import __version__
from nxwa_onboarding.nxcloud.exceptions import NXCloudAuthError, TransportError
from tests.helpers.wire import (
    ACCESS_KEY,
    CODE,
    PHONE,
    Captured,
    Clock,
    assert_signed,
    envelope,
    open_client,
    recording_session,
    start_loopback_on,
)

# Short enough to keep the suite fast, long enough for a loaded CI machine to connect.
SHORT_TIMEOUT = (0.5, 0.3)


def received(server: LoopbackNXCloud) -> list[Captured]:
    return [Captured.from_received(request) for request in server.calls()]


def test_the_exact_signed_bytes_reach_the_server() -> None:
    with loopback() as server, open_client(server.base_url) as client:
        client.create_app("牛小信 Shop", "https://shop.example/hook")
        (request,) = received(server)
    assert request.url == "/api/wa/integrator/embedded/register/createApp"
    assert request.body == '{"app_name":"牛小信 Shop","webhook":"https://shop.example/hook"}'.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == str(len(request.body))
    assert request.headers["User-Agent"] == f"django-nxwa-onboarding/{__version__}"
    assert request.headers["accessKey"] == ACCESS_KEY
    assert request.headers["bizType"] == "2"
    assert request.headers["action"] == "createApp"
    assert_signed(request)


def test_login_sends_no_body() -> None:
    with loopback(default=result(0, data={"token": "tok"})) as server, open_client(server.base_url) as client:
        assert client.login() == "tok"
        (request,) = received(server)
    assert request.body == b""
    assert request.headers.get("Content-Length", "0") == "0"
    assert_signed(request)


# -- never connected: retried, re-signed ------------------------------------------------------


def test_connection_refused_is_retried_twice_re_signed_then_raised_unsent() -> None:
    slept: list[float] = []
    session, adapter = recording_session()
    base_url = f"http://127.0.0.1:{closed_port()}"
    with (
        open_client(base_url, session=session, clock=Clock(), sleep=slept.append) as client,
        pytest.raises(TransportError) as info,
    ):
        client.check_code(PHONE, CODE)
    assert info.value.sent is False
    assert info.value.action == "checkCode"
    assert len(adapter.sent) == 3
    assert len({request.headers["ts"] for request in adapter.sent}) == 3
    for request in adapter.sent:
        assert_signed(request)
        assert request.kwargs["timeout"] == (3.05, 10)
    assert len(slept) == 2


def test_refused_then_answered_succeeds() -> None:
    port = closed_port()
    servers: list[LoopbackNXCloud] = []

    def start_server_instead_of_sleeping(seconds: float) -> None:
        if not servers:
            servers.append(start_loopback_on(port))

    session, adapter = recording_session()
    try:
        with open_client(
            f"http://127.0.0.1:{port}", session=session, clock=Clock(), sleep=start_server_instead_of_sleeping
        ) as client:
            client.create_client(PHONE)
        (server,) = servers
        (request,) = received(server)
    finally:
        for server in servers:
            server.__exit__(None, None, None)
    assert len(adapter.sent) == 2  # refused once, then answered
    assert adapter.sent[0].headers["ts"] != adapter.sent[1].headers["ts"]
    assert request.headers["ts"] == adapter.sent[1].headers["ts"]
    assert_signed(request)


# -- maybe sent: never retried ----------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [
        pytest.param(Behaviour(kind="hang"), id="read-timeout"),
        pytest.param(Behaviour(kind="drop"), id="dropped"),
    ],
)
def test_read_timeout_and_dropped_connection_are_not_retried(behaviour: Behaviour) -> None:
    slept: list[float] = []
    with loopback(default=behaviour) as server:
        with open_client(server.base_url, timeout=SHORT_TIMEOUT, sleep=slept.append) as client:
            started = time.monotonic()
            with pytest.raises(TransportError) as info:
                client.check_code(PHONE, CODE)
            elapsed = time.monotonic() - started
        assert len(server.calls()) == 1
    assert info.value.sent is True
    assert info.value.http_status is None
    assert slept == []
    assert elapsed < 3


def test_server_error_page_is_not_retried() -> None:
    page = Behaviour(
        kind="raw", status=502, body=b"<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"
    )
    with loopback(default=page) as server, open_client(server.base_url) as client:
        with pytest.raises(TransportError) as info:
            client.get_code(PHONE)
        assert len(server.calls()) == 1
    assert info.value.sent is True
    assert info.value.http_status == 502


NOT_SUCCESS = [
    pytest.param(b"<!DOCTYPE html><html><body>maintenance</body></html>", id="html"),
    pytest.param(b'{"code": 0, "message": "su', id="truncated-json"),
    pytest.param(b'[{"code": 0}]', id="json-list"),
    pytest.param(b'{"code": "0"}', id="code-string"),
    pytest.param(b'{"code": true}', id="code-true"),
    pytest.param(b'{"code": 0.0}', id="code-float"),
    pytest.param(b'{"message": "success"}', id="code-missing"),
]


@pytest.mark.parametrize("content", NOT_SUCCESS)
def test_answers_that_are_never_success(content: bytes) -> None:
    with (
        loopback(default=Behaviour(kind="raw", body=content)) as server,
        open_client(server.base_url) as client,
    ):
        with pytest.raises(TransportError) as info:
            client.create_client(PHONE)
        assert len(server.calls()) == 1
    assert info.value.sent is True
    assert info.value.http_status == 200


def test_1004_is_re_signed_with_a_fresh_ts_on_the_wire() -> None:
    with loopback() as server, open_client(server.base_url, clock=Clock()) as client:
        server.push(result(1004), result(1004), result(0))
        with pytest.raises(NXCloudAuthError):
            client.check_code(PHONE, CODE)
        first, second = received(server)
    assert first.body == second.body
    assert first.headers["ts"] != second.headers["ts"]
    assert_signed(first)
    assert_signed(second)


# -- keep-alive -------------------------------------------------------------------------------


def test_fifty_sequential_calls_share_one_tcp_connection() -> None:
    number = {"display_phone_number": "8613800138000", "register_status": 5}
    answer = Behaviour(body=envelope(data=[number]))
    with loopback(default=answer) as server, open_client(server.base_url) as client:
        for _ in range(50):
            assert client.phone_list("app-key-1") == [number]
        requests_seen = received(server)
        assert len(server.connections) == 1
    assert len(requests_seen) == 50
    for request in requests_seen:
        assert json.loads(request.body) == {"appkey": "app-key-1"}
        assert_signed(request)
