"""What one callback says, read loosely from a body nobody vouches for (no models here).

NXCloud's two envelopes: account and number events (``{"field": ..., "value": {...}}``) and
message events (no ``field``: ``statuses[]`` or ``messages[]``). Anything else, or anything that
does not parse (not UTF-8, not JSON, too deep, not an object), is an ``Event`` with ``parsed``
False and the reason in ``detail``. Wrong types inside are read as absent, never raised.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from ..choices import AccountState
from ..phone import digits_only

MESSAGE_KIND = "message"
#: The fields whose events onboarding applies.
ACCOUNT, QUALITY, NAME = "account_update", "phone_number_quality_update", "phone_number_name_update"
#: How far ahead of our clock an event's own time may be (clocks differ). An event dated later
#: is taken as happening when it arrived: a far-future date would otherwise make every genuine
#: event after it "stale" and freeze the account's state.
MAX_FUTURE_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class Event:
    kind: str = ""
    event: str = ""
    phone_number: str = ""
    waba_id: str = ""
    occurred_at: datetime | None = None
    value: dict[str, Any] = field(default_factory=dict)
    parsed: bool = True
    detail: str = ""
    digest: str = ""

    @property
    def is_message(self) -> bool:
        return self.kind == MESSAGE_KIND


def text(value: Any, limit: int = 255) -> str:
    """A string from the payload, or "" for anything that is not a string or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value)[:limit]


def _when(value: Any) -> datetime | None:
    """Epoch seconds (or milliseconds) as a datetime, no later than now plus ``MAX_FUTURE_SKEW``
    (later: now); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = value / 1000 if value > 10**11 else value
    try:
        when = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    now = timezone.now()
    return now if when > now + MAX_FUTURE_SKEW else when


def unparseable(reason: str, raw_digest: str) -> Event:
    return Event(parsed=False, detail=reason, digest=raw_digest)


def parse(body: bytes, raw_digest: str) -> Event:
    """The event in ``body``; ``raw_digest`` (of the whole body) dedupes what cannot be read."""
    try:
        envelope = json.loads(body.decode("utf-8"))
        # The event itself, however it was spaced or ordered: a redelivery has a new ts and
        # sign, not a new body, but nothing says NXCloud serialises it the same way twice.
        digest = hashlib.sha256(
            json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode("utf-8", "replace")
        ).hexdigest()
    except UnicodeDecodeError:
        return unparseable("not UTF-8", raw_digest)
    except RecursionError:
        return unparseable("nested too deep", raw_digest)
    except ValueError:
        return unparseable("not JSON", raw_digest)
    if not isinstance(envelope, dict):
        return unparseable("not a JSON object", raw_digest)
    if "field" not in envelope:
        if isinstance(envelope.get("statuses"), list) or isinstance(envelope.get("messages"), list):
            return Event(kind=MESSAGE_KIND, digest=digest)
        return Event(detail="neither an account nor a message event", digest=digest)
    kind = envelope["field"]
    if not isinstance(kind, str) or not kind:
        return unparseable("field is not text", raw_digest)
    value = envelope.get("value")
    value = value if isinstance(value, dict) else {}
    phone = next(
        (
            digits
            for key in ("business_phone", "display_phone_number", "phone_number", "merchant_phone")
            for source in (value, envelope)
            if (digits := digits_only(text(source.get(key))))
        ),
        "",
    )
    return Event(
        kind=text(kind, 64),
        event=text(value.get("event") or value.get("decision"), 64).upper(),
        phone_number=phone[:20],
        waba_id=text(value.get("wabaId") or value.get("waba_id") or envelope.get("wabaId"), 64),
        occurred_at=_when(value.get("time", envelope.get("time"))),
        value=value,
        digest=digest,
    )


def account_state(event: Event) -> str:
    """The ``AccountState`` an ``account_update`` puts the account in ("" when it says none)."""
    ban = event.value.get("ban_info")
    ban_state = text(ban.get("waba_ban_state")).upper() if isinstance(ban, dict) else ""
    if event.event == "ACCOUNT_DELETED":
        return AccountState.DELETED
    if event.event == "REINSTATE" or ban_state == "REINSTATE":
        return AccountState.ACTIVE
    if ban_state == "SCHEDULE_FOR_DISABLE":
        return AccountState.BAN_SCHEDULED
    if ban_state == "DISABLE" or event.event == "DISABLED_UPDATE":
        return AccountState.BANNED
    if event.event == "ACCOUNT_RESTRICTION":
        return AccountState.RESTRICTED
    if event.event == "ACCOUNT_VIOLATION":
        return AccountState.WARNED
    return ""
