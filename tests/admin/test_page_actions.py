"""Staff's rough edges: buttons on the registration's page, the code page that stays, audit times
to the second, and a failed registration described the same way by every action."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from nxwa_onboarding import services
from nxwa_onboarding.admin.presenters import audit_time, failed_text
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import PHONE, act, change_url, check_url, html, logged_in, message_texts, verify
from tests.helpers.services import rules
from tests.helpers.users import VIEW_PERMS, make_user

FIRST = "+86 138 0013 8000"
CODE_FIELD = re.compile(r"<input[^>]*name=\"code\"")


def send_url(registration: PhoneRegistration, method: str = "sms") -> str:
    return reverse("admin:nxwa_onboarding_phoneregistration_send_code", args=[registration.pk, method])


def client_url(registration: PhoneRegistration) -> str:
    return reverse("admin:nxwa_onboarding_phoneregistration_create_client", args=[registration.pk])


@pytest.fixture
def fresh(db: None) -> PhoneRegistration:
    return services.create_registration(FIRST)


# -- the buttons on the registration's page ---------------------------------------------------------


@pytest.mark.django_db
def test_an_unverified_registration_offers_sending_a_code(staff: Any, fresh: PhoneRegistration) -> None:
    page = html(logged_in(staff).get(change_url(fresh)))
    assert f'href="{send_url(fresh, "sms")}"' in page
    assert f'href="{send_url(fresh, "voice")}"' in page
    assert "Send code by SMS" in page
    assert client_url(fresh) not in page


@pytest.mark.django_db
def test_a_verified_registration_offers_creating_the_client_only(
    staff: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    verify(fresh, nxcloud)
    page = html(logged_in(staff).get(change_url(fresh)))
    assert f'href="{client_url(fresh)}"' in page
    assert "Create client" in page
    assert send_url(fresh) not in page


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["client_created", "registered", "failed", "closed"])
def test_no_button_where_no_action_applies(staff: Any, fresh: PhoneRegistration, status: str) -> None:
    PhoneRegistration.objects.filter(pk=fresh.pk).update(status=status)
    page = html(logged_in(staff).get(change_url(fresh)))
    assert send_url(fresh) not in page
    assert client_url(fresh) not in page


@pytest.mark.django_db
def test_no_button_and_403_without_send_code(staff_viewer: Any, fresh: PhoneRegistration) -> None:
    client = logged_in(staff_viewer)
    assert send_url(fresh) not in html(client.get(change_url(fresh)))
    assert client.get(send_url(fresh)).status_code == 403
    assert client.post(send_url(fresh), {"post": "yes"}).status_code == 403
    assert client.post(client_url(fresh), {"post": "yes"}).status_code == 403
    assert CodeRequest.objects.count() == 0


@pytest.mark.django_db
def test_send_code_alone_opens_no_registration(fresh: PhoneRegistration, nxcloud: FakeNXCloud) -> None:
    client = logged_in(make_user("sender", staff=True, perms=("send_code",)))
    assert client.get(send_url(fresh)).status_code == 403
    assert client.post(send_url(fresh), {"post": "yes"}).status_code == 403
    assert nxcloud.calls_to("getCode") == []


@pytest.mark.django_db
def test_the_send_button_confirms_first_then_sends_and_comes_back(
    staff: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    client = logged_in(staff)
    confirmation = client.get(send_url(fresh, "voice"))
    assert confirmation.status_code == 200
    assert "Send a verification code by voice call to these numbers?" in html(confirmation)
    assert "will be sent" in html(confirmation)
    assert nxcloud.calls_to("getCode") == []
    done = client.post(send_url(fresh, "voice"), {"post": "yes"})
    assert done.status_code == 302
    assert done["Location"] == change_url(fresh)
    assert message_texts(done) == [("success", f"Code sent by voice call to 1 number: {FIRST}.")]
    assert [c.method for c in CodeRequest.objects.all()] == ["voice"]


@pytest.mark.django_db
def test_the_create_client_button_confirms_first_then_creates(
    staff: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    verify(fresh, nxcloud)
    client = logged_in(staff)
    confirmation = client.get(client_url(fresh))
    assert "This cannot be undone from here." in html(confirmation)
    assert nxcloud.calls_to("createClient") == []
    done = client.post(client_url(fresh), {"post": "yes"})
    assert done["Location"] == change_url(fresh)
    assert message_texts(done) == [("success", f"WhatsApp client created for 1 number: {FIRST}.")]
    fresh.refresh_from_db()
    assert fresh.status == PhoneRegistration.Status.CLIENT_CREATED


@pytest.mark.django_db
def test_a_made_up_method_or_registration_is_404(staff: Any, fresh: PhoneRegistration) -> None:
    client = logged_in(staff)
    assert client.get(send_url(fresh, "fax")).status_code == 404
    missing = reverse("admin:nxwa_onboarding_phoneregistration_send_code", args=[999999, "sms"])
    assert client.get(missing).status_code == 404


# -- the enter-code page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_code_page_without_a_code_says_so_once_and_offers_sending(
    staff: Any, fresh: PhoneRegistration
) -> None:
    page = html(logged_in(staff).get(check_url(fresh)))
    assert page.count("No code has been sent to this number yet.") == 1
    assert not CODE_FIELD.search(page)
    assert f'href="{send_url(fresh, "sms")}"' in page
    assert f'href="{send_url(fresh, "voice")}"' in page


@pytest.mark.django_db
def test_code_page_without_a_code_offers_nothing_to_who_may_not_send(fresh: PhoneRegistration) -> None:
    typist = make_user("typist", staff=True, perms=(*VIEW_PERMS, "verify_phone"))
    page = html(logged_in(typist).get(check_url(fresh)))
    assert page.count("No code has been sent to this number yet.") == 1
    assert not CODE_FIELD.search(page)
    assert send_url(fresh) not in page


@pytest.mark.django_db
@rules(MAX_CHECK_ATTEMPTS=2)
def test_after_the_last_wrong_try_the_page_stays_and_offers_a_new_code(
    staff: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    services.request_code(fresh, "sms")
    client = logged_in(staff)
    first = client.post(check_url(fresh), {"code": "000001"})
    assert first["Location"] == check_url(fresh)
    assert CODE_FIELD.search(html(client.get(check_url(fresh))))
    last = client.post(check_url(fresh), {"code": "000002"})
    assert last["Location"] == check_url(fresh)
    page = html(client.get(check_url(fresh)))
    assert not CODE_FIELD.search(page)
    assert page.count("Too many wrong tries for this code.") == 1
    assert f'href="{send_url(fresh, "sms")}"' in page


@pytest.mark.django_db
def test_the_page_of_a_verified_number_has_no_form_and_the_right_code_goes_back(
    staff: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    services.request_code(fresh, "sms")
    client = logged_in(staff)
    response = client.post(check_url(fresh), {"code": nxcloud.latest_code(PHONE)})
    assert response["Location"] == change_url(fresh)
    page = html(client.get(check_url(fresh)))
    assert page.count("This number is already verified.") == 1
    assert not CODE_FIELD.search(page)


# -- audit times -----------------------------------------------------------------------------------


def test_audit_time_has_seconds_and_the_zone() -> None:
    moment = datetime(2026, 5, 1, 2, 20, 33, tzinfo=UTC)
    assert ">2026-05-01 02:20:33 UTC</time>" in audit_time(moment)
    assert 'datetime="2026-05-01T02:20:33+00:00"' in audit_time(moment)
    with timezone.override("Asia/Shanghai"):
        assert ">2026-05-01 10:20:33 Asia/Shanghai (UTC+08:00)</time>" in audit_time(moment)
    assert audit_time(None) == "—"


@pytest.mark.django_db
def test_inlines_and_audit_lists_show_seconds_and_the_zone(
    superuser: Any, fresh: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    services.request_code(fresh, "sms")
    services.check_code(fresh, "000000")
    moment = datetime(2026, 5, 1, 2, 20, 33, tzinfo=UTC)
    CodeRequest.objects.update(created_at=moment)
    VerificationAttempt.objects.update(created_at=moment)
    client = logged_in(superuser)
    stamp = re.compile(r">2026-05-01 02:20:33 UTC</time>")
    assert len(stamp.findall(html(client.get(change_url(fresh))))) == 2  # one per inline
    for model in ("coderequest", "verificationattempt"):
        listing = html(client.get(reverse(f"admin:nxwa_onboarding_{model}_changelist")))
        assert len(stamp.findall(listing)) == 1, model
    attempt = VerificationAttempt.objects.get()
    detail = html(client.get(reverse("admin:nxwa_onboarding_verificationattempt_change", args=[attempt.pk])))
    assert stamp.search(detail)
    assert re.search(r">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>", detail.split("Finished at", 1)[1])


# -- a failed registration, the same words everywhere ---------------------------------------------------


@pytest.fixture
def failed(fresh: PhoneRegistration, nxcloud: FakeNXCloud) -> PhoneRegistration:
    """Verified here, then NXCloud could not register its client (register_status 2)."""
    verify(fresh, nxcloud)
    services.create_client(fresh)
    nxcloud.set_register_status(fresh.phone_number, 2)
    services.sync_statuses()
    fresh.refresh_from_db()
    assert fresh.status == PhoneRegistration.Status.FAILED
    return fresh


@pytest.mark.django_db
def test_a_failed_registration_is_described_the_same_way_by_every_action_and_the_page(
    superuser: Any, failed: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    words = failed_text(failed)
    assert "could not register it" in words
    client = logged_in(superuser)
    expected = ("warning", f"{FIRST}: {words}")
    assert words in html(client.get(change_url(failed)))
    assert "Code checks and sends are refused" not in html(client.get(change_url(failed)))
    for action in ("send_code_sms", "create_whatsapp_client", "close_registrations"):
        assert words in html(act(client, action, [failed], confirm=False)), action
    assert expected in message_texts(act(client, "send_code_sms", [failed], confirm=True))
    assert expected in message_texts(act(client, "create_whatsapp_client", [failed], confirm=True))
    assert expected in message_texts(act(client, "refresh_from_nxcloud", [failed], confirm=False))
    closing = logged_in(superuser).post(
        reverse("admin:nxwa_onboarding_phoneregistration_changelist"),
        {"action": "close_registrations", "_selected_action": [failed.pk], "post": "yes", "reason": "done"},
    )
    assert message_texts(closing) == [expected]
    assert nxcloud.calls_to("getCode")[1:] == []  # the one code that verified it, no more


@pytest.mark.django_db  # an unsaved registration still picks its application
def test_failed_text_names_what_failed() -> None:
    registration = PhoneRegistration(phone_number="8613800138000", status="failed", register_status=1)
    assert failed_text(registration).startswith("NXCloud could not create its WhatsApp client")
    registration.register_status = None
    assert failed_text(registration).startswith("NXCloud could not set up its WhatsApp client")


@pytest.mark.django_db
def test_a_failed_registration_in_a_mixed_selection_is_not_called_unverified(
    staff: Any, failed: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    other = services.create_registration("+86 139 0013 9000")
    texts = message_texts(act(logged_in(staff), "create_whatsapp_client", [failed, other], confirm=True))
    assert ("warning", f"{FIRST}: {failed_text(failed)}") in texts
    assert ("warning", "Skipped 1 number that is not verified yet: +86 139 0013 9000.") in texts


@pytest.mark.django_db
def test_the_new_words_are_translated() -> None:
    registration = PhoneRegistration(phone_number="8613800138000", status="failed", register_status=2)
    with translation.override("zh-hans"):
        assert failed_text(registration).startswith("NXCloud 已创建其 WhatsApp 客户端")
        with timezone.override("UTC"):
            assert "UTC" in audit_time(datetime(2026, 5, 1, tzinfo=UTC))
