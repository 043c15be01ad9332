"""The audit admins: view-only for everyone, superusers included; the IP shown, the code never."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import assert_nothing_secret, html, logged_in
from tests.helpers.users import make_user

PHONE = "8613800138000"
MODELS = ("verificationattempt", "coderequest")


def url(model: str, view: str, *args: Any) -> str:
    return reverse(f"admin:nxwa_onboarding_{model}_{view}", args=args)


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_audit_lists_show_the_ip_and_never_the_code_or_its_digest(
    staff: Any, trail: PhoneRegistration, nxcloud: FakeNXCloud, model: str
) -> None:
    response = logged_in(staff).get(url(model, "changelist"))
    assert response.status_code == 200
    page = html(response)
    assert "198.51.100.7" in page
    assert "+86 138 0013 8000" in page
    assert reverse("admin:nxwa_onboarding_phoneregistration_change", args=[trail.pk]) in page
    for attempt in VerificationAttempt.objects.all():
        assert attempt.code_digest not in page
    assert "digest" not in page.lower()
    assert_nothing_secret(page, nxcloud)
    assert url(model, "add") not in page  # no "Add" button
    assert 'name="action"' not in page  # no actions, so no bulk delete


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_audit_detail_is_read_only_and_hides_the_digest(
    superuser: Any, trail: PhoneRegistration, nxcloud: FakeNXCloud, model: str
) -> None:
    row = (VerificationAttempt if model == "verificationattempt" else CodeRequest).objects.first()
    assert row is not None
    response = logged_in(superuser).get(url(model, "change", row.pk))
    assert response.status_code == 200
    page = html(response)
    assert 'name="_save"' not in page
    assert response.context["has_change_permission"] is False
    assert "digest" not in page.lower()
    if isinstance(row, VerificationAttempt):
        assert row.code_digest not in page
    assert_nothing_secret(page, nxcloud)
    assert row.ip is not None
    assert row.ip in page


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_nobody_adds_changes_or_deletes_audit_rows(
    request: pytest.FixtureRequest, trail: PhoneRegistration, model: str, who: str
) -> None:
    client = logged_in(request.getfixturevalue(who))
    row_model = VerificationAttempt if model == "verificationattempt" else CodeRequest
    row: Any = row_model.objects.order_by("pk").first()
    before = [(r.pk, r.outcome, r.ip, r.result_code) for r in row_model.objects.order_by("pk")]

    assert client.get(url(model, "add")).status_code == 403
    assert (
        client.post(url(model, "add"), {"registration": trail.pk, "outcome": "accepted"}).status_code == 403
    )
    assert client.get(url(model, "delete", row.pk)).status_code == 403
    assert client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    # The change URL only shows (view permission); a POST is refused.
    assert (
        client.post(url(model, "change", row.pk), {"outcome": "accepted", "ip": "1.2.3.4"}).status_code == 403
    )
    bulk = client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)

    assert [(r.pk, r.outcome, r.ip, r.result_code) for r in row_model.objects.order_by("pk")] == before


@pytest.mark.django_db
def test_audit_lists_filter_by_outcome_channel_user_and_date(staff: Any, trail: PhoneRegistration) -> None:
    client = logged_in(staff)
    attempts = url("verificationattempt", "changelist")

    def count(params: dict[str, Any]) -> int:
        response = client.get(attempts, params)
        assert response.status_code == 200
        total: int = response.context["cl"].result_count
        return total

    assert count({}) == 2
    assert count({"outcome__exact": "accepted"}) == 1
    assert count({"outcome__exact": "rejected"}) == 1
    assert count({"channel__exact": "admin"}) == 1
    assert count({"user__id__exact": staff.pk}) == 1
    assert count({"created_at__gte": "2000-01-01 00:00:00+00:00"}) == 2
    assert count({"created_at__lt": "2000-01-01 00:00:00+00:00"}) == 0

    sends = url("coderequest", "changelist")
    response = client.get(sends, {"method__exact": "voice"})
    assert response.context["cl"].result_count == 1
    assert (
        client.get(sends, {"outcome__exact": "sent", "channel__exact": "customer"}).context["cl"].result_count
        == 1
    )


@pytest.mark.django_db
@pytest.mark.parametrize("term", ["+86 138-0013-8000", "8613800138000", "203.0.113.9", "staff"])
def test_audit_search_by_number_ip_or_user(staff: Any, trail: PhoneRegistration, term: str) -> None:
    response = logged_in(staff).get(url("verificationattempt", "changelist"), {"q": term})
    rows = list(response.context["cl"].result_list)
    assert rows
    assert {row.registration_id for row in rows} == {trail.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_audit_admins_need_the_view_permission(trail: PhoneRegistration, model: str) -> None:
    outsider = make_user("outsider", staff=True, perms=("view_phoneregistration",))
    assert logged_in(outsider).get(url(model, "changelist")).status_code == 403
    response = Client().get(url(model, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_audit_search_takes_an_international_prefix(staff: Any, trail: PhoneRegistration) -> None:
    response = logged_in(staff).get(url("coderequest", "changelist"), {"q": "0086 138 0013 8000"})
    assert [row.registration_id for row in response.context["cl"].result_list] == [trail.pk]
