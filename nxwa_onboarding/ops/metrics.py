"""A Prometheus collector that reads the app's numbers from the database at scrape time.

Nothing is counted in process memory: every gunicorn worker, every server and a host's own
``/metrics`` answer the same numbers, because they all read the same rows. A scrape costs six
queries, each over an index or a small table, whatever the number of registrations
(``benchmarks/metrics_scrape.py`` measures it).

Importable on its own (it loads no model until a scrape): a host that already exposes
``/metrics`` registers it in its registry::

    from prometheus_client import REGISTRY
    from nxwa_onboarding.ops.metrics import OnboardingCollector

    REGISTRY.register(OnboardingCollector())

Needs the ``metrics`` extra (``prometheus-client``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

#: The windows the recent activity is counted over: label value -> its length.
WINDOWS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(days=1)}
DAY = WINDOWS["24h"]
UNKNOWN_APPLICATION = "(unknown)"


class OnboardingCollector(Collector):
    """The onboarding app's metrics, computed from the database each time it is collected."""

    def describe(self) -> Iterable[Metric]:
        # Nothing: registering the collector must not query the database (the registry would
        # call collect() to learn the names otherwise).
        return []

    def collect(self) -> Iterator[Metric]:
        from django.utils import timezone

        now = timezone.now()
        names = ApplicationNames()
        yield from registrations(names)
        sends = activity("getCode", now)
        yield from sends.families("nxwa_code_requests", "verification codes requested (getCode rows)")
        checks = activity("checkCode", now)
        yield from checks.families("nxwa_verification_attempts", "codes typed in (checkCode rows)")
        yield from nxcloud_calls([sends, checks])
        yield send_budget(sends)
        yield from follower(names)
        yield from webhook_deliveries(now)


def registry() -> CollectorRegistry:
    """A registry holding only this collector (what ``metrics/`` serves)."""
    collected = CollectorRegistry(auto_describe=False)
    collected.register(OnboardingCollector())
    return collected


class ApplicationNames:
    """Application labels by primary key and by app key, from one query. Labels are names,
    never app keys (they are credentials); two applications of one name share a label."""

    def __init__(self) -> None:
        from ..conf import conf
        from ..models import Application

        self.by_pk: dict[int, str] = {}
        self.by_key: dict[str, str] = {}
        for pk, name, app_key, is_default in Application.objects.values_list(
            "pk", "name", "app_key", "is_default"
        ):
            label = name or f"application {pk}"
            self.by_pk[pk] = label
            key = app_key or (conf.APP_KEY if is_default else "")
            if key:
                self.by_key[key] = label

    def of_pk(self, pk: int | None) -> str:
        return self.by_pk.get(pk or 0, UNKNOWN_APPLICATION)

    def of_key(self, key: str) -> str:
        return self.by_key.get(key, UNKNOWN_APPLICATION)


#: How far the registrations of a region got (``nxwa_registrations_by_region``).
REGION_STAGES = ("started", "verified", "registered")


def registrations(names: ApplicationNames) -> Iterator[Metric]:
    """Registrations by status and application, by region and stage, and those needing
    attention: one pass over the table (a GROUP BY with the verified and attention counts as
    conditional aggregates). Regions are the numbers' own (a few hundred at most)."""
    from django.db.models import Count, Q

    from ..choices import RegistrationStatus
    from ..models import PhoneRegistration
    from ..services.follow import needs_attention

    attention = {
        "stuck": needs_attention(),
        "client_refused": Q(status=RegistrationStatus.VERIFIED) & ~Q(client_refusal=""),
        "registered_elsewhere": Q(registered_elsewhere_at__isnull=False),
    }
    rows = (
        PhoneRegistration.objects.order_by()
        .values_list("status", "application_id", "region")
        .annotate(
            n=Count("pk"),
            verified=Count("pk", filter=Q(verified_at__isnull=False)),
            **{f"attention_{reason}": Count("pk", filter=q) for reason, q in attention.items()},
        )
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    regions: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(REGION_STAGES, 0))
    needing: dict[str, int] = dict.fromkeys(attention, 0)
    seen_applications = set()
    for status, application_id, region, n, verified, *flagged in rows:
        application = names.of_pk(application_id)
        seen_applications.add(application)
        counts[(status, application)] += n
        stages = regions[region or "unknown"]
        stages["started"] += n
        stages["verified"] += verified
        stages["registered"] += n if status == RegistrationStatus.REGISTERED else 0
        for reason, m in zip(attention, flagged, strict=True):
            needing[reason] += m
    family = GaugeMetricFamily(
        "nxwa_registrations",
        "Phone registrations by status and customer application.",
        labels=["status", "application"],
    )
    # Every status of every application that has any registration, zeros included, so a rate
    # or an alert on a status never sees its series vanish.
    for application in sorted(seen_applications):
        for status in RegistrationStatus.values:
            family.add_metric([status, application], counts.get((status, application), 0))
    yield family
    by_region = GaugeMetricFamily(
        "nxwa_registrations_by_region",
        "Registrations by the number's region (as stored when each started; unknown when none) and "
        "how far they got: started (all), verified (a code accepted), registered (now).",
        labels=["region", "stage"],
    )
    for region in sorted(regions):
        for stage, n in regions[region].items():
            by_region.add_metric([region, stage], n)
    yield by_region
    attention_family = GaugeMetricFamily(
        "nxwa_registrations_needing_attention",
        "Registrations someone should look at: stuck in progress (STUCK_AFTER), a client NXCloud "
        "refused, a number registered outside this app.",
        labels=["reason"],
    )
    for reason, m in needing.items():
        attention_family.add_metric([reason], m)
    yield attention_family


