"""NXCloud's business rules, shared by the sandbox views (state in the database) and the test
helpers' in-memory ``FakeNXCloud`` (state in dicts).

Requests reach ``handle`` only after ``protocol.check_request`` accepted them, so the payload
holds every required field as a non-empty string. Where the state lives is the ``SandboxState``
protocol's business; what NXCloud answers is decided here, once.

No Django import at module level: the test helpers load before Django is configured.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, Protocol

#: NXCloud's answer to a wrong or stale code. The API reference says it may be -1 or 9001;
#: the message never repeats the code.
WRONG_CODE_RESULT = 9001
WRONG_CODE_MESSAGE = "Verification code is incorrect or expired"
NOT_VERIFIED_MESSAGE = "The phone number has not been verified"
UNKNOWN_APPKEY_MESSAGE = "appkey does not exist"
INVALID_PHONE_MESSAGE = "Invalid phone number"
SUCCESS = "success"
CODE_DIGITS = 6
REGISTERED = 5


class SandboxState(Protocol):
    """Where a sandbox keeps what NXCloud would remember."""

    def deliver_code(self, phone_number: str, code: str, method: str) -> None:
        """Put ``code`` in the number's inbox (the sandbox's stand-in for the phone)."""

    def latest_code(self, phone_number: str) -> str | None:
        """The newest code delivered to the number, or None."""

    def mark_verified(self, phone_number: str) -> None: ...

    def is_verified(self, phone_number: str) -> bool: ...

    def start_client(self, phone_number: str) -> None:
        """Record createClient for the number (a second call changes nothing)."""

    def register_statuses(self, appkey: str) -> list[tuple[str, int]]:
        """The application's numbers with their register_status as of this look (a number bound
        to no application made by createApp is listed under the installation's own key)."""

    def create_app(self, app_name: str, webhook: str) -> dict[str, Any]: ...

    def accepts_app_key(self, appkey: str) -> bool: ...


def new_code() -> str:
    """A fresh random six-digit code, as WhatsApp sends."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def display_code(code: str) -> str:
    """``123456`` -> ``123-456``, the way WhatsApp shows it."""
    return f"{code[:3]}-{code[3:]}" if len(code) == CODE_DIGITS else code


def register_status_after(elapsed_seconds: float, steps: tuple[float, float]) -> int:
    """3 (creating) until ``steps[0]`` seconds after createClient, 4 (created) until ``steps[1]``,
    then 5 (registered)."""
    to_created, to_registered = steps
    if elapsed_seconds >= to_registered:
        return REGISTERED
    if elapsed_seconds >= to_created:
        return 4
    return 3


def number_object(phone_number: str, register_status: int) -> dict[str, Any]:
    """One entry of phoneList, shaped like NXCloud's (``display_phone_number`` with + and spaces)."""
    from ..phone import format_phone

    registered = register_status == REGISTERED
    return {
        "display_phone_number": format_phone(phone_number),
        "quality_rating": "GREEN",
        "verified_name": "Sandbox Merchant",
        "name_status": "APPROVED",
        "status": "CONNECTED" if registered else "PENDING",
        "current_limit": "TIER_1K" if registered else "",
        "code_verification_status": "VERIFIED",
        "waba_id": "100000000000001",
        "waba_name": "Sandbox WABA",
        "register_status": register_status,
    }


def _valid_phone(phone_number: str) -> bool:
    # Digits with the country code, as NXCloud wants them: E.164 allows at most 15.
    return phone_number.isascii() and phone_number.isdigit() and 8 <= len(phone_number) <= 15


def same_code(expected: str | None, given: str) -> bool:
    if expected is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def handle(
    state: SandboxState,
    action: str,
    payload: dict[str, Any],
    *,
    wrong_code_result: int = WRONG_CODE_RESULT,
) -> tuple[int, str, Any]:
    """Answer one checked request: ``(code, message, data)`` of NXCloud's envelope."""
    if action == "login":
        return 0, SUCCESS, {"token": "sandbox-token-" + secrets.token_hex(8)}
    if action == "createApp":
        return 0, SUCCESS, state.create_app(payload["app_name"], payload["webhook"])
    if action in ("phoneList", "getPhone"):
        if not state.accepts_app_key(payload["appkey"]):
            return 9008, UNKNOWN_APPKEY_MESSAGE, None
        numbers = [
            number_object(phone, status) for phone, status in state.register_statuses(payload["appkey"])
        ]
        if action == "phoneList":
            return 0, SUCCESS, numbers
        wanted = {
            "".join(ch for ch in item if ch.isdigit())
            for item in str(payload.get("business_phones") or "").split(",")
            if item.strip()
        }
        return (
            0,
            SUCCESS,
            {
                n["display_phone_number"]: n
                for n in numbers
                if not wanted or "".join(ch for ch in n["display_phone_number"] if ch.isdigit()) in wanted
            },
        )

    phone = payload["phone_number"]
    if not _valid_phone(phone):
        return 9001, INVALID_PHONE_MESSAGE, None
    if action == "getCode":
        state.deliver_code(phone, new_code(), payload["method"])
        return 0, SUCCESS, {}
    if action == "checkCode":
        if not same_code(state.latest_code(phone), payload["code"]):
            return wrong_code_result, WRONG_CODE_MESSAGE, None
        state.mark_verified(phone)
        return 0, SUCCESS, None
    if action == "createClient":
        if not state.is_verified(phone):
            return 9001, NOT_VERIFIED_MESSAGE, None
        state.start_client(phone)
        return 0, SUCCESS, None
    return 1002, "Parameter error: action", None
