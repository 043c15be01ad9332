"""Every row of every table, as text: to search for what must not be kept."""

from __future__ import annotations

from django.db import connection


def dump_database() -> str:
    parts = []
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608
            parts.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(parts)