class Activity:
    """One kind of call row's recent counts by outcome and failure kind, and its latency."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.rows: dict[tuple[str, str, str], int] = {}  # (window, outcome, failure) -> rows
        self.calls: dict[tuple[str, str], int] = defaultdict(int)  # (window, outcome) -> calls made
        self.seconds: dict[str, float] = defaultdict(float)  # window -> sum of durations
        self.slowest: dict[str, float] = defaultdict(float)  # window -> longest duration
        self.called_today = 0  # what counts against MAX_SENDS_PER_DAY_GLOBAL (getCode)

    def families(self, name: str, what: str) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            name,
            f"Rows of {what} created in the window, by outcome and failure kind.",
            labels=["window", "outcome", "failure"],
        )
        for (window, outcome, failure), n in sorted(self.rows.items()):
            family.add_metric([window, outcome, failure], n)
        yield family


def activity(action: str, now: datetime) -> Activity:
    """The last day's rows of getCode (``CodeRequest``) or checkCode (``VerificationAttempt``),
    in one query over the ``created_at`` index."""
    from django.db.models import Count, Max, Q, Sum

    from ..models import CodeRequest, VerificationAttempt
    from ..services.rules import CALLED_SENDS

    model: Any = CodeRequest if action == "getCode" else VerificationAttempt
    aggregates: dict[str, Any] = {}
    for window, length in WINDOWS.items():
        recent = Q(created_at__gt=now - length)
        called = recent & Q(duration_ms__isnull=False)
        aggregates[f"rows_{window}"] = Count("pk", filter=recent)
        aggregates[f"calls_{window}"] = Count("pk", filter=called)
        aggregates[f"ms_{window}"] = Sum("duration_ms", filter=called)
        aggregates[f"max_{window}"] = Max("duration_ms", filter=called)
    rows = (
        model.objects.filter(created_at__gt=now - DAY)
        .order_by()
        .values("outcome", "failure")
        .annotate(**aggregates)
    )
    found = Activity(action)
    for row in rows:
        outcome, failure = row["outcome"], row["failure"] or ""
        for window in WINDOWS:
            found.rows[(window, outcome, failure)] = row[f"rows_{window}"]
            found.calls[(window, outcome)] += row[f"calls_{window}"]
            found.seconds[window] += (row[f"ms_{window}"] or 0) / 1000
            found.slowest[window] = max(found.slowest[window], (row[f"max_{window}"] or 0) / 1000)
        if action == "getCode" and outcome in CALLED_SENDS:
            found.called_today += row["rows_24h"]
    return found


def nxcloud_calls(activities: list[Activity]) -> Iterator[Metric]:
    """The calls made to NXCloud (refusals made none) and how long they took, from the audit rows."""
    calls = GaugeMetricFamily(
        "nxwa_nxcloud_calls",
        "NXCloud calls made in the window (from the audit rows), by action and outcome.",
        labels=["window", "action", "outcome"],
    )
    seconds = GaugeMetricFamily(
        "nxwa_nxcloud_call_seconds",
        "Time NXCloud calls made in the window took: their sum and the longest.",
        labels=["window", "action", "stat"],
    )
    for found in activities:
        for (window, outcome), n in sorted(found.calls.items()):
            if n:
                calls.add_metric([window, found.action, outcome], n)
        for window in WINDOWS:
            seconds.add_metric([window, found.action, "sum"], round(found.seconds[window], 3))
            seconds.add_metric([window, found.action, "max"], round(found.slowest[window], 3))
    yield calls
    yield seconds


def send_budget(sends: Activity) -> Metric:
    from ..conf import conf

    family = GaugeMetricFamily(
        "nxwa_send_budget_remaining",
        "getCode calls the installation may still make in the last 24 hours "
        "(MAX_SENDS_PER_DAY_GLOBAL less the calls made); 0: every send is refused.",
    )
    family.add_metric([], max(conf.MAX_SENDS_PER_DAY_GLOBAL - sends.called_today, 0))
    return family


def follower(names: ApplicationNames) -> Iterator[Metric]:
    from ..models import FollowState

    last_step = GaugeMetricFamily(
        "nxwa_follow_last_step_timestamp_seconds",
        "When the follower last stepped the application (Unix time).",
        labels=["application"],
    )
    failing = GaugeMetricFamily(
        "nxwa_follow_last_step_failed",
        "1 when the application's last following step failed (its phoneList), else 0.",
        labels=["application"],
    )
    steps = CounterMetricFamily(
        "nxwa_follow_steps", "Following steps taken for the application.", labels=["application"]
    )
    seen: set[str] = set()
    for app_key, last_step_at, last_error, n in FollowState.objects.values_list(
        "app_key", "last_step_at", "last_error", "steps"
    ).order_by("pk"):
        application = names.of_key(app_key)
        if application in seen:  # two states under one label (an unknown key): the first
            continue
        seen.add(application)
        if last_step_at is not None:
            last_step.add_metric([application], last_step_at.timestamp())
        failing.add_metric([application], 1 if last_error else 0)
        steps.add_metric([application], n)
    yield last_step
    yield failing
    yield steps


def webhook_deliveries(now: datetime) -> Iterator[Metric]:
    from django.db.models import Count, Q

    from ..models import WebhookDelivery

    family = GaugeMetricFamily(
        "nxwa_webhook_deliveries",
        "Webhook deliveries received in the window, by outcome.",
        labels=["window", "outcome"],
    )
    rows = (
        WebhookDelivery.objects.filter(received_at__gt=now - DAY)
        .order_by()
        .values_list("outcome")
        .annotate(
            **{
                f"n_{window}": Count("pk", filter=Q(received_at__gt=now - length))
                for window, length in WINDOWS.items()
            }
        )
    )
    for outcome, *counts in rows:
        for window, n in zip(WINDOWS, counts, strict=True):
            family.add_metric([window, outcome], n)
    yield family
