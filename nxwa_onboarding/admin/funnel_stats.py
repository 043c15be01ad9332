"""The onboarding funnel's numbers: three ORM queries, whatever the number of rows.

1. The cohort (registrations started in the period) counted at each step, in one aggregate.
2. The median time per step, from a bounded uniform sample of the cohort (below).
3. What went wrong in the period (refusals, NXCloud's failures), sends and checks grouped in one
   ``UNION ALL`` of two grouped selects.

The steps nest by construction, so each conversion is a share of the step before: *code sent*
is a code sent (or possibly sent) or a verification; *verified* is ``verified_at``; *registered*
is ``registered_at`` on a verified registration (the first phoneList read that saw it
registered, so an upper bound on when it happened).

**Medians.** An exact median needs every value sorted, and ``percentile_cont`` is PostgreSQL's
alone (SQLite has none), so each step's median is computed in Python from at most ``SAMPLE``
rows of that step: all of them when there are no more, else a uniform random sample. The
sample is the rows whose ``public_id`` (a random UUID4) is below ``SAMPLE / n`` of the UUID
space, a Bernoulli sample of expected size ``SAMPLE`` drawn by a range condition the database
evaluates while it scans (no ``ORDER BY random()``), the same on every reload; the page says
how many rows each median was computed from. A sample median's standard error is
``1 / (2 f(m) sqrt(n))`` (``f(m)``: the density of the times at the median): for 1,000 rows
that is about 4% of the standard deviation were the times normal, and steps measured in
minutes are not reported to better than a minute anyway.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from ..choices import AttemptOutcome, Failure, RegistrationStatus, SendOutcome
from ..models import CodeRequest, PhoneRegistration, VerificationAttempt
from ..services.rules import CODE_BEARING_SENDS

#: At most this many rows per step go into its median.
SAMPLE = 1_000
#: The sample query's hard bound: three samples of expected size ``SAMPLE``, with room for chance.
SAMPLE_ROWS = 3 * SAMPLE + SAMPLE // 2
STEPS = ("started", "code_sent", "verified", "registered")
#: How each step is reached; they nest (each implies the one before).
REACHED = {
    "started": Q(),
    "code_sent": Q(code_sent_at__isnull=False) | Q(verified_at__isnull=False),
    "verified": Q(verified_at__isnull=False),
    "registered": Q(verified_at__isnull=False, registered_at__isnull=False),
}
#: Outcomes of a call that did not go through: a refusal (no call made) or NXCloud's failures.
NOT_THROUGH = (SendOutcome.REFUSED, SendOutcome.REJECTED, SendOutcome.FAILED, SendOutcome.UNKNOWN)
UUID_SPACE = 2**128


@dataclass(frozen=True)
class Period:
    """``[start, end)``: from midnight of ``first`` to midnight after ``last``, in the current zone."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    @classmethod
    def last_days(cls, days: int = 30, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class Median:
    value: timedelta | None
    of: int  # the rows it was computed from
    population: int  # the rows of the step

    @property
    def sampled(self) -> bool:
        return self.of < self.population


@dataclass
class Funnel:
    period: Period
    counts: dict[str, int]
    medians: dict[str, Median]
    #: reason -> {"send": n, "check": n}
    refusals: dict[str, dict[str, int]] = field(default_factory=dict)
    #: result code (None: no answer) -> ({"send": n, "check": n}, an example message)
    by_code: dict[int | None, tuple[dict[str, int], str]] = field(default_factory=dict)
    #: failure kind ("" for NXCloud's plain no) -> {"send": n, "check": n}
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)


def scope(filters: dict[str, Any], prefix: str = "") -> Q:
    """The chosen filters (``{"application": app}``) on registrations, or through ``prefix``."""
    return Q(**{f"{prefix}{name}": value for name, value in filters.items() if value is not None})


def cohort(period: Period, filters: dict[str, Any]) -> QuerySet[PhoneRegistration]:
    return PhoneRegistration.objects.filter(
        scope(filters), created_at__gte=period.start, created_at__lt=period.end
    ).order_by()


def count_steps(registrations: QuerySet[PhoneRegistration]) -> dict[str, int]:
    """Query 1: every step's count and the failed and closed ones, in one aggregate."""
    counts = registrations.aggregate(
        **{step: Count("pk", filter=REACHED[step]) for step in STEPS},
        failed=Count("pk", filter=Q(status=RegistrationStatus.FAILED)),
        closed=Count("pk", filter=Q(status=RegistrationStatus.CLOSED)),
    )
    return {name: int(value or 0) for name, value in counts.items()}


def below(fraction: float) -> uuid.UUID:
    """The UUID below which ``fraction`` of random UUIDs fall."""
    return uuid.UUID(int=min(math.ceil(fraction * UUID_SPACE), UUID_SPACE - 1))


