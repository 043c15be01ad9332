"""The onboarding funnel page: started → code sent → verified → registered, over a chosen period.

``<site>:nxwa_onboarding_funnel`` (``…/phoneregistration/funnel/``), added by the registration
admin's ``get_urls``; whoever may view registrations may see it. Drawn as server-side SVG with
the same numbers in tables beside it; three queries (``funnel_stats``).

**Filters.** ``funnel_filters`` names the registration fields the page can be narrowed by; each
becomes an optional choice in the form and a condition on the registrations (and, through
``registration__``, on their code requests and attempts). Once registrations have an
``application`` foreign key, ``funnel_filters = ("application",)`` (set on the registration admin).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..choices import Failure, RefusalReason
from ..models import PhoneRegistration
from . import funnel_stats as stats
from .funnel_chart import Chart, bar_chart, count_text
from .presenters import EMPTY

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    RegistrationAdminBase = object

STEP_LABELS = {
    "started": _("Started"),
    "code_sent": _("Code sent"),
    "verified": _("Verified"),
    "registered": _("Registered"),
}
CALLS = ("send", "check")
#: The dates a period may span: past the calendar's ends, midnight after ``last`` (and a time
#: zone's offset) overflows.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


class FunnelForm(forms.Form):
    """The period (the last 30 days unless chosen) and, per ``filters``, what to narrow it to."""

    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, data: Any, *, filters: tuple[str, ...] = (), today: date | None = None) -> None:
        self.default = stats.Period.last_days(30, today)
        super().__init__(data, initial={"date_from": self.default.first, "date_to": self.default.last})
        self.filters = filters
        for name in filters:
            choice = PhoneRegistration._meta.get_field(name).formfield(required=False)  # type: ignore[union-attr]
            assert choice is not None, f"{name} cannot be a funnel filter: it has no form field"
            self.fields[name] = choice

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first = cleaned.get("date_from") or self.default.first
        last = cleaned.get("date_to") or self.default.last
        if first > last:
            raise ValidationError(_("The period ends before it starts."), code="order")
        if first < EARLIEST or last > LATEST:
            raise ValidationError(
                _("Choose dates between %(earliest)s and %(latest)s."),
                code="range",
                params={"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
            )
        cleaned["period"] = stats.Period(first, last)
        return cleaned

    def choices(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.filters}


def duration_text(value: timedelta | None) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if value is None:
        return EMPTY
    seconds = int(value.total_seconds())
    if seconds < 60:
        return gettext("%(s)d s") % {"s": seconds}
    if seconds < 3600:
        return gettext("%(m)d min %(s)d s") % {"m": seconds // 60, "s": seconds % 60}
    if seconds < 86400:
        return gettext("%(h)d h %(m)d min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}
    return gettext("%(d)d d %(h)d h") % {"d": seconds // 86400, "h": seconds % 86400 // 3600}


def percent_text(value: float | None) -> str:
    return EMPTY if value is None else f"{value * 100:.1f}%"


def median_note(median: stats.Median) -> str:
    if not median.of:
        return ""
    if median.sampled:
        return gettext("of a random sample of %(of)s of %(all)s") % {
            "of": count_text(median.of),
            "all": count_text(median.population),
        }
    return ngettext("of %(of)s registration", "of %(of)s registrations", median.of) % {
        "of": count_text(median.of)
    }


def kind_label(kind: str) -> str:
    return str(Failure(kind).label) if kind else gettext("NXCloud said no")


def step_rows(funnel: stats.Funnel) -> list[dict[str, Any]]:
    rows, before = [], None
    started = funnel.counts["started"]
    for step in stats.STEPS:
        count = funnel.counts[step]
        median = funnel.medians.get(step)
        rows.append(
            {
                "label": STEP_LABELS[step],
                "count": count_text(count),
                "step": percent_text(stats.share(count, before)) if before is not None else EMPTY,
                "overall": percent_text(stats.share(count, started)),
                "median": duration_text(median.value) if median else EMPTY,
                "median_note": median_note(median) if median else "",
            }
        )
        before = count
    return rows


def charts(funnel: stats.Funnel) -> dict[str, Chart]:
    counts, before = funnel.counts, None
    steps = []
    for index, step in enumerate(stats.STEPS):
        note = "" if before is None else percent_text(stats.share(counts[step], before))
        steps.append((str(STEP_LABELS[step]), counts[step], note, f"step{index}"))
        before = counts[step]
    steps += [
        (gettext("Failed at NXCloud"), counts["failed"], "", "failed"),
        (gettext("Closed by staff"), counts["closed"], "", "closed"),
    ]
    summary = ", ".join(f"{label}: {count_text(value)}" for label, value, _n, _k in steps)
    refusals = [
        (
            str(RefusalReason(reason).label) if reason in RefusalReason.values else reason,
            sum(n.values()),
            "",
            "refused",
        )
        for reason, n in stats.ranked(funnel.refusals)
    ]
    codes = [
        (code_label(code, message), sum(n.values()), "", "failure")
        for code, (n, message) in sorted(
            funnel.by_code.items(), key=lambda i: (-sum(i[1][0].values()), str(i[0]))
        )
    ]
    return {
        "funnel": bar_chart("nxwa-funnel-chart", gettext("Onboarding funnel") + " — " + summary, steps),
        "refusals": bar_chart("nxwa-refusals-chart", gettext("Refusals by reason"), refusals),
        "codes": bar_chart("nxwa-codes-chart", gettext("NXCloud failures by result code"), codes),
    }


def code_label(code: int | None, message: str) -> str:
    if code is None:
        return gettext("No answer (no result code)")
    return gettext("Result %(code)s") % {"code": code} + (f": {message}" if message else "")


def by_call(counts: dict[str, int]) -> dict[str, str]:
    return {call: count_text(counts.get(call, 0)) for call in CALLS} | {
        "total": count_text(sum(counts.values()))
    }


class FunnelMixin(RegistrationAdminBase):
    """Adds the funnel page and its link on the registration list."""

    #: Registration fields the funnel can be filtered by (a foreign key or a field with choices).
    funnel_filters: tuple[str, ...] = ()

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "funnel/",
                self.admin_site.admin_view(self.funnel_view),
                name=f"{self.opts.app_label}_funnel",
            ),
        ]
        return custom + super().get_urls()

    def funnel_url(self) -> str:
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_funnel")

    def funnel_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = FunnelForm(request.GET or None, filters=self.funnel_filters)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": gettext("Onboarding funnel"),
            "opts": self.opts,
            "form": form,
            "app_label": self.opts.app_label,
        }
        if not form.is_bound or form.is_valid():
            period = form.cleaned_data["period"] if form.is_bound else form.default
            result = stats.funnel(period, form.choices() if form.is_bound else {})
            context.update(
                funnel=result,
                period=period,
                steps=step_rows(result),
                charts=charts(result),
                refusals=[
                    (RefusalReason(r).label if r in RefusalReason.values else r, by_call(n))
                    for r, n in stats.ranked(result.refusals)
                ],
                codes=[
                    (code_label(code, message), by_call(n))
                    for code, (n, message) in sorted(
                        result.by_code.items(), key=lambda i: (-sum(i[1][0].values()), str(i[0]))
                    )
                ],
                kinds=[(kind_label(k), by_call(n)) for k, n in stats.ranked(result.by_kind)],
                regions=[
                    (row.region or gettext("Not recorded"), row, percent_text(row.conversion))
                    for row in stats.by_region(period, form.choices() if form.is_bound else {})
                ],
                failed=count_text(result.counts["failed"]),
                closed=count_text(result.counts["closed"]),
                sample=count_text(stats.SAMPLE),
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/nxwa_onboarding/phoneregistration/funnel.html", context)
