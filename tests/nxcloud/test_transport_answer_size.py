"""NXCloud's answer is read with a cap (``client.MAX_ANSWER_BYTES``, 5 MB): a larger one is a
``TransportError`` that may have reached NXCloud (``sent=True``), is not retried, and is never
loaded whole, whether or not it declares its length."""

from __future__ import annotations

import io
import json

import pytest

from harness.loopback import Behaviour, loopback
from nxwa_onboarding.nxcloud import client as client_module
from nxwa_onboarding.nxcloud.exceptions import TransportError
from nxwa_onboarding.nxcloud.transport import READ_CHUNK
from tests.helpers.wire import CODE, PHONE, captured, make_client, nxcloud_mock, open_client, url

LIMIT = client_module.MAX_ANSWER_BYTES
SUCCESS = b'{"code":0,"message":"success","data":null}'


def test_the_cap_is_five_megabytes() -> None:
    assert LIMIT == 5 * 1024 * 1024


class Endless(io.RawIOBase):
    """A body with no Content-Length that, for the client, never ends: it counts what was read
    of it (and stops at four times the cap, so that a client without one fails, not hangs)."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), 4 * LIMIT - self.read_bytes)
        buffer[:size] = b" " * size
        self.read_bytes += size
        return size


def test_an_endless_answer_is_cut_at_the_cap_and_never_held_whole() -> None:
    client = make_client()
    body = Endless()
    with nxcloud_mock() as rsps:
        rsps.post(url("checkCode"), body=io.BufferedReader(body), auto_calculate_content_length=False)
        with pytest.raises(TransportError) as info:
            client.check_code(PHONE, CODE)
        assert len(captured(rsps)) == 1  # not retried
    assert info.value.sent is True
    assert "answer too large" in info.value.reason
    assert info.value.http_status == 200
    assert LIMIT < body.read_bytes <= LIMIT + 2 * READ_CHUNK


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with loopback() as server, open_client(server.base_url) as client:
        server.push(Behaviour(kind="raw", body=SUCCESS + b" " * LIMIT))
        with pytest.raises(TransportError) as info:
            client.create_client(PHONE)
        assert len(server.calls("createClient")) == 1
    assert info.value.sent is True
    assert "answer too large" in info.value.reason


def test_an_answer_of_exactly_the_cap_is_read() -> None:
    with loopback() as server, open_client(server.base_url) as client:
        server.push(Behaviour(kind="raw", body=SUCCESS + b" " * (LIMIT - len(SUCCESS))))
        client.create_client(PHONE)  # no exception: code 0


def test_the_connection_is_still_reused_after_a_capped_read() -> None:
    with loopback() as server, open_client(server.base_url) as client:
        for _ in range(3):
            client.create_client(PHONE)
        assert len(server.connections) == 1


def test_a_phone_list_past_five_megabytes_is_read_whole() -> None:
    """An application's whole list (100,000 numbers are ~25 MB) may be larger than any other
    answer; it has its own, larger cap."""
    numbers = [{"display_phone_number": f"+86 138 {n:08d}", "register_status": 5} for n in range(120_000)]
    body = json.dumps({"code": 0, "message": "success", "data": numbers}).encode()
    assert len(body) > LIMIT
    with loopback() as server, open_client(server.base_url) as client:
        server.push(Behaviour(kind="raw", body=body))
        assert len(client.phone_list("app-key")) == 120_000
    assert client_module.answer_limit("phoneList") > len(body)
