"""Issue 26, staff's side: the lists show the columns that matter (the rest one click away), the
send confirmation offers only "Back" when nothing would be sent, "needs attention" counts from
the event it describes, "expired" said once in staff's words, and numbers formatted everywhere."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.admin.presenters import attention_text, check_summary_text
from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt, WebhookDelivery
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import CHANGELIST, act, change_url, html, logged_in
from tests.helpers.pages import text_of
from tests.helpers.webhooks import new_application

pytestmark = pytest.mark.django_db
FIRST = "+86 138 0013 8000"
SECOND = "+86 139 0013 9000"


def columns(page: str) -> list[str]:
    """The changelist's column classes, in order (``column-<name>``)."""
    return re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', page)


def test_send_confirmation_offers_only_back_when_every_number_would_be_refused(
    staff: Any, nxcloud: FakeNXCloud
) -> None:
    both = [services.create_registration(FIRST), services.create_registration(SECOND)]
    for registration in both:
        services.request_code(registration, "sms")  # both in their resend cooldown now
    client = logged_in(staff)
    page = html(act(client, "send_code_sms", both, confirm=False))
    assert page.count("will be refused") == 2
    assert "No code would be sent" in page
    assert "Yes, send the codes" not in page
    assert 'type="submit"' not in page.split('id="content"')[1]
    assert re.search(r'<a href="#" class="button cancel-link">Back</a>', page)
    # One number that would be sent: the usual question and button.
    third = services.create_registration("+86 137 0013 7000")
    page = html(act(client, "send_code_sms", [*both, third], confirm=False))
    assert "Yes, send the codes" in page
    assert "No code would be sent" not in page


def test_needs_attention_counts_from_the_code_sent(customer: Any, nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(FIRST, owner=customer)
    services.request_code(registration, "sms")
    four_days_ago = timezone.now() - timedelta(days=4)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        code_sent_at=four_days_ago, stuck_at=timezone.now() - timedelta(minutes=18)
    )
    registration.refresh_from_db()
    assert attention_text(registration).startswith("Needs attention (for 4\xa0days): a code was sent")


def test_needs_attention_in_progress_counts_from_verified(customer: Any, nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(FIRST, owner=customer)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status="client_created",
        verified_at=timezone.now() - timedelta(days=2),
        stuck_at=timezone.now() - timedelta(minutes=5),
    )
    registration.refresh_from_db()
    assert attention_text(registration).startswith("Needs attention (for 2\xa0days): in progress too long.")


def test_an_expired_code_is_said_once_in_staff_words(staff: Any, customer: Any, nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(FIRST, owner=customer)
    services.request_code(registration, "sms")
    services.check_code(registration, "000000" if nxcloud.latest_code("8613800138000") != "000000" else "1")
    code_request = registration.code_requests.get()
    type(code_request).objects.filter(pk=code_request.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        code_sent_at=timezone.now() - timedelta(hours=1)
    )
    registration.refresh_from_db()
    text = check_summary_text(services.get_state(registration).check)
    assert text.count("expired") == 1, text
    assert "Ask for a new code" not in text
    words = text_of(html(logged_in(staff).get(change_url(registration))))
    assert "1 of 5 tries used on the current code. It has expired. " in words
    assert "Ask for a new code" not in words


def test_attempts_list_shows_the_columns_that_matter(staff: Any, customer: Any, nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(FIRST, owner=customer)
    services.request_code(registration, "sms", ip="198.51.100.7", channel="customer")
    services.check_code(registration, "12", ip="198.51.100.7", channel="customer")  # refused: malformed
    client = logged_in(staff)
    page = html(client.get(reverse("admin:nxwa_onboarding_verificationattempt_changelist")))
    assert columns(page) == ["created", "registration_link", "outcome_badge", "channel", "ip"]
    # The refusal's reason under its outcome, and the rest one click away: the row links to its page.
    attempt = VerificationAttempt.objects.get()
    assert str(attempt.get_refusal_reason_display()) in text_of(page)
    assert reverse("admin:nxwa_onboarding_verificationattempt_change", args=[attempt.pk]) in page
    page = html(client.get(reverse("admin:nxwa_onboarding_coderequest_changelist")))
    assert columns(page) == ["created", "registration_link", "outcome_badge", "method", "channel", "ip"]


def test_the_registration_page_links_each_audit_row_to_its_page(
    staff: Any, customer: Any, nxcloud: FakeNXCloud
) -> None:
    registration = services.create_registration(FIRST, owner=customer)
    services.request_code(registration, "sms", ip="198.51.100.7")
    page = html(logged_in(staff).get(change_url(registration)))
    code_request = registration.code_requests.get()
    assert reverse("admin:nxwa_onboarding_coderequest_change", args=[code_request.pk]) in page


def test_the_webhook_list_formats_the_number(superuser: Any, nxcloud: FakeNXCloud) -> None:
    application = new_application(nxcloud)
    WebhookDelivery.objects.create(
        application=application,
        kind="account_update",
        event="DISABLED_UPDATE",
        phone_number="8613700137000",
        outcome="unmatched",
        dedupe_key="k" * 64,
    )
    page = html(logged_in(superuser).get(reverse("admin:nxwa_onboarding_webhookdelivery_changelist")))
    assert "+86 137 0013 7000" in page
    assert "8613700137000" not in text_of(page)
    assert columns(page) == ["received", "event", "phone", "outcome", "detail"]


def test_the_registration_list_is_unchanged(staff: Any) -> None:
    services.create_registration(FIRST)
    page = html(logged_in(staff).get(reverse(CHANGELIST)))
    assert columns(page) == ["phone", "owner", "status_badge", "attempts", "last_activity", "nxcloud_display"]
