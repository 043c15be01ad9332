"""The fraud guard in the admin: blocked prefixes listed with their figures and lifted with a
reason, the allow-list, the banner of what the guard did today, and the funnel by region."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.admin import funnel_stats as stats
from nxwa_onboarding.models import AllowedPrefix, BlockedPrefix
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import html, logged_in, message_texts
from tests.helpers.fraud import GB_PREFIX, cn_number, gb_number
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

BLOCK = {"min_sends": 2, "max_conversion": 0.05, "prefix_digits": 7, "window_hours": 24, "mode": "block"}


def pump(count: int) -> None:
    for index in range(count):
        services.start_registration(gb_number(index))


def test_blocked_prefixes_are_listed_with_their_figures_and_the_banner_tells_staff(
    superuser: Any, nxcloud: FakeNXCloud
) -> None:
    with rules(AUTO_BLOCK=BLOCK, SEND_BUDGETS={"CN": 1}):
        pump(3)
        services.start_registration(cn_number(1, 1))
        services.start_registration(cn_number(1, 2))
    client = logged_in(superuser)
    listed = html(client.get(reverse("admin:nxwa_onboarding_blockedprefix_changelist")))
    assert f"+{GB_PREFIX}" in listed
    assert "0 / 2 (0%)" in listed  # verified of the numbers sent to
    registrations = client.get(reverse("admin:nxwa_onboarding_phoneregistration_changelist"))
    texts = [text for _level, text in message_texts(registrations)]
    assert any("AUTO_BLOCK" in text and GB_PREFIX in text for text in texts)
    assert any("SEND_BUDGETS" in text and "CN" in text for text in texts)


def test_staff_lift_a_block_with_a_reason(superuser: Any, nxcloud: FakeNXCloud) -> None:
    with rules(AUTO_BLOCK=BLOCK):
        pump(3)
    blocked = BlockedPrefix.objects.get()
    client = logged_in(superuser)
    url = reverse("admin:nxwa_onboarding_blockedprefix_change", args=[blocked.pk])
    page = html(client.post(url, {"lift_reason": ""}))
    assert "This field is required" in page
    blocked.refresh_from_db()
    assert blocked.lifted_at is None
    client.post(url, {"lift_reason": "A real shop's range"})
    blocked.refresh_from_db()
    assert (blocked.lifted_by, blocked.lift_reason) == (superuser, "A real shop's range")
    assert blocked.lifted_at is not None
    with rules(AUTO_BLOCK=BLOCK):
        services.start_registration(gb_number(50))
    assert len(nxcloud.calls_to("getCode")) == 3  # two before the block, one after the lift


def test_the_allow_list_is_kept_in_the_admin(superuser: Any) -> None:
    client = logged_in(superuser)
    url = reverse("admin:nxwa_onboarding_allowedprefix_add")
    page = html(client.post(url, {"prefix": "44 abc", "note": ""}))
    assert "Enter a number or prefix with its country code" in page
    client.post(url, {"prefix": "+44 7400 1", "note": "our test phones"})
    row = AllowedPrefix.objects.get()
    assert (row.prefix, row.added_by) == ("4474001", superuser)


def test_the_funnel_by_region(staff: Any, nxcloud: FakeNXCloud) -> None:
    for index in range(3):
        registration = services.start_registration(cn_number(2, index))
        if index == 0:
            code = nxcloud.latest_code(registration.phone_number)
            assert code is not None
            services.check_code(registration, code)
    services.start_registration(gb_number(1))
    period = stats.Period.last_days(1)
    rows = {row.region: row for row in stats.by_region(period)}
    assert (rows["CN"].started, rows["CN"].verified) == (3, 1)
    assert (rows["GB"].started, rows["GB"].verified) == (1, 0)
    page = html(logged_in(staff).get(reverse("admin:nxwa_onboarding_funnel")))
    assert "By region" in page
    assert "33.3%" in page
