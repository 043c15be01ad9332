"""Every hand-written SQL statement of the app, and why it is not the ORM.

The rules run on every code submission and status page; through the ORM, building their reads
took longer than answering them, so they are plain SELECTs built once per alias and variant, on a
cursor PostgreSQL may keep them prepared on (``server_binding_cursor``); each read's row is
decoded beside it (``check_facts``, ``send_facts``). Rows picked by id are written by
plain UPDATEs for the same reason: a call's finish, a sync's batch (``bulk_update`` built a CASE
per field and row, ~2 ms a row). The only module with ``noqa: S608``: only the models' names and
our outcome constants go into the text, every value is a parameter adapted by its field, on the
router's connection. ``tests/services/test_sql_equivalence.py`` proves on random rows that they
read and write what plain ORM code does.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..choices import AttemptOutcome, SendOutcome
from ..models import CallHold, CodeRequest, PhoneRegistration, VerificationAttempt
from ..models.holds import EVERYONE
from .rules import (
    CALLED_SENDS,
    CODE_BEARING_SENDS,
    COUNTED_ATTEMPTS,
    COUNTED_SENDS,
    IP_COUNTED_ATTEMPTS,
    CheckFacts,
    Holds,
    Limits,
    Scope,
    SendFacts,
)


def alias_for(model: type[Model]) -> str:  # the rules read where the router writes the rows
    return router.db_for_write(model)


def connection_for(alias: str) -> BaseDatabaseWrapper:
    return connections[alias]


def server_binding_cursor(connection: BaseDatabaseWrapper) -> Any | None:
    """A cursor whose statements PostgreSQL may keep prepared on the connection, or None.

    Django's PostgreSQL cursors bind parameters on the client (unless OPTIONS sets
    ``server_side_binding``), so every execution of a rule read was planned anew, and these
    statements, with their subqueries, take longer to plan than to run (a status page's read:
    2.9 ms planning, 0.4 ms running). On psycopg 3 this cursor binds on the server, so psycopg
    can prepare them: it does once a statement has run ``prepare_threshold`` times on the
    connection. Django sets that to None (never) unless the host's OPTIONS give a number, to
    keep connection poolers that cannot hold prepared statements working; the performance
    explanation (docs/explanation/performance.md) says when to give one. Same connection, same
    transaction, Django's wrapper (query logging, ``execute_wrapper``) around it. None elsewhere
    (psycopg 2, SQLite, the others): the caller takes Django's own cursor.
    ``tests/services/test_sql_equivalence.py`` runs the statements through it, prepared and not."""
    psycopg = sys.modules.get("psycopg") if connection.vendor == "postgresql" else None
    if psycopg is None:
        return None
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    if not isinstance(connection.connection, psycopg.Connection):
        return None
    with connection.wrap_database_errors:
        raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def cursor_for(connection: BaseDatabaseWrapper) -> Any:  # the rule reads' (server_binding_cursor)
    return server_binding_cursor(connection) or connection.cursor()


def column_of(model: type[Model], name: str) -> Field[Any, Any]:
    if not isinstance(field := model._meta.get_field(name), Field) or not field.column:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


def _sql_in(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` for our own outcome constants (never for input: those are parameters)."""
    if not all(re.fullmatch(r"[a-z_]+", value) for value in values):
        raise ValueError(f"not an outcome constant: {values!r}")
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


@functools.cache
def _names(alias: str) -> dict[str, str]:  # quoted names from the models (a custom db_table works)
    quote = connection_for(alias).ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return quote(str(column_of(model, name).column))

    return {
        "registrations": quote(PhoneRegistration._meta.db_table),
        "sends": quote(CodeRequest._meta.db_table),
        "attempts": quote(VerificationAttempt._meta.db_table),
        "id": quote("id"),
        "status": column(PhoneRegistration, "status"),
        "verified_at": column(PhoneRegistration, "verified_at"),
        "phone_number": column(PhoneRegistration, "phone_number"),
        "registration_id": column(VerificationAttempt, "registration"),
        "code_request_id": column(VerificationAttempt, "code_request"),
        "outcome": column(VerificationAttempt, "outcome"),
        "created_at": column(VerificationAttempt, "created_at"),
        "ip": column(VerificationAttempt, "ip"),
        "ip_block": column(VerificationAttempt, "ip_block"),
        "owner_id": column(PhoneRegistration, "owner"),
    }


