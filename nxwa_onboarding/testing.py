"""Test helpers for host projects: an NXCloud stand-in in front of the client.

Use the ``nxcloud`` pytest fixture (this module is a pytest plugin, registered through the
``pytest11`` entry point, so installing the package is enough) or the ``fake_nxcloud()``
context manager. Requests are intercepted with ``responses``, checked exactly as the sandbox
(and NXCloud) checks them -- headers (1001), bizType/action (1002), the signature over the exact
body (1003), the timestamp window (1004), the access key (1005), required fields (9000) -- and
answered by the sandbox's own business rules (``nxwa_onboarding.sandbox.engine``) with the state
kept in memory:

- getCode "sends" a fresh random code: read it with ``nxcloud.latest_code("8613800138000")``
  (or every code with ``nxcloud.codes_sent_to(...)``, newest first);
- checkCode accepts only the latest code (a wrong one answers ``wrong_code_result``, 9001 by
  default; set it to -1 to play the other answer NXCloud may give);
- createClient needs a verified number; each phoneList look then moves it 3 -> 4 -> 5
  (``set_register_status`` pins a number, e.g. to 2 for a failed registration);
- ``nxcloud.fail(action, ...)`` scripts the next calls to fail: with a result code, a read
  timeout, a refused connection, or a raw HTTP status and body (a 500 page);
- ``nxcloud.calls`` / ``nxcloud.calls_to(action)`` record what reached it, with the answer code;
- createApp keeps each application's webhook URL (``nxcloud.webhooks``); ``nxcloud.bind(number,
  app_key)`` ties a number to one (its phoneList then lists it, the default key's no longer);
- ``nxcloud.send_webhook(application, payload)`` POSTs a callback to the application's webhook
  as NXCloud does, signed with the fake's credentials (``signed=False``, ``ts_ms=``,
  ``raw=b"..."``, ``headers=`` to stage the other cases); ``nxcloud.simulate(application, "ban",
  number)`` sends one of ``sandbox.callbacks.SIMULATIONS``.

Example, in a host project's tests::

    def test_merchant_verifies(nxcloud, db):
        registration = services.start_registration("+86 138 0013 8000")
        code = nxcloud.latest_code(registration.phone_number)
        assert services.check_code(registration, code).outcome == "accepted"

    def test_nxcloud_down(nxcloud, db):
        nxcloud.fail("getCode", http_status=500, body="<html>Bad gateway</html>")
        registration = services.start_registration("+86 138 0013 8000")
        assert registration.code_requests.latest().outcome == "unknown"

The fake reads ``NXWA_ONBOARDING`` (ACCESS_KEY, ACCESS_SECRET, BASE_URL, APP_KEY) when the
fixture starts; for other values use ``with override_settings(...): with fake_nxcloud() as f:``.

Nothing here is imported at module level beyond the standard library and pytest: the plugin
is loaded before Django is configured, and ``responses`` is only needed when a test uses it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .conf import conf
from .nxcloud.client import ENDPOINTS
from .sandbox import callbacks, engine
from .sandbox.protocol import ACTION_BY_PATH, ProtocolError, check_request

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
    pinned: set[str] = field(default_factory=set)
    apps: dict[str, str] = field(default_factory=dict)
    webhooks: dict[str, str] = field(default_factory=dict)
    bound: dict[str, str] = field(default_factory=dict)

    # -- what a test reads ---------------------------------------------------------------------

    def latest_code(self, phone_number: str) -> str | None:
        """The newest code "sent" to ``phone_number`` (digits), or None."""
        codes = self.inbox.get(phone_number)
        return codes[-1].code if codes else None

    def codes_sent_to(self, phone_number: str) -> list[str]:
        """Every code "sent" to ``phone_number``, newest first."""
        return [sent.code for sent in reversed(self.inbox.get(phone_number, []))]

    def calls_to(self, action: str) -> list[Call]:
        """The requests that reached ``action`` (refused ones included), oldest first."""
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

        A scripted failure replaces the answer of a request that passed NXCloud's checks (a
        badly signed request still gets its 1003); a refused connection happens before any check.
        """
        if action not in ENDPOINTS:
            raise ValueError(f"unknown NXCloud action {action!r}; use one of {sorted(ENDPOINTS)}")
        failure = _Failure(
            code, message or f"sandbox failure {code}", http_status, body, timeout, connection_error
        )
        self.failures.setdefault(action, []).extend([failure] * times)

    def clear_failures(self) -> None:
        """Forget every failure scripted and not yet used."""
        self.failures.clear()

    def set_register_status(self, phone_number: str, status: int) -> None:
        """Pin the number's register_status (1 or 2: failed; 5: registered) for phoneList."""
        self.register_status[phone_number] = status
        self.pinned.add(phone_number)

    def bind(self, phone_number: str, app_key: str) -> None:
        """Tie the number to the application made by createApp with ``app_key`` ("" unbinds)."""
        self.bound[phone_number] = app_key

    def send_webhook(
        self,
        target: Any,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        signed: bool = True,
        ts_ms: int | None = None,
        headers: dict[str, str] | None = None,
        client: Any = None,
    ) -> Any:
        """POST a callback to ``target`` (an ``Application``, or its webhook URL or path) the way
        NXCloud does; returns the Django test client's response.

        The body is ``payload`` serialised compactly, or ``raw`` bytes as they are; it is signed
        over those bytes with this fake's access key and secret unless ``signed`` is False
        (``ts_ms`` sets the timestamp signed); ``headers`` are added or override (a forged sign).
        """
        from urllib.parse import urlsplit

        from django.test import Client

        url = getattr(target, "webhook_path", None) or str(target)
        body = raw if raw is not None else callbacks.body_of(payload)
        sent: dict[str, str] = {}
        if signed:
            sent = callbacks.signed_headers(
                body, access_key=self.access_key, access_secret=self.access_secret, ts_ms=ts_ms
            )
        sent.update(headers or {})
        return (client or Client()).post(
            urlsplit(url).path, data=body, content_type="application/json", headers=sent
        )

    def simulate(self, target: Any, simulation: str, phone_number: str, **kwargs: Any) -> Any:
        """``send_webhook`` of one of ``sandbox.callbacks.SIMULATIONS`` ("ban", "quality_downgrade",
        "reinstate", "name_approved", "name_rejected") for the number."""
        return self.send_webhook(target, callbacks.simulated(simulation, phone_number), **kwargs)

    # -- engine.SandboxState: the sandbox's rules, with the state in memory ---------------------

    def deliver_code(self, phone_number: str, code: str, method: str) -> None:
        self.inbox.setdefault(phone_number, []).append(SentCode(phone_number, code, method, time.time()))

    def mark_verified(self, phone_number: str) -> None:
        self.verified.add(phone_number)

    def is_verified(self, phone_number: str) -> bool:
        return phone_number in self.verified

    def start_client(self, phone_number: str) -> None:
        self.register_status.setdefault(phone_number, 3)

    def register_statuses(self, appkey: str) -> list[tuple[str, int]]:
        # A number bound to an application made by createApp is listed under its key only; the
        # others under any other key (the installation's own).
        mine = appkey if appkey in self.apps else ""
        listed = sorted(
            (number, status)
            for number, status in self.register_status.items()
            if self.bound.get(number, "") == mine
        )
        for number, status in listed:
            # Each look advances the number one step, as NXCloud's 3 -> 4 -> 5 does over time.
            if status >= 3 and number not in self.pinned:
                self.register_status[number] = min(status + 1, 5)
        return listed

    def create_app(self, app_name: str, webhook: str) -> dict[str, Any]:
        app_key = "sandbox-" + secrets.token_hex(12)
        self.apps[app_key] = app_name
        self.webhooks[app_key] = webhook
        return {"app_id": 1000 + len(self.apps), "app_name": app_name, "app_key": app_key}

    def accepts_app_key(self, appkey: str) -> bool:
        # Without a configured APP_KEY any key is accepted, unless the test made apps.
        if not self.app_key and not self.apps:
            return True
        return appkey == self.app_key or appkey in self.apps

    def handle(self, action: str, payload: dict[str, Any]) -> tuple[int, str, Any]:
        """NXCloud's answer ``(code, message, data)`` to a request that passed the checks."""
        return engine.handle(self, action, payload, wrong_code_result=self.wrong_code_result)

    def respond(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        """The ``responses`` callback: check like NXCloud, then answer (or fail as scripted)."""
        import requests as requests_lib
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        path = str(request.url)[len(self.base_url) :].split("?")[0]
        path_action = ACTION_BY_PATH.get(path)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        headers = dict(request.headers)
        failures = self.failures.get(path_action or "", [])
        if failures and failures[0].connection_error:
            failures.pop(0)
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
        # Only a request NXCloud accepted uses up a scripted failure.
        failure = failures.pop(0) if failures else None
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
