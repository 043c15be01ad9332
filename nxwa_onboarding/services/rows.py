"""The rows ``sql.py`` reads, decoded into the fact objects the rules look at (no SQL here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .rules import CheckFacts, Scope, SendFacts


def from_db_datetime(value: Any) -> datetime | None:
    """A datetime as the ORM would return it (SQLite hands back text for computed columns)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value  # type: ignore[no-any-return]


CHECK_COLUMNS = 8
SEND_COLUMNS = 13


def check_facts(row: tuple[Any, ...], scope: Scope) -> CheckFacts:
    status, verified_at, code_id, code_at, used, pending, block_count, block_oldest = row
    counted = bool(scope.check_block)
    return CheckFacts(
        status=status,
        verified_at=from_db_datetime(verified_at),
        code_request_id=code_id,
        code_sent_at=from_db_datetime(code_at),
        attempts_on_code=used or 0,
        pending=pending or 0,
        ip_attempts=(block_count or 0) if counted else None,
        ip_oldest=from_db_datetime(block_oldest) if counted else None,
        address_missing=scope.address_missing,
    )


def send_facts(row: tuple[Any, ...], scope: Scope) -> SendFacts:
    (status, verified_at, today, oldest, last, last_call, pending) = row[:7]
    owner_sends, owner_oldest, block_sends, block_oldest, global_sends, global_oldest = row[7:]
    return SendFacts(
        status=status,
        verified_at=from_db_datetime(verified_at),
        sends_today=today or 0,
        oldest_today=from_db_datetime(oldest),
        last_send_at=from_db_datetime(last),
        last_call_at=from_db_datetime(last_call),
        pending=pending or 0,
        owner_sends=(owner_sends or 0) if scope.owner_id is not None else None,
        owner_oldest=from_db_datetime(owner_oldest),
        block_sends=(block_sends or 0) if scope.send_block else None,
        block_oldest=from_db_datetime(block_oldest),
        global_sends=global_sends or 0,
        global_oldest=from_db_datetime(global_oldest),
        address_missing=scope.address_missing,
        methods=scope.methods,
    )