def _current_code_select(n: dict[str, str]) -> str:
    """The registration's current code: its latest send that was (or may have been) delivered."""
    return (
        f"SELECT c.{n['id']} FROM {n['sends']} c WHERE c.{n['registration_id']} = %(registration)s"  # noqa: S608
        f" AND c.{n['outcome']} IN {_sql_in(CODE_BEARING_SENDS)}"
        f" ORDER BY c.{n['created_at']} DESC, c.{n['id']} DESC LIMIT 1"
    )


@functools.cache
def _check_sql(alias: str, with_block: bool, exclude: bool, holds: int = 0) -> str:
    """The registration's status, its current code and, as subqueries, the check rules' counts
    (the address block's counting no more rows than its limit needs); with ``holds`` scopes,
    the holds on the call too (``_held_column``)."""
    n = _names(alias)
    held = _held_column(alias, holds)
    not_mine = f" AND a.{n['id']} <> %(exclude)s" if exclude else ""
    block_rows = (
        f"FROM {n['attempts']} a WHERE a.{n['ip_block']} = %(block)s AND a.{n['created_at']} > %(hour_ago)s"
        f" AND a.{n['outcome']} IN {_sql_in(IP_COUNTED_ATTEMPTS)}{not_mine}"
    )
    block_columns = (
        f"(SELECT COUNT(*) FROM (SELECT 1 {block_rows} ORDER BY a.{n['created_at']} DESC"  # noqa: S608
        " LIMIT %(block_attempt_cap)s) capped), "
        f"(SELECT a.{n['created_at']} {block_rows} ORDER BY a.{n['created_at']} LIMIT 1)"
        if with_block
        else "0, NULL"
    )
    return (
        f"SELECT r.{n['status']}, r.{n['verified_at']}, cur.{n['id']}, cur.{n['created_at']}, "  # noqa: S608
        f"(SELECT COUNT(*) FROM {n['attempts']} a WHERE a.{n['registration_id']} = %(registration)s"
        f" AND a.{n['code_request_id']} = cur.{n['id']}"
        f" AND a.{n['outcome']} IN {_sql_in(COUNTED_ATTEMPTS)}{not_mine}), "
        f"(SELECT COUNT(*) FROM {n['attempts']} a WHERE a.{n['registration_id']} = %(registration)s"
        f" AND a.{n['outcome']} = '{AttemptOutcome.PENDING}'{not_mine}), "
        f"{block_columns}{held} "
        f"FROM {n['registrations']} r LEFT JOIN {n['sends']} cur"
        f" ON cur.{n['id']} = ({_current_code_select(n)}) "
        f"WHERE r.{n['id']} = %(registration)s"
    )


