"""Section ``queries``: SQL statements and NXCloud round trips per operation, and the TCP
connections 100 sequential calls open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    PhoneSource,
    Row,
    fresh_registration,
    loopback_server,
)

# -- 2. queries, round trips, connections ------------------------------------------------------------


def bench_queries() -> Row:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from harness.loopback import result
    from nxwa_onboarding import services

    phones = PhoneSource(start=30_000_000)
    rows: Row = {}

    def measure(name: str, setup: Callable[[Any], None], run: Callable[[Any], Any], expect: str) -> None:
        registration = fresh_registration(phones)
        setup(registration)
        before = len(server.received)
        with CaptureQueriesContext(connection) as queries:
            outcome = run(registration).outcome
        assert outcome == expect, (name, outcome)
        rows[name] = {"queries": len(queries), "round_trips": len(server.received) - before}

    def nothing(registration: Any) -> None:
        pass

    def reject_next(registration: Any) -> None:
        server.push(result(9001, "Verification code is incorrect"))

    def use_up(registration: Any) -> None:
        from nxwa_onboarding.conf import conf

        for _ in range(conf.MAX_CHECK_ATTEMPTS):
            server.push(result(9001, "Verification code is incorrect"))
            services.check_code(registration, "000000")

    def check(registration: Any) -> Any:
        return services.check_code(registration, "123456", ip="10.1.2.3")

    def send(registration: Any) -> Any:
        registration.refresh_from_db()
        return services.request_code(registration, ip="10.1.2.3")

    def make_new(registration: Any) -> None:
        pass

    with loopback_server() as server:
        measure("check_code accepted", nothing, check, "accepted")
        measure("check_code rejected", reject_next, check, "rejected")
        measure("check_code refused (too many tries)", use_up, check, "refused")
        # request_code on a brand-new registration (no cooldown in the way).
        registration = services.create_registration(phones())
        before = len(server.received)
        with CaptureQueriesContext(connection) as queries:
            outcome = services.request_code(registration, ip="10.1.2.3").outcome
        assert outcome == "sent", outcome
        rows["request_code sent"] = {"queries": len(queries), "round_trips": len(server.received) - before}
        measure("request_code refused (cooldown)", make_new, send, "refused")
    return rows


def bench_connections(calls: int = 100) -> Row:
    from nxwa_onboarding import services

    phones = PhoneSource(start=40_000_000)
    with loopback_server() as server:
        registrations = [services.create_registration(phones()) for _ in range(calls)]
        with server.lock:
            server.connections.clear()
        for registration in registrations:
            services.request_code(registration)
        sends = len(server.connections)
        with server.lock:
            server.connections.clear()
        for registration in registrations:
            attempt = services.check_code(registration, "123456")
            assert attempt.outcome == "accepted"
        checks = len(server.connections)
    return {"calls": calls, "connections_request_code": sends, "connections_check_code": checks}
