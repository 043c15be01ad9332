"""How many rows of the app's tables a statement's real plan reads (PostgreSQL's EXPLAIN
ANALYZE): what the plan tests hold each hand-written or guard statement to."""

from __future__ import annotations

from typing import Any

from django.db import connection


def rows_read(text: str, params: dict[str, Any] | None = None) -> int:
    """Rows the plan read from ``nxwa_onboarding`` tables, those it filtered out included."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + text, params)
        (plan,) = cursor.fetchone()
    total = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal total
        if node.get("Relation Name", "").startswith("nxwa_onboarding"):
            total += node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
            total += node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return int(total)
