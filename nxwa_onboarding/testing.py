"""Test helpers for host projects: an NXCloud stand-in in front of the client.

Use the ``nxcloud`` pytest fixture (this module is a pytest plugin, registered through the
``pytest11`` entry point) or the ``fake_nxcloud()`` context manager. Requests are intercepted
with ``responses``, checked exactly as the sandbox (and NXCloud) checks them — headers,
timestamp window, access key, the signature over the exact body, required fields — and
answered from an in-memory NXCloud: getCode "sends" a random code you can read back with
``latest_code(phone)``, checkCode accepts only that code, createClient and phoneList move the
number to registered. Script failures with ``fail(action, ...)``.

Nothing here is imported at module level beyond the standard library and pytest: the plugin
is loaded before Django is configured, and ``responses`` is only needed when a test uses it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import requests
    import responses


@dataclass
class SentCode:
    phone_number: str
    code: str
    method: str
    sent_at: float


@dataclass
class _Failure:
    code: int | None = None
    message: str = ""
    http_status: int = 200
    body: str | None = None
    timeout: bool = False
    connection_error: bool = False


@dataclass
class Call:
    action: str
    payload: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    answer_code: int | None


@dataclass
class FakeNXCloud:
    """An in-memory NXCloud. Read ``calls``, ``inbox``; use ``latest_code`` and ``fail``."""

    base_url: str
    access_key: str
    access_secret: str
    app_key: str = ""
    inbox: dict[str, list[SentCode]] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)
    register_status: dict[str, int] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[_Failure]] = field(default_factory=dict)
    wrong_code_result: int = 9001

    # -- what a test reads ---------------------------------------------------------------------

    def latest_code(self, phone_number: str) -> str | None:
        """The newest code "sent" to ``phone_number`` (digits), or None."""
        codes = self.inbox.get(phone_number)
        return codes[-1].code if codes else None

    def calls_to(self, action: str) -> list[Call]:
        return [call for call in self.calls if call.action == action]

    # -- what a test scripts ---------------------------------------------------------------------

    def fail(
        self,
        action: str,
        code: int | None = None,
        *,
        message: str = "",
        times: int = 1,
        timeout: bool = False,
        connection_error: bool = False,
        http_status: int = 200,
        body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``action`` fail: with result ``code``, a read timeout
        (``timeout=True``: the request may have reached NXCloud), a refused connection
        (``connection_error=True``: it never left), or a raw ``http_status``/``body``.
        """
        failure = _Failure(
            code, message or f"sandbox failure {code}", http_status, body, timeout, connection_error
        )
        self.failures.setdefault(action, []).extend([failure] * times)

    def set_register_status(self, phone_number: str, status: int) -> None:
        self.register_status[phone_number] = status

    # -- NXCloud's behaviour ---------------------------------------------------------------------

    def handle(self, action: str, payload: dict[str, Any]) -> tuple[int, str, Any]:
        from .phone import format_phone

        phone = str(payload.get("phone_number", ""))
        if action == "login":
            return 0, "success", {"token": "sandbox-token-" + secrets.token_hex(8)}
        if action == "createApp":
            return 0, "success", {"app_id": 1000, "app_name": payload["app_name"], "app_key": "sandbox-app"}
        if action == "getCode":
            code = f"{secrets.randbelow(10**6):06d}"
            self.inbox.setdefault(phone, []).append(SentCode(phone, code, payload["method"], time.time()))
            return 0, "success", {}
        if action == "checkCode":
            if payload["code"] != self.latest_code(phone):
                return self.wrong_code_result, "Verification code is incorrect or expired", None
            self.verified.add(phone)
            return 0, "success", None
        if action == "createClient":
            if phone not in self.verified:
                return 9001, "The number has not been verified", None
            self.register_status.setdefault(phone, 3)
            return 0, "success", None
        if action in ("phoneList", "getPhone"):
            if self.app_key and payload["appkey"] != self.app_key:
                return 9008, "appkey does not exist", None
            numbers = []
            for number, status in sorted(self.register_status.items()):
                # Each look advances the number one step, as NXCloud's 3 -> 4 -> 5 does over time.
                self.register_status[number] = min(status + 1, 5) if status >= 3 else status
                numbers.append(
                    {
                        "display_phone_number": format_phone(number),
                        "quality_rating": "GREEN",
                        "verified_name": "Sandbox Merchant",
                        "name_status": "APPROVED",
                        "status": "CONNECTED" if status == 5 else "PENDING",
                        "current_limit": "TIER_1K" if status == 5 else "",
                        "code_verification_status": "VERIFIED",
                        "waba_id": "100000000000001",
                        "waba_name": "Sandbox WABA",
                        "register_status": status,
                    }
                )
            if action == "getPhone":
                return 0, "success", {n["display_phone_number"]: n for n in numbers}
            return 0, "success", numbers
        return 1002, "Parameter error", None  # pragma: no cover - every action is listed above

    def respond(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        """The ``responses`` callback: check like NXCloud, then answer (or fail as scripted)."""
        import requests as requests_lib
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        from .sandbox.protocol import ACTION_BY_PATH, ProtocolError, check_request

        path = str(request.url)[len(self.base_url) :].split("?")[0]
        path_action = ACTION_BY_PATH.get(path)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        headers = dict(request.headers)
        failures = self.failures.get(path_action or "", [])
        failure = failures.pop(0) if failures else None
        if failure is not None and failure.connection_error:
            self.calls.append(Call(path_action or "?", {}, headers, body, None))
            reason = NewConnectionError(None, "sandbox: connection refused")  # type: ignore[arg-type]
            raise requests_lib.ConnectionError(MaxRetryError(None, str(request.url), reason))  # type: ignore[arg-type]
        try:
            checked = check_request(
                path_action,
                headers,
                body,
                access_key=self.access_key,
                access_secret=self.access_secret,
                now_ms=int(time.time() * 1000),
            )
        except ProtocolError as err:
            self.calls.append(Call(path_action or "?", {}, headers, body, err.code))
            return 200, {}, json.dumps({"code": err.code, "message": err.message, "data": None})
        if failure is not None:
            self.calls.append(Call(checked.action, checked.payload, headers, body, failure.code))
            if failure.timeout:
                raise requests_lib.ReadTimeout("sandbox: read timed out")
            if failure.body is not None or failure.code is None:
                return failure.http_status, {}, failure.body or ""
            payload = {"code": failure.code, "message": failure.message, "data": None}
            return failure.http_status, {}, json.dumps(payload)
        code, message, data = self.handle(checked.action, checked.payload)
        self.calls.append(Call(checked.action, checked.payload, headers, body, code))
        return 200, {}, json.dumps({"code": code, "message": message, "data": data}, ensure_ascii=False)

    def install(self, mock: responses.RequestsMock) -> None:
        import re

        from .client import ENDPOINTS

        for path in ENDPOINTS.values():
            mock.add_callback(
                "POST", self.base_url + path, callback=self.respond, content_type="application/json"
            )
        # Anything else under the base URL is an unknown path: NXCloud says 1002.
        mock.add_callback(
            "POST",
            re.compile(re.escape(self.base_url) + r"/.*"),
            callback=self.respond,
            content_type="application/json",
        )


@contextmanager
def fake_nxcloud(
    *,
    access_key: str | None = None,
    access_secret: str | None = None,
    base_url: str | None = None,
    app_key: str | None = None,
) -> Iterator[FakeNXCloud]:
    """Put an in-memory NXCloud in front of the client for the duration of the block.

    Credentials and base URL default to the current ``NXWA_ONBOARDING`` settings, read on entry:
    apply ``override_settings`` before entering.
    """
    import responses as responses_lib

    from .conf import conf

    fake = FakeNXCloud(
        base_url=(base_url or conf.BASE_URL).rstrip("/"),
        access_key=access_key if access_key is not None else conf.ACCESS_KEY,
        access_secret=access_secret if access_secret is not None else conf.ACCESS_SECRET,
        app_key=app_key if app_key is not None else conf.APP_KEY,
    )
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


@pytest.fixture
def nxcloud() -> Iterator[FakeNXCloud]:
    """An in-memory NXCloud in front of the client (see ``fake_nxcloud``)."""
    with fake_nxcloud() as fake:
        yield fake