@functools.cache
def _send_sql(alias: str, with_owner: bool, with_block: bool, exclude: bool, holds: int = 0) -> str:
    """The registration's status; its number's sends today, its own last send and call and
    whether one is in flight; as subqueries, the calls the rules beyond the number count (the
    owner's today, the block's this hour, everyone's today), no more rows than their caps; with
    ``holds`` scopes, the holds on the call too (``_held_column``)."""
    n = _names(alias)
    held = _held_column(alias, holds)
    not_mine = f" AND c.{n['id']} <> %(exclude)s" if exclude else ""
    today = f"c.{n['outcome']} IN {_sql_in(COUNTED_SENDS)} AND c.{n['created_at']} > %(day_ago)s{not_mine}"
    mine = f"c.{n['registration_id']} = %(registration)s"
    called = f"c.{n['outcome']} IN {_sql_in(CALLED_SENDS)}{not_mine}"
    newest = f" ORDER BY c.{n['created_at']} DESC"
    # The number's sends and the registration's own apart (as one OR, every row was scanned).
    counts = (
        f"SELECT num.today, num.oldest, own.last_send, own.last_call, own.pending FROM "  # noqa: S608
        f"(SELECT COUNT(*) today, MIN(c.{n['created_at']}) oldest FROM {n['sends']} c"
        f" INNER JOIN {n['registrations']} r ON r.{n['id']} = c.{n['registration_id']}"
        f" WHERE r.{n['phone_number']} = %(phone)s AND {today}) num CROSS JOIN "
        f"(SELECT MAX(CASE WHEN c.{n['outcome']} IN {_sql_in(COUNTED_SENDS)}{not_mine}"
        f" THEN c.{n['created_at']} END) last_send, "
        f"MAX(CASE WHEN {called} THEN c.{n['created_at']} END) last_call, "
        f"COUNT(CASE WHEN c.{n['outcome']} = '{SendOutcome.PENDING}'{not_mine} THEN 1 END) pending "
        f"FROM {n['sends']} c WHERE {mine}) own"
    )

    def bounded(where: str, cap: str, by_time: str = "") -> str:
        """Count (to the cap) and oldest of the calls ``where`` picks; ``by_time``: by the time index."""
        rows = f"FROM {n['sends']} c {where} AND {called}"
        return (
            f"(SELECT COUNT(*) FROM (SELECT 1 {rows}{by_time} LIMIT %({cap})s) capped), "  # noqa: S608
            f"(SELECT c.{n['created_at']} {rows} ORDER BY c.{n['created_at']} LIMIT 1)"
        )

    of_owner = (
        f"INNER JOIN {n['registrations']} o ON o.{n['id']} = c.{n['registration_id']}"
        f" WHERE o.{n['owner_id']} = %(owner)s AND c.{n['created_at']} > %(day_ago)s"
    )
    owner = bounded(of_owner, "owner_cap") if with_owner else "NULL, NULL"
    in_block = f"WHERE c.{n['ip_block']} = %(block)s AND c.{n['created_at']} > %(hour_ago)s"
    block = bounded(in_block, "block_cap", newest) if with_block else "NULL, NULL"
    everyone = bounded(f"WHERE c.{n['created_at']} > %(day_ago)s", "global_cap", newest)
    return (
        f"SELECT r.{n['status']}, r.{n['verified_at']}, s.today, s.oldest, s.last_send, "  # noqa: S608
        f"s.last_call, s.pending, {owner}, {block}, {everyone}{held} "
        f"FROM {n['registrations']} r CROSS JOIN ({counts}) s WHERE r.{n['id']} = %(registration)s"
    )


@functools.cache
def _state_sql(alias: str, check_block: bool, with_owner: bool, send_block: bool) -> str:
    """Both rule reads side by side in one statement (one round trip for a status page)."""
    check = _check_sql(alias, check_block, False)
    send = _send_sql(alias, with_owner, send_block, False)
    return f"SELECT * FROM ({check}) chk CROSS JOIN ({send}) snd"  # noqa: S608


def _db_datetime(value: datetime, alias: str) -> Any:
    """``value`` as a parameter compared with ``created_at``, adapted as the ORM would."""
    return column_of(VerificationAttempt, "created_at").get_db_prep_value(value, connection_for(alias))


def _check_params(
    registration_pk: int, block: str, limits: Limits, now: datetime, exclude_pk: int | None, alias: str
) -> dict[str, Any]:
    params: dict[str, Any] = {"registration": registration_pk}
    if exclude_pk is not None:
        params["exclude"] = exclude_pk
    if block:
        hour_ago = _db_datetime(now - timedelta(hours=1), alias)
        params.update(block=block, block_attempt_cap=limits.max_attempts_per_ip_per_hour, hour_ago=hour_ago)
    return params


def _send_params(
    registration: PhoneRegistration,
    scope: Scope,
    limits: Limits,
    now: datetime,
    exclude_pk: int | None,
    alias: str,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "registration": registration.pk,
        "phone": registration.phone_number,
        "day_ago": _db_datetime(now - timedelta(days=1), alias),
        "global_cap": limits.max_sends_per_day_global,
    }
    if exclude_pk is not None:
        params["exclude"] = exclude_pk
    if scope.owner_id is not None:
        params.update(owner=scope.owner_id, owner_cap=limits.max_sends_per_owner_per_day)
    if scope.send_block:
        hour_ago = _db_datetime(now - timedelta(hours=1), alias)
        params.update(block=scope.send_block, block_cap=limits.max_sends_per_ip_per_hour, hour_ago=hour_ago)
    return params


