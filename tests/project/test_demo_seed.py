"""``make demo``'s seed gives the funnel page something at every step (and is written once)."""

from __future__ import annotations

import pytest

from nxwa_onboarding.admin import funnel_stats as stats
from nxwa_onboarding.models import PhoneRegistration
from tests.helpers.demo import run_demo_setup


@pytest.mark.django_db
def test_the_seed_fills_every_step_of_the_funnel() -> None:
    said = run_demo_setup()
    assert "/admin/nxwa_onboarding/phoneregistration/funnel/" in said
    result = stats.funnel(stats.Period.last_days(30))
    counts = result.counts
    assert all(counts[name] > 0 for name in (*stats.STEPS, "failed", "closed")), counts
    assert counts["started"] > counts["code_sent"] > counts["verified"] > counts["registered"]
    assert all(result.medians[step].value for step in stats.STEPS[1:]), result.medians
    assert {"cooldown", "too_many_attempts", "ip_limit"} <= set(result.refusals)
    assert {9001, 1003, None} <= set(result.by_code)
    assert {"", "configuration", "unreachable", "maybe_sent"} <= set(result.by_kind)


@pytest.mark.django_db
def test_the_seed_is_written_once() -> None:
    run_demo_setup()
    count = PhoneRegistration.objects.count()
    assert "example data kept" in run_demo_setup()
    assert PhoneRegistration.objects.count() == count


@pytest.mark.django_db(transaction=True)
def test_the_workers_first_pass_over_the_seed_sets_every_verified_number_up(sandbox_server: str) -> None:
    """The demo's worker finds the seeded verified numbers (no createClient started) and sets
    them up: the sandbox must have been told they were verified, or it answers 9001 and the
    admin shows the set-ups as refused."""
    from nxwa_onboarding import tasks
    from nxwa_onboarding.choices import RegistrationStatus as Status

    run_demo_setup()
    verified = set(PhoneRegistration.objects.filter(status=Status.VERIFIED).values_list("pk", flat=True))
    assert len(verified) >= 3  # one of the examples and some of the crowd
    tasks.follow_pass()  # the immediate backend: the set-ups run inline
    after = dict(PhoneRegistration.objects.filter(pk__in=verified).values_list("pk", "status"))
    assert set(after.values()) <= {Status.CLIENT_CREATED, Status.REGISTERED}, after
