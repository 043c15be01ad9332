"""The table ``make bench`` prints (and writes to ``benchmarks/RESULTS.md``) from a run's results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    Row,
    goal,
    ratio,
)


def render(results: Row) -> str:
    lines: list[str] = []
    add = lines.append
    m = results["machine"]
    add(
        f"Machine: {m.get('cpu', '?')}, {m['cpus']} CPUs; Python {m['python']}, Django {m['django']}, "
        f"PostgreSQL {m.get('postgresql', '-')}"
    )
    add("")
    if "overhead" in results:
        add("### Verification: services.check_code against a bare signed POST and against the floor")
        add("")
        add(
            "Loopback NXCloud stand-in; n interleaved samples per side after 20 warm-up rounds. "
            "bare POST: requests, signed by hand, kept-alive session. client call: one "
            "`NXCloudClient.check_code`. floor: the write-ahead guarantee's minimum SQL on a bare "
            "driver connection (INSERT the pending attempt + one rules SELECT, COMMIT; the client "
            "call; UPDATE the attempt + UPDATE the registration, COMMIT), no Django."
        )
        add("")
        add(
            "| database | check_code against | n | baseline median | check_code median | ratio "
            "| baseline p99 | check_code p99 | p99 ratio | goal |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")

        def versus(db: str, label: str, n: Any, base: Row, service: Row, target: str = "") -> None:
            add(
                f"| {db} | {label} | {n} | {base['median_ms']:.3f} ms | {service['median_ms']:.3f} ms | "
                f"{ratio(service['median_ms'], base['median_ms']):.2f}x | {base['p99_ms']:.3f} ms | "
                f"{service['p99_ms']:.3f} ms | {ratio(service['p99_ms'], base['p99_ms']):.2f}x | {target} |"
            )

        for db, row in results["overhead"].items():
            n = row.get("n", row["service"]["n"])
            target = goal(row["median_ratio"] <= 1.5) if db == "postgresql" else "-"
            versus(db, "bare POST", n, row["bare"], row["service"], target)
            if "floor" in row:
                versus(db, "floor (SQL + client call)", n, row["floor"], row["service"])
                versus(db, "client call", n, row["client"], row["service"])
        for db, row in results.get("overhead_latency", {}).items():
            add(
                f"| {db}, NXCloud taking {row['latency_ms']:.0f} ms | bare POST | {row['service']['n']} | "
                f"{row['bare']['median_ms']:.1f} ms | {row['service']['median_ms']:.1f} ms | "
                f"{row['median_ratio']:.2f}x | | | | |"
            )
        add("")
        for db, row in results["overhead"].items():
            if "floor" in row:
                add(
                    f"Floor on {db}: median {row['floor']['median_ms']:.3f} ms, "
                    f"{row['floor_vs_bare_median_ratio']:.2f}x the bare POST; check_code is "
                    f"{row['over_floor_median_ms']:.3f} ms above it (medians of {row['n']})."
                )
        add("")
    if "queries" in results:
        add("### Queries and NXCloud round trips per operation")
        add("")
        add("| operation | queries | round trips |")
        add("|---|---|---|")
        for name, row in results["queries"].items():
            add(f"| {name} | {row['queries']} | {row['round_trips']} |")
        c = results["connections"]
        add("")
        add(
            f"TCP connections for {c['calls']} sequential calls: "
            f"request_code {c['connections_request_code']}, check_code {c['connections_check_code']} "
            f"(goal 1: {goal(c['connections_check_code'] <= 1 and c['connections_request_code'] <= 1)})"
        )
        add("")
    if "admin" in results:
        a = results["admin"]
        if "skipped" in a:
            add(f"### Admin at scale: skipped ({a['skipped']})")
        else:
            add(
                f"### Admin changelists: {a['small']['registrations']:,} vs {a['large']['registrations']:,} "
                f"registrations ({a['small']['attempts']:,} vs {a['large']['attempts']:,} attempts)"
            )
            add("")
            add("| page | queries small | queries large | median small | median large | ratio | goal |")
            add("|---|---|---|---|---|---|---|")
            for page, row in a["pages"].items():
                ok = row["queries_small"] == row["queries_large"] and row["time_ratio"] <= 2
                add(
                    f"| {page} | {row['queries_small']} | {row['queries_large']} | "
                    f"{row['median_small_ms']:.1f} ms | {row['median_large_ms']:.1f} ms | "
                    f"{row['time_ratio']:.2f}x | {goal(ok)} |"
                )
            add("")
            add(f"Bulk generation: {a['generation_s']:.1f} s")
        add("")
    if "funnel" in results:
        from benchmarks.funnel import render_funnel

        lines.extend(render_funnel(results["funnel"], goal))
    if "load" in results:
        load = results["load"]
        if "skipped" in load:
            add(f"### Customer pages under load: skipped ({load['skipped']})")
        else:
            add(
                f"### Customer pages under load: gunicorn ({load['workers']} workers), "
                f"{load['threads']} client threads, {load['seconds']:.0f} s"
            )
            add("")
            add("| page | requests | RPS | p50 | p99 | 5xx | RPS vs trivial view |")
            add("|---|---|---|---|---|---|---|")
            for page, row in load["pages"].items():
                add(
                    f"| {page} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | "
                    f"{row['p99_ms']:.1f} ms | {row['errors_5xx']} | {row['rps_vs_trivial']:.2f} |"
                )
            add("")
            add(
                f"Code submissions: {load['submissions']}, attempt rows: {load['attempt_rows']}, "
                f"lost: {load['lost_attempts']}; 5xx in total: {load['total_5xx']}"
            )
        add("")
    if "api" in results:
        render_api(results["api"], add)
    if "throughput" in results:
        from benchmarks.throughput import render_throughput

        render_throughput(results["throughput"], add)
    if "metrics" in results:
        render_metrics(results["metrics"], add)
    if "peers" in results:
        from benchmarks.peers.report import render_peers

        render_peers(results["peers"], add)
    return "\n".join(lines)


def render_metrics(metrics: Row, add: Callable[[str], None]) -> None:
    if "skipped" in metrics:
        add(f"### The metrics scrape: skipped ({metrics['skipped']})")
        return
    add(f"### The metrics scrape at {metrics['registrations']:,} registrations")
    add("")
    add("| queries | collector median | `metrics/` median |")
    add("|---|---|---|")
    add(
        f"| {metrics['queries']} | {metrics['collector']['median_ms']} ms | "
        f"{metrics['view']['median_ms']} ms |"
    )
    add("")


def render_api(api: Row, add: Callable[[str], None]) -> None:
    if "skipped" in api:
        add(f"### JSON API under load: skipped ({api['skipped']})")
        add("")
        return
    add(
        f"### JSON API under load: gunicorn ({api['workers']} workers), "
        f"{api['threads']} client threads, {api['seconds']:.0f} s"
    )
    add("")
    add("| endpoint | requests | RPS | p50 | p99 | 5xx | RPS vs trivial view |")
    add("|---|---|---|---|---|---|---|")
    for name, row in api["pages"].items():
        add(
            f"| {name} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | "
            f"{row['p99_ms']:.1f} ms | {row['errors_5xx']} | {row['rps_vs_trivial']:.2f} |"
        )
    add("")
    add(
        f"Code submissions: {api['submissions']}, attempt rows: {api['attempt_rows']}, "
        f"lost: {api['lost_attempts']}; 5xx in total: {api['total_5xx']}"
    )
    add("")