def _fetch_row(alias: str, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    with cursor_for(connection_for(alias)) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise PhoneRegistration.DoesNotExist("PhoneRegistration matching query does not exist.")
    return tuple(row)


# -- the holds on calls (the failure budgets and the breaker) -------------------------------------


def _hold_names(alias: str) -> tuple[str, str, str]:
    quote = connection_for(alias).ops.quote_name
    return (
        quote(CallHold._meta.db_table),
        quote(str(column_of(CallHold, "scope").column)),
        quote(str(column_of(CallHold, "until").column)),
    )


@functools.lru_cache(maxsize=16)
def _holds_sql(alias: str, scopes: int) -> str:
    table, scope, until = _hold_names(alias)
    marks = ", ".join(f"%(scope{index})s" for index in range(scopes))
    return f"SELECT {scope}, {until} FROM {table} WHERE {scope} IN ({marks}) AND {until} > %(now)s"  # noqa: S608


def _held_column(alias: str, scopes: int) -> str:
    """One more column for a rule read ("" when ``scopes`` is 0): whether any hold is in force
    on the call (the breaker's, ``EVERYONE``, or one on the call's ``scopes``). Almost always
    none is, and then the call needs no read of its own; when one is, ``breaker.refusal`` reads
    which (``holds``). An EXISTS is the cheapest thing to plan beside the rules' subqueries.
    Fenced: the same decision as from ``holds()``'s rows alone
    (tests/services/test_sql_equivalence.py), saving a round trip on every recorded call."""
    if not scopes:
        return ""
    table, scope, until = _hold_names(alias)
    marks = ", ".join(f"%(hold{index})s" for index in range(scopes))
    return (
        f", EXISTS (SELECT 1 FROM {table} h WHERE h.{scope} IN (%(hold_everyone)s, {marks})"  # noqa: S608
        f" AND h.{until} > %(hold_now)s)"
    )


def _holds_params(scopes: Sequence[str], now: datetime, alias: str) -> dict[str, Any]:
    params: dict[str, Any] = {f"hold{index}": value for index, value in enumerate(scopes)}
    params["hold_everyone"] = EVERYONE
    params["hold_now"] = column_of(CallHold, "until").get_db_prep_value(now, connection_for(alias))
    return params


def _fold_holds(alias: str, scopes: Sequence[str], now: datetime, params: dict[str, Any]) -> int:
    """How many hold scopes a rule read looks at, their parameters added to ``params``: 0 when
    there are none or the holds live on another database (then they are read by themselves)."""
    if not scopes or alias_for(CallHold) != alias:
        return 0
    params.update(_holds_params(scopes, now, alias))
    return len(scopes)


def _holds_of(row: tuple[Any, ...]) -> Holds | None:
    """No holds when the rule read found none in force; None ("not read") when it found one."""
    (held,) = row
    return None if held else Holds()


def holds(scopes: Sequence[str], now: datetime) -> list[tuple[str, datetime]]:
    """The holds in force at ``now`` on any of ``scopes``: ``(scope, until)``. Fenced: the same
    rows as ``CallHold.objects.filter(scope__in=scopes, until__gt=now)`` (held equal by
    tests/services/test_sql_equivalence.py), read on every recorded call, where the ORM's
    building of the query cost about half a millisecond more than the query itself."""
    alias = alias_for(CallHold)
    params: dict[str, Any] = {f"scope{index}": value for index, value in enumerate(scopes)}
    params["now"] = column_of(CallHold, "until").get_db_prep_value(now, connection_for(alias))
    with cursor_for(connection_for(alias)) as cursor:
        cursor.execute(_holds_sql(alias, len(scopes)), params)
        found = cursor.fetchall()
    return [(scope, until) for scope, until in ((row[0], from_db_datetime(row[1])) for row in found) if until]


# -- the rule reads' rows, decoded into the facts the rules look at ------------------------------


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


def read_check_facts(
    reg: PhoneRegistration,
    scope: Scope,
    limits: Limits,
    now: datetime,
    *,
    exclude_pk: int | None = None,
    holds_on: Sequence[str] = (),
) -> CheckFacts:
    """One SELECT: what the check rules need. ``exclude_pk``: the caller's own pending attempt;
    ``holds_on``: a recorded call's hold scopes (besides the breaker's): the same statement
    looks whether any hold is in force on them, and ``facts.holds`` is ``Holds()`` when none is
    (None, "not read", when one is or the holds live on another database)."""
    alias = alias_for(VerificationAttempt)
    params = _check_params(reg.pk, scope.check_block, limits, now, exclude_pk, alias)
    holds = _fold_holds(alias, holds_on, now, params)
    sql = _check_sql(alias, bool(scope.check_block), exclude_pk is not None, holds)
    row = _fetch_row(alias, sql, params)
    facts = check_facts(row[:CHECK_COLUMNS], scope)
    return replace(facts, holds=_holds_of(row[CHECK_COLUMNS:])) if holds else facts


def read_send_facts(
    reg: PhoneRegistration,
    scope: Scope,
    limits: Limits,
    now: datetime,
    *,
    exclude_pk: int | None = None,
    holds_on: Sequence[str] = (),
) -> SendFacts:
    """One SELECT: what the send rules need. ``exclude_pk``: the caller's own pending send;
    ``holds_on``: as ``read_check_facts``'s."""
    alias = alias_for(CodeRequest)
    params = _send_params(reg, scope, limits, now, exclude_pk, alias)
    holds = _fold_holds(alias, holds_on, now, params)
    sql = _send_sql(alias, scope.owner_id is not None, bool(scope.send_block), exclude_pk is not None, holds)
    row = _fetch_row(alias, sql, params)
    facts = send_facts(row[:SEND_COLUMNS], scope)
    return replace(facts, holds=_holds_of(row[SEND_COLUMNS:])) if holds else facts


def read_state_facts(
    registration: PhoneRegistration, scope: Scope, limits: Limits, now: datetime
) -> tuple[CheckFacts, SendFacts]:
    """One SELECT: the facts of both rule sets (a status page's single round trip)."""
    alias = alias_for(VerificationAttempt)
    params = {
        **_check_params(registration.pk, scope.check_block, limits, now, None, alias),
        **_send_params(registration, scope, limits, now, None, alias),
    }
    sql = _state_sql(alias, bool(scope.check_block), scope.owner_id is not None, bool(scope.send_block))
    row, split = _fetch_row(alias, sql, params), CHECK_COLUMNS
    return check_facts(row[:split], scope), send_facts(row[split:], scope)


def serialise(*, owner_id: int | None, block: str) -> None:
    """In the write-ahead transaction on PostgreSQL, wait for any other one counting the same owner
    or block (advisory locks, released at commit, in one order); SQLite serialises writes itself."""
    connection = connection_for(alias_for(CodeRequest))
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in _lock_key(owner_id=owner_id, block=block):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


@functools.cache
def _current_code_sql(alias: str, locked: bool) -> str:
    select = _current_code_select(_names(alias)).replace("%(registration)s", "%s")
    if not locked:
        return select
    # The per-address lock rides on the same statement (a round trip fewer on every check): the
    # one-row outer side of the LEFT JOIN is always evaluated, so the lock is held from this INSERT
    # to the commit, and the rules' SELECT after it sees every attempt of the lock's last holder.
    # ``serialise`` is the plain version; tests/crosscutting/test_concurrency.py holds both.
    return (
        f"SELECT cur.id FROM (SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))) held "  # noqa: S608
        f"LEFT JOIN LATERAL ({select}) cur ON TRUE"
    )


def current_code_expression(registration_pk: int, *, lock_block: str = "") -> RawSQL:
    """The current code's id as a subquery in a pending attempt's INSERT (no extra round trip);
    ``lock_block``: on PostgreSQL, the block's advisory lock in that statement too (``serialise``)."""
    alias = alias_for(VerificationAttempt)
    if lock_block and connection_for(alias).vendor == "postgresql":
        sql = _current_code_sql(alias, True)
        return RawSQL(sql, (_lock_key(owner_id=None, block=lock_block)[0], registration_pk))  # noqa: S611
    return RawSQL(_current_code_sql(alias, False), (registration_pk,))  # noqa: S611


def _lock_key(*, owner_id: int | None, block: str) -> list[str]:
    owner = [f"nxwa_onboarding:owner:{owner_id}"] if owner_id is not None else []
    return owner + ([f"nxwa_onboarding:block:{block}"] if block else [])


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...], where: str, alias: str) -> str:
    quote = connection_for(alias).ops.quote_name
    assignments = ", ".join(f"{quote(str(column_of(model, name).column))} = %s" for name in names)
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s AND {where}"  # noqa: S608


