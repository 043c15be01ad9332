"""The app's hand-written SQL over rows picked by id, and the audit lists' count.

The other half of the SQL fence (``sql.py`` holds the rules' statements): finishing a call's
row in one plain UPDATE, a sync's batch of rows in one ``UPDATE ... FROM (VALUES ...)`` (Django's
``bulk_update`` builds a CASE per field and row: about 2 ms a row at an application's scale),
and the admin's count that stops counting. Names come from the models, values are parameters
adapted by their fields as the ORM would. ``tests/services/test_sql_equivalence.py`` holds the
count to the ORM's, ``tests/services/test_sql_rows.py`` the batch to ``bulk_update``'s result.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db.models import Model

from .sql import alias_for, column_of, connection_for, cursor_for


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...], where: str, alias: str) -> str:
    quote = connection_for(alias).ops.quote_name
    assignments = ", ".join(f"{quote(str(column_of(model, name).column))} = %s" for name in names)
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s AND {where}"  # noqa: S608


def update_row(model: type[Model], pk: int, values: dict[str, Any], *, where: str) -> int:
    """``model.objects.filter(pk=pk, <where>).update(**values)`` without the ORM's per-call query
    building. Each value is adapted by its field exactly as ``update()`` would; ``where`` is a
    fixed SQL condition of ours, never input. Returns the number of rows changed (0 or 1)."""
    alias = alias_for(model)
    connection = connection_for(alias)
    names = tuple(values)
    params = [column_of(model, name).get_db_prep_save(value, connection) for name, value in values.items()]
    with cursor_for(connection) as cursor:
        cursor.execute(_update_sql(model, names, where, alias), [*params, pk])
        return int(cursor.rowcount)


@functools.lru_cache(maxsize=16)  # a full batch's text, and the last (shorter) ones of recent syncs
def _update_many_sql(model: type[Model], names: tuple[str, ...], count: int, alias: str) -> str:
    """``UPDATE t SET a = v.a ... FROM (VALUES (id, a, ...), ...) v WHERE t.id = v.id``. On
    PostgreSQL the values are cast to the columns' types, as ``bulk_update`` casts its CASE (so
    a value too long for its column is cut as there; the sync cuts its values first) and named;
    SQLite names them column1..."""
    connection = connection_for(alias)
    quote, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.pk, *(column_of(model, name) for name in names)]
    if connection.vendor == "postgresql":
        slots = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
        named = [quote(str(f.column)) for f in fields]
        source = f"AS v({', '.join(named)})"
    else:
        slots, named, source = (
            ", ".join(["%s"] * len(fields)),
            [f"column{n + 1}" for n in range(len(fields))],
            "AS v",
        )
    sets = ", ".join(
        f"{quote(str(f.column))} = v.{ref}" for f, ref in zip(fields[1:], named[1:], strict=True)
    )
    values = ", ".join([f"({slots})"] * count)
    pk = quote(str(fields[0].column))
    return f"UPDATE {table} SET {sets} FROM (VALUES {values}) {source} WHERE {table}.{pk} = v.{named[0]}"  # noqa: S608


def update_many(model: type[Model], rows: Sequence[Model], names: tuple[str, ...]) -> bool:
    """``bulk_update(rows, names)`` in one ``UPDATE ... FROM (VALUES ...)`` (PostgreSQL,
    SQLite): Django's CASE per field and row cost ~2 ms a row to build. False on another
    database, which nothing was written to (the caller uses ``bulk_update``)."""
    alias = alias_for(model)
    connection = connection_for(alias)
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    if not rows:
        return True
    fields = [column_of(model, name) for name in names]
    params = [
        p
        for r in rows
        for p in (r.pk, *(f.get_db_prep_save(getattr(r, f.attname), connection) for f in fields))
    ]
    with cursor_for(connection) as cursor:
        cursor.execute(_update_many_sql(model, names, len(rows), alias), params)
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
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        sql = _COUNT_OR_ESTIMATE.format(table=table)
        cursor.execute(sql, [exact_up_to, exact_up_to, exact_up_to + 1, table])
        count, estimated = cursor.fetchone()
    return int(count), bool(estimated)
