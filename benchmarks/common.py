"""What every benchmark section shares: the numbers (percentiles, ratios), the bench database's
set-up and tear-down, fresh registrations, the loopback NXCloud stand-in and the machine's
description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
Row = dict[str, Any]


# -- numbers -------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 400 samples is the 396th smallest)."""
    ordered = sorted(values)
    rank = max(min(round(pct / 100 * len(ordered) + 0.5) - 1, len(ordered) - 1), 0)
    return ordered[rank]


def summary_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


# -- Django --------------------------------------------------------------------------------------


def setup_django() -> str:
    """Configure Django and create the bench database; returns its vendor."""
    import django
    from django.db import connection

    django.setup()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return str(connection.vendor)


def teardown_django(old_name: str | None = None) -> None:
    from django.db import connection

    connection.close()
    connection.creation.destroy_test_db(
        old_name or connection.settings_dict["NAME"], verbosity=0, keepdb=False
    )


class PhoneSource:
    """Valid, never repeated Chinese mobile numbers (138 xxxx xxxx)."""

    def __init__(self, start: int = 0) -> None:
        self.next = start

    def __call__(self) -> str:
        self.next += 1
        return f"86138{self.next:08d}"


def fresh_registration(phones: PhoneSource) -> Any:
    """A registration with a code sent (through the loopback stand-in)."""
    from nxwa_onboarding import services

    registration = services.create_registration(phones())
    code_request = services.request_code(registration)
    assert code_request.outcome == "sent", code_request.outcome
    return registration


@contextmanager
def loopback_server(**kwargs: Any) -> Iterator[Any]:
    from django.conf import settings
    from django.test import override_settings

    from harness.loopback import LoopbackNXCloud

    with LoopbackNXCloud(**kwargs) as server:
        nxwa = {**settings.NXWA_ONBOARDING, "BASE_URL": server.base_url}
        with override_settings(NXWA_ONBOARDING=nxwa):
            yield server


# -- output ------------------------------------------------------------------------------------------


def machine() -> Row:
    from django.db import connection

    info: Row = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    import django

    import nxwa_onboarding

    info["django"] = django.get_version()
    # Which checkout was measured (the worktree's package, not another one installed editable).
    info["package"] = str(Path(nxwa_onboarding.__file__).resolve().parent)
    return info


def goal(ok: bool) -> str:
    return "ok" if ok else "MISSED"