def update_row(model: type[Model], pk: int, values: dict[str, Any], *, where: str) -> int:
    """``model.objects.filter(pk=pk, <where>).update(**values)``, each value adapted by its field
    as ``update()`` would; ``where`` is a fixed condition of ours. Rows changed (0 or 1)."""
    alias = alias_for(model)
    connection = connection_for(alias)
    params = [column_of(model, name).get_db_prep_save(value, connection) for name, value in values.items()]
    with cursor_for(connection) as cursor:
        cursor.execute(_update_sql(model, tuple(values), where, alias), [*params, pk])
        return int(cursor.rowcount)


@functools.lru_cache(maxsize=16)  # a full batch's text, and the last (shorter) ones of recent syncs
def _update_many_sql(model: type[Model], names: tuple[str, ...], count: int, alias: str) -> str:
    """``UPDATE t SET a = v.a FROM (VALUES (id, a), ...) v WHERE t.id = v.id``; PostgreSQL casts the
    values to the columns' types (as ``bulk_update`` casts its CASE), SQLite names them column1..."""
    connection = connection_for(alias)
    quote, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.pk, *(column_of(model, name) for name in names)]
    postgres = connection.vendor == "postgresql"
    slots = ", ".join(f"%s::{f.db_type(connection)}" if postgres else "%s" for f in fields)
    named = [quote(str(f.column)) if postgres else f"column{n + 1}" for n, f in enumerate(fields)]
    source = f"AS v({', '.join(named)})" if postgres else "AS v"
    sets = ", ".join(
        f"{quote(str(f.column))} = v.{ref}" for f, ref in zip(fields[1:], named[1:], strict=True)
    )
    values = ", ".join([f"({slots})"] * count)
    pk = quote(str(fields[0].column))
    return f"UPDATE {table} SET {sets} FROM (VALUES {values}) {source} WHERE {table}.{pk} = v.{named[0]}"  # noqa: S608


