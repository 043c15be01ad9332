"""The peers' table, as ``make bench`` prints it (and benchmarks/RESULTS.md holds it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.peers.bench import KINDS, SUBJECTS


def render_peers(result: dict[str, Any], add: Callable[[str], None]) -> None:
    if "skipped" in result:
        add(f"### Peers: skipped ({result['skipped']})")
        add("")
        return
    add(
        f"### Peers: this app, django-allauth's phone verification and a hand-written view "
        f"(one row, one signed checkCode call): gunicorn ({result['workers']} sync workers), "
        f"{result['threads']} client threads, {result['rounds']} shuffled rounds of "
        f"{result['seconds']:g} s"
    )
    add("")
    add(
        "RPS: median (min-max) over the rounds. CPU per request: gunicorn workers + PostgreSQL "
        f"backends, ms, median over the rounds ({result['cpu_source']}). Ratio: this app's RPS "
        "over the peer's, per round, median (min-max); CPU ratio: this app's CPU per request over "
        "the peer's."
    )
    add("")
    add(
        "| request | side | RPS | CPU/request (workers + PostgreSQL) | RPS ratio ours/peer "
        "| CPU ratio ours/peer |"
    )
    add("|---|---|---|---|---|---|")
    rows, ratios = result["rows"], result["ratios"]
    for kind in KINDS:
        for subject in SUBJECTS:
            row = rows[f"{subject} / {kind}"]
            rps = row["rps"]
            cpu = f"{row['workers_cpu_ms']:.2f} + {row['postgres_cpu_ms']:.2f} ms"
            against = ratios.get(f"{kind} vs {subject}")
            ratio = cpu_ratio = ""
            if against:
                r = against["rps_ratio"]
                ratio = f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"
                cpu_ratio = f"{against['cpu_ratio']:.2f}x" if against["cpu_ratio"] is not None else "-"
            add(
                f"| {kind} | {subject} | {rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f}) | "
                f"{cpu} | {ratio} | {cpu_ratio} |"
            )
    add("")
    ceiling = result["client_ceiling"]
    light, heavy = rows["trivial view / light client"], rows["trivial view / requests client"]
    add(
        f"Load generators on the trivial view (their ceiling, same run): light (http.client, kept "
        f"alive) {ceiling['light_rps']:.0f} RPS ({light['rps']['min']:.0f}-{light['rps']['max']:.0f}); "
        f"requests (as benchmarks/load.py) {ceiling['requests_rps']:.0f} RPS "
        f"({heavy['rps']['min']:.0f}-{heavy['rps']['max']:.0f})."
    )
    bad = {
        name: row["statuses"]
        for name, row in rows.items()
        if any(int(status) >= 500 for status in row["statuses"])
    }
    add(
        f"Submissions (POSTs answered): {result['submissions']}; attempt rows: {result['attempt_rows']}; "
        f"outcomes: {result['outcomes']}; 5xx: {bad or 'none'}; pools run out: "
        f"{', '.join(result['pools_exhausted']) or 'none'}."
    )
    add("")