def _timed(step: str, row: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The step's start and end: each step runs from the end of the one before."""
    if step == "code_sent":
        return row["created_at"], row["first_sent"]
    if step == "verified":
        return row["first_sent"], row["verified_at"]
    return row["verified_at"], row["registered_at"]


def _reached(step: str, row: dict[str, Any]) -> bool:
    if step == "code_sent":
        return row["code_sent_at"] is not None or row["verified_at"] is not None
    if step == "verified":
        return row["verified_at"] is not None
    return row["verified_at"] is not None and row["registered_at"] is not None


def median_times(registrations: QuerySet[PhoneRegistration], counts: dict[str, int]) -> dict[str, Median]:
    """Query 2: each step's median time from its (sampled) rows."""
    timed = STEPS[1:]
    limits = {step: below(min(1.0, SAMPLE / counts[step])) for step in timed if counts[step]}
    if not limits:
        return {step: Median(None, 0, 0) for step in timed}
    first_sent = (
        CodeRequest.objects.filter(registration=OuterRef("pk"), outcome__in=CODE_BEARING_SENDS)
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )
    wanted = Q()
    for step, limit in limits.items():
        wanted |= REACHED[step] & Q(public_id__lte=limit)
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in registrations.filter(wanted)
        .annotate(first_sent=Subquery(first_sent))
        .values("public_id", "created_at", "code_sent_at", "first_sent", "verified_at", "registered_at")[
            :SAMPLE_ROWS
        ]
    ]
    medians: dict[str, Median] = {}
    for step in timed:
        step_limit = limits.get(step)
        mine = sorted(
            (
                r
                for r in rows
                if step_limit is not None and _reached(step, r) and r["public_id"] <= step_limit
            ),
            key=lambda r: r["public_id"],
        )[:SAMPLE]
        spans = [
            max((end - start).total_seconds(), 0.0)
            for start, end in map(lambda r: _timed(step, r), mine)
            if start and end
        ]
        value = timedelta(seconds=statistics.median(spans)) if spans else None
        medians[step] = Median(value, len(spans), counts[step])
    return medians


def _grouped(model: type[CodeRequest] | type[VerificationAttempt], call: str, rows: Any) -> Any:
    return (
        rows.filter(outcome__in=NOT_THROUGH)
        .order_by()
        .values("outcome", "refusal_reason", "failure", "result_code")
        .annotate(n=Count("pk"), message=Max("result_message"), call=Value(call))
    )


def what_went_wrong(period: Period, filters: dict[str, Any], funnel: Funnel) -> None:
    """Query 3: the period's refused, rejected, failed and unanswered calls, grouped."""

    def rows(model: type[CodeRequest] | type[VerificationAttempt]) -> Any:
        return model.objects.filter(
            scope(filters, "registration__"), created_at__gte=period.start, created_at__lt=period.end
        )

    sends = _grouped(CodeRequest, "send", rows(CodeRequest))
    checks = _grouped(VerificationAttempt, "check", rows(VerificationAttempt))
    # No ordering: the models' default one names columns the grouped rows do not have.
    for row in sends.union(checks, all=True).order_by():
        call, n = row["call"], row["n"]
        if row["outcome"] == AttemptOutcome.REFUSED:
            _add(funnel.refusals.setdefault(row["refusal_reason"], {}), call, n)
            continue
        counts, message = funnel.by_code.get(row["result_code"], ({}, ""))
        _add(counts, call, n)
        funnel.by_code[row["result_code"]] = (counts, message or row["message"] or "")
        kind = row["failure"] or _kind_of_unclassified(row["outcome"])
        _add(funnel.by_kind.setdefault(kind, {}), call, n)


def _kind_of_unclassified(outcome: str) -> str:
    """Rows written before ``failure`` existed: a plain no, a maybe sent, or unreachable."""
    if outcome == AttemptOutcome.REJECTED:
        return ""
    return Failure.MAYBE_SENT if outcome == AttemptOutcome.UNKNOWN else Failure.UNREACHABLE


def _add(counts: dict[str, int], call: str, n: int) -> None:
    counts[call] = counts.get(call, 0) + n


def funnel(period: Period, filters: dict[str, Any] | None = None) -> Funnel:
    """The funnel of the registrations started in ``period`` (filtered), in three queries."""
    filters = filters or {}
    registrations = cohort(period, filters)
    counts = count_steps(registrations)
    result = Funnel(period, counts, median_times(registrations, counts))
    what_went_wrong(period, filters, result)
    return result


@dataclass(frozen=True)
class RegionRow:
    """One region's registrations of the period and how far they came (``region``: ISO code,
    ``""`` for registrations started before the region was stored)."""

    region: str
    started: int
    code_sent: int
    verified: int

    @property
    def conversion(self) -> float | None:
        return share(self.verified, self.started)


def by_region(period: Period, filters: dict[str, Any] | None = None) -> list[RegionRow]:
    """Which countries convert: the cohort grouped by the number's region, one query (on
    ``nxwa_reg_region_idx``), the largest first."""
    rows = (
        cohort(period, filters or {})
        .values("region")
        .annotate(
            started=Count("pk"),
            code_sent=Count("pk", filter=REACHED["code_sent"]),
            verified=Count("pk", filter=REACHED["verified"]),
        )
    )
    found = [RegionRow(r["region"] or "", r["started"], r["code_sent"], r["verified"]) for r in rows]
    return sorted(found, key=lambda row: (-row.started, row.region))


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def ranked(groups: dict[Any, dict[str, int]]) -> Iterable[tuple[Any, dict[str, int]]]:
    """Groups, the largest first (ties by key, so the order is stable)."""
    return sorted(groups.items(), key=lambda item: (-sum(item[1].values()), str(item[0])))


__all__ = [
    "SAMPLE",
    "STEPS",
    "Funnel",
    "Median",
    "Period",
    "RegionRow",
    "by_region",
    "funnel",
    "ranked",
    "share",
]