def update_many(model: type[Model], objs: Sequence[Model], names: tuple[str, ...]) -> bool:
    """``bulk_update(objs, names)`` in one statement on PostgreSQL and SQLite; False on another
    database, which nothing was written to (the caller uses ``bulk_update``)."""
    alias = alias_for(model)
    connection = connection_for(alias)
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    fields = [column_of(model, name) for name in names]
    params = [
        p
        for r in objs
        for p in (r.pk, *(f.get_db_prep_save(getattr(r, f.attname), connection) for f in fields))
    ]
    if objs:
        with cursor_for(connection) as cursor:
            cursor.execute(_update_many_sql(model, names, len(objs), alias), params)
    return True


#: Exact up to the limit, else the planner's estimate (pg_class, scaled as it does), else exact.
_COUNT_OR_ESTIMATE = """
SELECT CASE WHEN bounded.n <= %s THEN bounded.n
            WHEN planner.estimate IS NOT NULL THEN GREATEST(planner.estimate, bounded.n)
            ELSE (SELECT COUNT(*) FROM {table}) END,
       bounded.n > %s AND planner.estimate IS NOT NULL
FROM (SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} LIMIT %s) AS first_rows) AS bounded
LEFT JOIN (SELECT (c.reltuples / c.relpages
                   * (pg_relation_size(c.oid) / current_setting('block_size')::integer))::bigint AS estimate
           FROM pg_class c WHERE c.oid = to_regclass(%s) AND c.relpages > 0 AND c.reltuples > 0
) AS planner ON TRUE
"""


def count_or_estimate(model: type[Model], alias: str, exact_up_to: int) -> tuple[int, bool] | None:
    """``(count, False)`` exactly up to ``exact_up_to``, past it ``(estimate, True)`` from the
    planner's statistics; None off PostgreSQL (the caller counts with the ORM). One statement."""
    connection = connection_for(alias)
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            _COUNT_OR_ESTIMATE.format(table=table), [exact_up_to, exact_up_to, exact_up_to + 1, table]
        )
        count, estimated = cursor.fetchone()
    return int(count), bool(estimated)
