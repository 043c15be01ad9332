"""The callbacks NXCloud POSTs to an application's webhook URL, built and signed the way the
API reference describes them, for the sandbox's inbox buttons and ``nxcloud.send_webhook``.

No Django here: the test helpers load before Django is configured.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..nxcloud.client import BIZ_TYPE
from ..nxcloud.signing import ALGORITHMS, SIGNED_HEADERS

WABA_ID = "100000000000001"
#: The simulations the inbox offers: name -> (what the button says, how the event is built).
SIMULATIONS = ("quality_downgrade", "ban", "reinstate", "name_approved", "name_rejected")


def account_event(phone_number: str, event: str, ban_state: str = "", **extra: Any) -> dict[str, Any]:
    """An ``account_update`` (``DISABLED_UPDATE`` with ``ban_state="DISABLE"`` is a ban)."""
    value: dict[str, Any] = {
        "event": event,
        "business_phone": phone_number,
        "time": int(time.time()),
        "wabaId": WABA_ID,
    }
    if ban_state:
        value["ban_info"] = {"waba_ban_state": ban_state, "waba_ban_date": time.strftime("%Y-%m-%d")}
    return {"field": "account_update", "value": {**value, **extra}}


def quality_event(
    phone_number: str, event: str = "DOWNGRADE", current_limit: str = "TIER_250"
) -> dict[str, Any]:
    """A ``phone_number_quality_update`` (a quality or messaging-limit change)."""
    return {
        "field": "phone_number_quality_update",
        "value": {
            "display_phone_number": phone_number,
            "event": event,
            "current_limit": current_limit,
            "time": int(time.time()),
        },
    }


def name_event(
    phone_number: str, decision: str, requested_name: str, rejection_reason: str = ""
) -> dict[str, Any]:
    """A ``phone_number_name_update``: NXCloud's (Meta's) decision on a display name."""
    return {
        "field": "phone_number_name_update",
        "value": {
            "display_phone_number": phone_number,
            "decision": decision,
            "requested_verified_name": requested_name,
            "rejection_reason": rejection_reason
            or ("NONE" if decision == "APPROVED" else "LESS_THAN_ONE_WORD"),
        },
    }


def simulated(name: str, phone_number: str) -> dict[str, Any]:
    """The payload of one of ``SIMULATIONS`` for a number."""
    if name == "quality_downgrade":
        return quality_event(phone_number, "DOWNGRADE", "TIER_250")
    if name == "ban":
        return account_event(phone_number, "DISABLED_UPDATE", "DISABLE")
    if name == "reinstate":
        return account_event(phone_number, "REINSTATE", "REINSTATE")
    if name == "name_approved":
        return name_event(phone_number, "APPROVED", "Sandbox Merchant")
    if name == "name_rejected":
        return name_event(phone_number, "REJECTED", "sandbox")
    raise ValueError(f"unknown simulation {name!r}; use one of {SIMULATIONS}")


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(
    body: bytes, *, access_key: str, access_secret: str, ts_ms: int | None = None, action: str = "callback"
) -> dict[str, str]:
    """The headers of a signed callback (NXCloud's lowercase names) over these exact bytes."""
    headers = {
        "accessKey": access_key,
        "action": action,
        "bizType": BIZ_TYPE,
        "ts": str(int(time.time() * 1000) if ts_ms is None else ts_ms),
    }
    # NXCloud's rule (``signing``), over the bytes themselves so a test can sign any body.
    signed = "&".join(f"{name}={headers[name]}" for name in sorted(SIGNED_HEADERS)).encode("utf-8")
    text = signed + (b"&body=" + body if body else b"") + b"&accessSecret=" + access_secret.encode("utf-8")
    sign = ALGORITHMS["md5"](text).hexdigest()
    return {
        "accesskey": headers["accessKey"],
        "action": action,
        "biztype": BIZ_TYPE,
        "ts": headers["ts"],
        "sign": str(sign),
    }
