"""The cursor the rule reads run on (``services.sql``): one that lets PostgreSQL keep them prepared."""

from __future__ import annotations

import sys
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


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
