"""The onboarding funnel page: the numbers, the medians, what went wrong, the page and its link.

This module is its own URLconf: the default admin, and a ``staff`` site whose registration admin
is filtered by owner (``funnel_filters``), standing in for the application filter to come.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone

from nxwa_onboarding.admin import PhoneRegistrationAdmin
from nxwa_onboarding.admin import funnel_stats as stats
from nxwa_onboarding.admin.funnel import FunnelForm, duration_text
from nxwa_onboarding.admin.funnel_chart import bar_chart
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from tests.helpers.admin import html, logged_in
from tests.helpers.users import make_user


class OwnerFilteredAdmin(PhoneRegistrationAdmin):
    funnel_filters = ("owner",)


staff_site = AdminSite(name="staff")
staff_site.register(PhoneRegistration, OwnerFilteredAdmin)
urlpatterns = [path("admin/", admin.site.urls), path("staff/", staff_site.urls)]
pytestmark = [pytest.mark.urls(__name__)]

FUNNEL = "admin:nxwa_onboarding_funnel"
TODAY = date(2026, 5, 20)
PERIOD = stats.Period(date(2026, 5, 1), TODAY)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, 5, day, hour, minute, second))


def registration(
    number: int,
    started: datetime,
    *,
    sent: timedelta | None = None,
    verified: timedelta | None = None,
    registered: timedelta | None = None,
    status: str = "new",
    owner: Any = None,
) -> PhoneRegistration:
    """A registration started at ``started`` whose steps came ``sent``, ``verified``, ``registered``
    after the step before (its first code request written at ``sent``)."""
    first_sent = started + sent if sent is not None else None
    verified_at = first_sent + verified if first_sent and verified is not None else None
    registered_at = verified_at + registered if verified_at and registered is not None else None
    row = PhoneRegistration.objects.create(
        phone_number=f"86138{number:08d}",
        status=status,
        owner=owner,
        code_sent_at=first_sent,
        verified_at=verified_at,
        registered_at=registered_at,
    )
    PhoneRegistration.objects.filter(pk=row.pk).update(created_at=started)
    if first_sent is not None:
        send = CodeRequest.objects.create(
            registration=row, method="sms", channel="admin", outcome="sent", finished_at=first_sent
        )
        CodeRequest.objects.filter(pk=send.pk).update(created_at=first_sent)
    return row


@pytest.fixture
def cohort(db: None) -> list[PhoneRegistration]:
    minute = timedelta(minutes=1)
    return [
        registration(1, at(2)),
        registration(2, at(3), sent=minute),
        registration(3, at(4), sent=3 * minute, verified=10 * minute, status="verified"),
        registration(
            4, at(5), sent=5 * minute, verified=20 * minute, registered=60 * minute, status="registered"
        ),
        registration(5, at(6), sent=7 * minute, verified=30 * minute, status="failed"),
        registration(6, at(7), sent=9 * minute, status="closed"),
        registration(7, at(20, 23, 59, 59), sent=11 * minute, status="code_sent"),
        # Outside the period: the day before, the day after.
        registration(8, timezone.make_aware(datetime(2026, 4, 30, 23, 59)), sent=minute),
        registration(9, timezone.make_aware(datetime(2026, 5, 21, 0, 0)), sent=minute),
    ]


# -- the numbers -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_cohort_is_counted_at_each_step(cohort: list[PhoneRegistration]) -> None:
    result = stats.funnel(PERIOD)
    assert result.counts == {
        "started": 7,
        "code_sent": 6,
        "verified": 3,
        "registered": 1,
        "failed": 1,
        "closed": 1,
    }


@pytest.mark.django_db
def test_each_step_has_the_median_of_its_times(cohort: list[PhoneRegistration]) -> None:
    medians = stats.funnel(PERIOD).medians
    # started -> first code: 1, 3, 5, 7, 9, 11 minutes: the median of six is the mean of the middle two.
    assert medians["code_sent"] == stats.Median(timedelta(minutes=6), 6, 6)
    assert medians["verified"] == stats.Median(timedelta(minutes=20), 3, 3)
    assert medians["registered"] == stats.Median(timedelta(minutes=60), 1, 1)
    assert not medians["code_sent"].sampled


@pytest.mark.django_db
def test_a_resend_does_not_move_the_first_code(cohort: list[PhoneRegistration]) -> None:
    later = CodeRequest.objects.create(
        registration=cohort[1], method="sms", channel="admin", outcome="sent", finished_at=at(3, 13)
    )
    CodeRequest.objects.filter(pk=later.pk).update(created_at=at(3, 13))
    CodeRequest.objects.create(registration=cohort[0], method="sms", channel="admin", outcome="rejected")
    assert stats.funnel(PERIOD).medians["code_sent"].value == timedelta(minutes=6)


@pytest.mark.django_db
def test_past_the_sample_size_a_median_is_of_a_bounded_random_sample(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "SAMPLE", 10)
    monkeypatch.setattr(stats, "SAMPLE_ROWS", 35)
    for number in range(200):
        registration(number, at(2), sent=timedelta(seconds=number + 1))
    first = stats.funnel(PERIOD).medians["code_sent"]
    assert first.population == 200
    assert 0 < first.of <= 10
    assert first.sampled
    assert first.value is not None
    assert timedelta(seconds=1) <= first.value <= timedelta(seconds=200)
    # A sample, not the first rows: not all from the start of the range.
    assert first.value > timedelta(seconds=10)
    assert stats.funnel(PERIOD).medians["code_sent"] == first  # the same sample on every load


def test_the_sample_threshold_covers_its_share_of_the_uuid_space() -> None:
    assert stats.below(1.0).int == 2**128 - 1
    assert stats.below(0.5).int == 2**127
    assert stats.below(0.0).int == 0


@pytest.mark.django_db
def test_the_period_is_whole_days_in_the_current_time_zone(db: None) -> None:
    with timezone.override("Asia/Shanghai"):
        inside = registration(1, timezone.make_aware(datetime(2026, 5, 1, 0, 0)))
        registration(2, timezone.make_aware(datetime(2026, 4, 30, 23, 59, 59)))
        assert stats.funnel(stats.Period(date(2026, 5, 1), date(2026, 5, 1))).counts["started"] == 1
    assert inside.pk


@pytest.mark.django_db
def test_refusals_by_reason_and_failures_by_code_and_kind(cohort: list[PhoneRegistration]) -> None:
    reg = cohort[1]
    when = at(10)

    def send(outcome: str, **fields: Any) -> None:
        row = CodeRequest.objects.create(
            registration=reg, method="sms", channel="admin", outcome=outcome, finished_at=when, **fields
        )
        CodeRequest.objects.filter(pk=row.pk).update(created_at=when)

    def check(outcome: str, **fields: Any) -> None:
        row = VerificationAttempt.objects.create(
            registration=reg,
            channel="admin",
            outcome=outcome,
            finished_at=when,
            code_digest="0" * 64,
            **fields,
        )
        VerificationAttempt.objects.filter(pk=row.pk).update(created_at=when)

    send("refused", refusal_reason="cooldown")
    send("refused", refusal_reason="cooldown")
    check("refused", refusal_reason="cooldown")
    check("refused", refusal_reason="too_many_attempts")
    check("rejected", result_code=9001, result_message="Verification code is incorrect")
    check("rejected", result_code=9001, result_message="Verification code is incorrect")
    send("failed", failure="configuration", result_code=1003, result_message="sign error")
    send("failed", failure="unreachable")
    check("unknown", failure="maybe_sent")
    check("accepted")  # went through: not counted
    outside = VerificationAttempt.objects.create(
        registration=reg, channel="admin", outcome="rejected", result_code=9001, code_digest="1" * 64
    )
    VerificationAttempt.objects.filter(pk=outside.pk).update(created_at=at(1) - timedelta(days=1))

    result = stats.funnel(PERIOD)
    assert result.refusals == {"cooldown": {"send": 2, "check": 1}, "too_many_attempts": {"check": 1}}
    assert result.by_code == {
        9001: ({"check": 2}, "Verification code is incorrect"),
        1003: ({"send": 1}, "sign error"),
        None: ({"send": 1, "check": 1}, ""),
    }
    assert result.by_kind == {
        "": {"check": 2},
        "configuration": {"send": 1},
        "unreachable": {"send": 1},
        "maybe_sent": {"check": 1},
    }


@pytest.mark.django_db
def test_the_numbers_take_three_queries_however_many_rows(db: None) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            stats.funnel(PERIOD)
        return len(captured)

    registration(1, at(2), sent=timedelta(minutes=1), verified=timedelta(minutes=1))
    few = queries()
    for number in range(2, 60):
        registration(number, at(3), sent=timedelta(minutes=number), verified=timedelta(minutes=1))
    assert few == queries() == 3


@pytest.mark.django_db
def test_filters_narrow_the_registrations_and_their_calls(db: None) -> None:
    mine, other = make_user("mine"), make_user("other")
    kept = registration(1, at(2), sent=timedelta(minutes=1), owner=mine)
    registration(2, at(2), sent=timedelta(minutes=1), owner=other)
    row = VerificationAttempt.objects.create(
        registration=kept, channel="admin", outcome="rejected", result_code=9001, code_digest="0" * 64
    )
    VerificationAttempt.objects.filter(pk=row.pk).update(created_at=at(3))
    result = stats.funnel(PERIOD, {"owner": other})
    assert result.counts["started"] == 1
    assert result.by_code == {}
    assert stats.funnel(PERIOD, {"owner": mine}).by_code == {9001: ({"check": 1}, "")}
    assert stats.funnel(PERIOD, {"owner": None}).counts["started"] == 2  # "any" filters nothing


# -- the form and the words ---------------------------------------------------------------------------


def test_the_form_defaults_to_the_last_30_days() -> None:
    form = FunnelForm({}, today=TODAY)
    assert form.is_valid()
    assert form.cleaned_data["period"] == stats.Period(date(2026, 4, 21), TODAY)


def test_a_period_that_ends_before_it_starts_is_an_error() -> None:
    form = FunnelForm({"date_from": "2026-05-10", "date_to": "2026-05-01"})
    assert not form.is_valid()
    assert form.non_field_errors() == ["The period ends before it starts."]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42, "42 s"), (200, "3 min 20 s"), (7500, "2 h 5 min"), (273600, "3 d 4 h"), (None, "—")],
)
def test_durations_read_at_a_glance(seconds: int | None, text: str) -> None:
    assert duration_text(None if seconds is None else timedelta(seconds=seconds)) == text


def test_bars_are_proportional_and_never_localised() -> None:
    chart = bar_chart("c", "t", [("a", 100, "", "step0"), ("b", 25, "25.0%", "step1"), ("c", 0, "", "x")])
    widths = [float(bar.width) for bar in chart.bars]
    assert widths[0] == 2 * widths[1] * 2
    assert widths[2] == 0
    assert chart.bars[1].value == "25 · 25.0%"
    assert all(re.fullmatch(r"\d+(\.\d)?", bar.width) for bar in chart.bars)


# -- the page ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_draws_the_funnel_and_tabulates_it(
    staff_viewer: Any, cohort: list[PhoneRegistration]
) -> None:
    response = logged_in(staff_viewer).get(
        reverse(FUNNEL), {"date_from": "2026-05-01", "date_to": "2026-05-20"}
    )
    assert response.status_code == 200
    page = html(response)
    assert page.count('<svg class="nxwa-chart"') == 1  # nothing refused or failed: one chart
    assert 'role="img"' in page
    assert "Nothing was refused in this period." in page
    table = page.split('<table class="nxwa-funnel-table">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", table)
    assert cells[5:11] == ["Started", "7", "—", "100.0%", "—", ""] or cells[5:10] == [
        "Started",
        "7",
        "—",
        "100.0%",
        "—",
    ]
    assert '<th scope="row">Verified</th><td>3</td><td>50.0%</td><td>42.9%</td><td>20 min 0 s' in page
    assert "(of 3 registrations)" in page


@pytest.mark.django_db
def test_the_page_has_no_inline_style_or_script(staff_viewer: Any, cohort: list[PhoneRegistration]) -> None:
    page = html(logged_in(staff_viewer).get(reverse(FUNNEL)))
    assert not re.search(r"\sstyle=", page)
    assert "<style" not in page
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", page) == []
    assert "nxwa_onboarding/admin/funnel.css" in page


@pytest.mark.django_db
def test_a_bad_period_shows_the_error_and_no_numbers(
    staff_viewer: Any, cohort: list[PhoneRegistration]
) -> None:
    page = html(
        logged_in(staff_viewer).get(reverse(FUNNEL), {"date_from": "2026-05-10", "date_to": "2026-05-01"})
    )
    assert "The period ends before it starts." in page
    assert "nxwa-chart" not in page


@pytest.mark.django_db
def test_who_may_see_the_page(staff_viewer: Any, cohort: list[PhoneRegistration]) -> None:
    assert Client().get(reverse(FUNNEL)).status_code == 302
    outsider = make_user("outsider", staff=True, perms=("view_coderequest",))
    assert logged_in(outsider).get(reverse(FUNNEL)).status_code == 403
    changer = make_user("changer", staff=True, perms=("change_phoneregistration",))
    assert logged_in(changer).get(reverse(FUNNEL)).status_code == 200
    assert logged_in(staff_viewer).get(reverse(FUNNEL)).status_code == 200


@pytest.mark.django_db
def test_the_page_takes_a_handful_of_queries_however_many_rows(staff_viewer: Any) -> None:
    client = logged_in(staff_viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(FUNNEL)).status_code == 200
        return len(captured)

    now = timezone.now()
    registration(1, now - timedelta(days=1), sent=timedelta(minutes=1))
    few = queries()
    for number in range(2, 80):
        registration(
            number, now - timedelta(days=2), sent=timedelta(minutes=1), verified=timedelta(minutes=2)
        )
    many = queries()
    # The session, the user, their user and group permissions, the funnel's three, its
    # breakdown by region, and the application filter's choices (with the default application).
    assert few == many == 10


@pytest.mark.django_db
def test_the_list_and_the_app_index_link_to_the_page(staff_viewer: Any) -> None:
    client = logged_in(staff_viewer)
    url = reverse(FUNNEL)
    assert url == "/admin/nxwa_onboarding/phoneregistration/funnel/"
    assert f'href="{url}"' in html(client.get(reverse("admin:nxwa_onboarding_phoneregistration_changelist")))
    assert f'href="{url}"' in html(client.get(reverse("admin:app_list", args=["nxwa_onboarding"])))


@pytest.mark.django_db
def test_another_site_gets_its_own_page_with_its_filters(superuser: Any, db: None) -> None:
    mine = make_user("mine")
    registration(1, timezone.now() - timedelta(days=1), owner=mine)
    registration(2, timezone.now() - timedelta(days=1))
    client = logged_in(superuser)
    url = reverse("staff:nxwa_onboarding_funnel")
    assert url == "/staff/nxwa_onboarding/phoneregistration/funnel/"
    page = html(client.get(url))
    assert 'name="owner"' in page
    assert [link for link in re.findall(r'href="([^"]+)"', page) if link.startswith("/admin/")] == []
    narrowed = html(client.get(url, {"owner": mine.pk}))
    assert '<th scope="row">Started</th><td>1</td>' in narrowed
    assert '<th scope="row">Started</th><td>2</td>' in page
    assert 'name="owner"' not in html(client.get(reverse(FUNNEL)))  # the default admin has no filter


@pytest.mark.django_db
def test_the_page_in_chinese(staff_viewer: Any, cohort: list[PhoneRegistration]) -> None:
    client = logged_in(staff_viewer, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = html(client.get(reverse(FUNNEL), {"date_from": "2026-05-01", "date_to": "2026-05-20"}))
    assert "接入漏斗" in page
    assert "已验证" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("2026-05-01", "9999-12-31"), ("0001-01-01", "2026-05-01"), ("0001-01-01", "9999-12-31")],
)
def test_a_period_at_the_ends_of_the_calendar_is_a_form_error(
    staff_viewer: Any, date_from: str, date_to: str
) -> None:
    response = logged_in(staff_viewer).get(reverse(FUNNEL), {"date_from": date_from, "date_to": date_to})
    assert response.status_code == 200
    page = html(response)
    assert "Choose dates between" in page
    assert "nxwa-chart" not in page
