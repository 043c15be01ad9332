"""How NXCloud checks a request, for the sandbox and the test helpers (no Django models here).

``check_request`` refuses a request exactly as the API reference says NXCloud does: missing
headers (1001), wrong bizType/action or a malformed body (1002), an unknown access key (1005),
a timestamp outside ±60 s (1004), a signature that does not match the exact received body
(1003), and missing body fields (9000).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..nxcloud.client import BIZ_TYPE, ENDPOINTS
from ..nxcloud.signing import ALGORITHMS, verify_sign

REQUIRED_HEADERS = ("accessKey", "ts", "bizType", "action", "sign")
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "login": (),
    "createApp": ("app_name", "webhook"),
    "getCode": ("phone_number", "method"),
    "checkCode": ("phone_number", "code"),
    "createClient": ("phone_number",),
    "phoneList": ("appkey",),
    "getPhone": ("appkey", "messaging_product"),
}
ACTION_BY_PATH = {path: action for action, path in ENDPOINTS.items()}
TS_WINDOW_MS = 60_000


class ProtocolError(Exception):
    """NXCloud would answer ``{"code": code, "message": message}``."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(code, message)


@dataclass(frozen=True)
class CheckedRequest:
    action: str
    payload: dict[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive; WSGI and requests spell them differently.
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def check_request(
    path_action: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    access_secret: str,
    now_ms: int,
) -> CheckedRequest:
    """Validate one request; return its action and payload or raise ``ProtocolError``.

    ``path_action`` is the action the URL names (None for an unknown path).
    """
    values = {name: _header(headers, name) for name in REQUIRED_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ProtocolError(1001, f"Missing common parameters: {', '.join(missing)}")
    action = str(values["action"])
    if values["bizType"] != BIZ_TYPE or path_action is None or action != path_action:
        raise ProtocolError(1002, "Parameter error: bizType or action")
    if values["accessKey"] != access_key:
        raise ProtocolError(1005, "Insufficient permissions")
    ts = str(values["ts"])
    if not (ts.isascii() and ts.isdigit()) or abs(int(ts) - now_ms) > TS_WINDOW_MS:
        raise ProtocolError(1004, "Timestamp has expired")
    algorithm = (_header(headers, "algorithm") or "md5").lower()
    if algorithm not in ALGORITHMS:
        raise ProtocolError(1002, "Parameter error: algorithm")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(1002, "Parameter error: body is not UTF-8") from None
    signed = {name: str(values[name]) for name in ("accessKey", "action", "bizType", "ts")}
    if not verify_sign(signed, text, access_secret, str(values["sign"]), algorithm):
        raise ProtocolError(1003, "Invalid signature")
    payload: Any = {}
    if text:
        try:
            payload = json.loads(text)
        except ValueError:
            raise ProtocolError(1002, "Parameter error: body is not JSON") from None
        if not isinstance(payload, dict):
            raise ProtocolError(1002, "Parameter error: body is not a JSON object")
    for name in REQUIRED_FIELDS[action]:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise ProtocolError(9000, f"Missing required parameter: {name}")
    if action == "getCode" and payload["method"] not in ("sms", "voice"):
        raise ProtocolError(9000, "method must be sms or voice")
    return CheckedRequest(action, payload)
