"""The registration admin as staff use it: list, search, filters, add, change page, enter a code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.admin import forms as admin_forms
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import (
    CHANGELIST,
    PHONE,
    assert_nothing_secret,
    change_url,
    check_url,
    html,
    logged_in,
    message_texts,
)
from tests.helpers.services import rules
from tests.helpers.users import VIEW_PERMS, make_user

# -- who may see what -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_admin_login(registration: PhoneRegistration) -> None:
    client = Client()
    for url in (reverse(CHANGELIST), change_url(registration), check_url(registration)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    response = client.post(check_url(registration), {"code": "123456"})
    assert response.status_code == 302
    assert VerificationAttempt.objects.count() == 0


@pytest.mark.django_db
def test_viewer_sees_the_list_and_page_but_no_button_and_gets_403_on_the_code_page(
    staff_viewer: Any, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    client = logged_in(staff_viewer)
    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert "+86 138 0013 8000" in html(listing)
    assert "send_code_sms" not in html(listing)  # no actions offered

    page = client.get(change_url(sent))
    assert page.status_code == 200
    assert "Enter verification code" not in html(page)
    assert client.get(check_url(sent)).status_code == 403
    code = nxcloud.latest_code(PHONE)
    assert client.post(check_url(sent), {"code": code}).status_code == 403
    assert nxcloud.calls_to("checkCode") == []
    sent.refresh_from_db()
    assert sent.status == PhoneRegistration.Status.CODE_SENT


@pytest.mark.django_db
def test_staff_without_verify_phone_gets_403_and_no_button(sent: PhoneRegistration) -> None:
    user = make_user("sender", staff=True, perms=(*VIEW_PERMS, "change_phoneregistration", "send_code"))
    client = logged_in(user)
    assert "Enter verification code" not in html(client.get(change_url(sent)))
    assert client.get(check_url(sent)).status_code == 403
    assert client.post(check_url(sent), {"code": "123456"}).status_code == 403
    assert VerificationAttempt.objects.count() == 0


@pytest.mark.django_db
def test_verify_phone_alone_opens_no_registration(sent: PhoneRegistration) -> None:
    """The enter-code page shows the number: it also needs the right to see the registration."""
    user = make_user("typist", staff=True, perms=("verify_phone",))
    client = logged_in(user)
    response = client.get(check_url(sent))
    assert response.status_code == 403
    assert sent.formatted_phone not in html(response)
    assert client.post(check_url(sent), {"code": "123456"}).status_code == 403
    assert VerificationAttempt.objects.count() == 0


@pytest.mark.django_db
def test_staff_with_verify_phone_sees_the_button(staff_client: Client, sent: PhoneRegistration) -> None:
    page = html(staff_client.get(change_url(sent)))
    assert f'href="{check_url(sent)}"' in page
    assert "Enter verification code" in page


@pytest.mark.django_db
def test_superuser_sees_the_button_and_the_code_page(superuser: Any, sent: PhoneRegistration) -> None:
    client = logged_in(superuser)
    assert "Enter verification code" in html(client.get(change_url(sent)))
    assert client.get(check_url(sent)).status_code == 200


@pytest.mark.django_db
def test_code_page_for_a_missing_registration_is_404(staff_client: Client) -> None:
    url = reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[999999])
    assert staff_client.get(url).status_code == 404


# -- the list ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_number_owner_status_tries_and_nxcloud_details(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    services.check_code(sent, "000000")  # one wrong try on the current code
    PhoneRegistration.objects.filter(pk=sent.pk).update(number_status="CONNECTED", quality_rating="GREEN")
    page = html(staff_client.get(reverse(CHANGELIST)))
    assert "+86 138 0013 8000" in page
    assert "customer" in page
    assert 'class="nxwa-badge nxwa-badge--code_sent">Code sent<' in page
    assert "1 / 5" in page
    assert "CONNECTED" in page
    assert "nxwa-badge--quality-green" in page
    assert_nothing_secret(page, nxcloud)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed", ["+86 138 0013 8000", "8613800138000", "+86-138-0013-8000", "0086 138 0013 8000"]
)
def test_search_finds_the_number_however_it_is_typed(
    staff_client: Client, registration: PhoneRegistration, typed: str
) -> None:
    services.create_registration("+86 139 0013 9000")
    page = html(staff_client.get(reverse(CHANGELIST), {"q": typed}))
    assert "+86 138 0013 8000" in page
    assert "+86 139 0013 9000" not in page


@pytest.mark.django_db
def test_search_by_owner_username_and_email(staff_client: Client, customer: Any) -> None:
    customer.email = "merchant@example.com"
    customer.save()
    services.create_registration("+86 138 0013 8000", owner=customer)
    services.create_registration("+86 139 0013 9000")
    for term in ("customer", "merchant@example"):
        page = html(staff_client.get(reverse(CHANGELIST), {"q": term}))
        assert "+86 138 0013 8000" in page
        assert "+86 139 0013 9000" not in page


@pytest.mark.django_db
def test_filters_by_status_method_register_status_and_date(
    staff_client: Client, sent: PhoneRegistration
) -> None:
    other = services.create_registration("+86 139 0013 9000")
    PhoneRegistration.objects.filter(pk=other.pk).update(register_status=5, status="registered")
    url = reverse(CHANGELIST)

    def numbers(params: dict[str, str]) -> tuple[bool, bool]:
        response = staff_client.get(url, params)
        assert response.status_code == 200
        assert "?e=1" not in response.get("Location", "")
        page = html(response)
        return "+86 138 0013 8000" in page, "+86 139 0013 9000" in page

    assert numbers({"status__exact": "code_sent"}) == (True, False)
    assert numbers({"status__exact": "registered"}) == (False, True)
    assert numbers({"last_code_method__exact": "sms"}) == (True, False)
    assert numbers({"register_status__exact": "5"}) == (False, True)
    # The "Today" and "Past 7 days" links of Django's date filter, as they are written.
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = {"created_at__gte": str(midnight), "created_at__lt": str(midnight + timedelta(days=1))}
    assert numbers(today) == (True, True)
    assert numbers({"created_at__gte": str(midnight + timedelta(days=1))}) == (False, False)


# -- add -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_add_a_number_typed_with_spaces_and_hyphens(staff: Any, customer: Any) -> None:
    client = logged_in(staff)
    add = reverse("admin:nxwa_onboarding_phoneregistration_add")
    assert client.get(add).status_code == 200
    response = client.post(add, {"phone_number": " +86 138-0013-8000 ", "owner": customer.pk})
    registration = PhoneRegistration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST)
    assert registration.phone_number == PHONE
    assert registration.owner == customer
    assert registration.created_by == staff
    assert registration.status == PhoneRegistration.Status.NEW


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "This field is required."),
        ("+86 12", "not a valid phone number"),
        ("hello", "Enter the number with its country code"),
        ("+44 909 879 0000", "This is a premium-rate number"),
        ("+86 138 ABCD 8000", "Letters are not allowed in a phone number"),
        ("+86 138 0013 8000 x12", "Extensions cannot be used here"),
    ],
)
def test_add_rejects_a_bad_number_and_saves_nothing(staff_client: Client, typed: str, error: str) -> None:
    response = staff_client.post(
        reverse("admin:nxwa_onboarding_phoneregistration_add"), {"phone_number": typed}
    )
    assert response.status_code == 200
    assert error in html(response)
    assert PhoneRegistration.objects.count() == 0


@pytest.mark.django_db
def test_add_a_number_already_being_onboarded_is_a_form_error(
    staff_client: Client, registration: PhoneRegistration
) -> None:
    response = staff_client.post(
        reverse("admin:nxwa_onboarding_phoneregistration_add"), {"phone_number": "008613800138000"}
    )
    assert response.status_code == 200
    assert "This number is already being onboarded." in html(response)
    assert PhoneRegistration.objects.count() == 1


@pytest.mark.django_db
def test_add_that_loses_a_race_says_so_and_saves_nothing(
    staff_client: Client, registration: PhoneRegistration, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another session opens the number between the form's check and the save.
    monkeypatch.setattr(admin_forms, "open_registration_exists", lambda digits: False)
    add = reverse("admin:nxwa_onboarding_phoneregistration_add")
    response = staff_client.post(add, {"phone_number": "+8613800138000"})
    assert response.status_code == 302
    assert response["Location"] == add
    assert ("error", "This number is already being onboarded.") in message_texts(response)
    assert PhoneRegistration.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_registration_does_not_block_adding_the_number_again(staff_client: Client) -> None:
    old = services.create_registration("+86 138 0013 8000")
    PhoneRegistration.objects.filter(pk=old.pk).update(status="failed")
    staff_client.post(
        reverse("admin:nxwa_onboarding_phoneregistration_add"), {"phone_number": "8613800138000"}
    )
    assert PhoneRegistration.objects.filter(phone_number=PHONE).count() == 2


# -- change page -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_change_page_shows_fields_inlines_and_the_send_cooldown_in_words(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    wrong = "111111" if nxcloud.latest_code(PHONE) != "111111" else "222222"
    services.check_code(sent, wrong, ip="203.0.113.9")
    response = staff_client.get(change_url(sent))
    assert response.status_code == 200
    page = html(response)
    for text in (
        "+86 138 0013 8000",
        str(sent.public_id),
        "Codes sent (newest first)",
        "Verification attempts (newest first)",
        "203.0.113.9",
        "1 of 5 tries used on the current code.",
        "It expires in 10 minutes",
        "Code sends are refused: A code was sent moments ago. You can try again in",
    ):
        assert text in page, text
    assert wrong not in page
    assert "code_digest" not in page
    attempt = VerificationAttempt.objects.get()
    assert attempt.code_digest not in page
    assert_nothing_secret(page, nxcloud)
    # Only the owner is a form field; everything the service owns is read-only.
    form = response.context["adminform"].form
    assert list(form.fields) == ["owner"]


@pytest.mark.django_db
def test_change_page_of_a_fresh_registration_says_no_code_yet(
    staff_client: Client, registration: PhoneRegistration
) -> None:
    page = html(staff_client.get(change_url(registration)))
    assert "Code checks are refused: No code has been sent to this number yet." in page


@pytest.mark.django_db
def test_change_page_after_too_many_tries_says_until_when(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_CHECK_ATTEMPTS=1):
        services.check_code(sent, "000001")
        page = html(staff_client.get(change_url(sent)))
    assert (
        "Code checks are refused: every try on the current code is used, so a new code has to be "
        "sent first." in page
    )
    assert "Code sends are refused: A code was sent moments ago. You can try again in" in page
    assert "Ask for a new code" not in page  # the customer's words


@pytest.mark.django_db
def test_staff_can_change_the_owner_only(
    staff_client: Client, registration: PhoneRegistration, other_customer: Any
) -> None:
    response = staff_client.post(
        change_url(registration),
        {
            "owner": other_customer.pk,
            "phone_number": "8613999999999",
            "status": "verified",
            "code_requests-TOTAL_FORMS": "0",
            "code_requests-INITIAL_FORMS": "0",
            "attempts-TOTAL_FORMS": "0",
            "attempts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.owner == other_customer
    assert registration.phone_number == PHONE
    assert registration.status == PhoneRegistration.Status.NEW


@pytest.mark.django_db
def test_deleting_a_registration_with_an_audit_trail_is_refused(
    superuser: Any, sent: PhoneRegistration
) -> None:
    client = logged_in(superuser)
    url = reverse("admin:nxwa_onboarding_phoneregistration_delete", args=[sent.pk])
    page = html(client.get(url))
    assert "would require deleting the following protected related objects" in page
    assert "+86 138 0013 8000: its audit trail of 1 code request and 0 verification attempts" in page
    client.post(url, {"post": "yes"})
    assert PhoneRegistration.objects.filter(pk=sent.pk).exists()
    bulk = client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [sent.pk], "post": "yes"}
    )
    assert "audit trail" in html(bulk)
    assert PhoneRegistration.objects.filter(pk=sent.pk).exists()
    assert CodeRequest.objects.filter(registration=sent).count() == 1


@pytest.mark.django_db
def test_a_registration_without_audit_rows_can_be_deleted(
    superuser: Any, registration: PhoneRegistration
) -> None:
    client = logged_in(superuser)
    client.post(
        reverse("admin:nxwa_onboarding_phoneregistration_delete", args=[registration.pk]), {"post": "yes"}
    )
    assert not PhoneRegistration.objects.exists()


# -- enter the code ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_code_page_is_admin_styled_with_breadcrumbs_and_one_code_field(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    response = staff_client.get(check_url(sent))
    page = html(response)
    assert response.status_code == 200
    assert 'class="breadcrumbs"' in page
    assert f'href="{change_url(sent)}"' in page
    assert reverse(CHANGELIST) in page
    assert 'name="code"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert list(response.context["form"].fields) == ["code"]
    assert "0 of 5 tries used on the current code." in page
    assert_nothing_secret(page, nxcloud)


@pytest.mark.django_db
def test_right_code_is_accepted(staff: Any, sent: PhoneRegistration, nxcloud: FakeNXCloud) -> None:
    client = logged_in(staff)
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    response = client.post(check_url(sent), {"code": f"{code[:3]}-{code[3:]}"})
    assert response.status_code == 302
    assert response["Location"] == change_url(sent)
    assert message_texts(response) == [
        (
            "success",
            "Code accepted: +86 138 0013 8000 is verified. "
            "Its WhatsApp client is being set up: there is nothing to press.",
        )
    ]
    sent.refresh_from_db()
    assert sent.status == PhoneRegistration.Status.VERIFIED
    attempt = VerificationAttempt.objects.get()
    assert (attempt.channel, attempt.user, attempt.ip) == ("admin", staff, "127.0.0.1")
    page = html(client.get(change_url(sent)))
    assert code not in page
    assert_nothing_secret(page, nxcloud)
    assert "Enter verification code" not in page  # nothing left to enter
    assert "This number is already verified." in page


@pytest.mark.django_db
def test_wrong_code_says_how_many_tries_are_left(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    wrong = "000000" if nxcloud.latest_code(PHONE) != "000000" else "999999"
    response = staff_client.post(check_url(sent), {"code": wrong})
    assert message_texts(response) == [
        ("warning", "NXCloud did not accept the code. 4 tries left on this code (1 of 5 used).")
    ]
    # Staff stay on the code form (redirected to it: a reload posts nothing again).
    assert response.status_code == 302
    assert response["Location"] == check_url(sent)
    page = html(staff_client.get(response["Location"]))
    assert 'name="code"' in page
    assert wrong not in page


@pytest.mark.django_db
@rules(MAX_CHECK_ATTEMPTS=1)
def test_last_wrong_try_then_refusal_with_until_when(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    response = staff_client.post(check_url(sent), {"code": "000001"})
    assert message_texts(response) == [
        ("error", "NXCloud did not accept the code, and that was the last try on it.")
    ]
    # The code page it stays on says what now, once (not in the message as well).
    assert html(staff_client.get(response["Location"])).count("Too many wrong tries for this code") == 1

    refused = staff_client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
    (level, text) = message_texts(refused)[-1]
    assert level == "error"
    assert text.startswith("The code was not checked. Too many wrong tries for this code.")
    assert "A new code can be sent in" in text
    assert len(nxcloud.calls_to("checkCode")) == 1


@pytest.mark.django_db
def test_code_before_any_was_sent_is_refused(
    staff_client: Client, registration: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    response = staff_client.post(check_url(registration), {"code": "123456"})
    assert message_texts(response) == [
        ("error", "The code was not checked. No code has been sent to this number yet. Ask for a code first.")
    ]
    assert nxcloud.calls_to("checkCode") == []


@pytest.mark.django_db
def test_unknown_answer_is_reported_as_unknown(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    nxcloud.fail("checkCode", timeout=True)
    response = staff_client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
    [(level, text)] = message_texts(response)
    assert level == "warning"
    assert "it is unknown whether the code was accepted" in text
    assert VerificationAttempt.objects.get().outcome == "unknown"


@pytest.mark.django_db
def test_unreachable_nxcloud_is_reported(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    nxcloud.fail("checkCode", connection_error=True, times=5)
    response = staff_client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
    [(level, text)] = message_texts(response)
    assert level == "error"
    assert text.startswith("NXCloud could not be reached: the code was not checked")
    sent.refresh_from_db()
    assert sent.status == PhoneRegistration.Status.CODE_SENT


@pytest.mark.django_db
def test_wrong_secret_names_the_setting_and_never_shows_it(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    wrong = {"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": "WRONG-SECRET-CANARY", "APP_KEY": "k"}
    with override_settings(NXWA_ONBOARDING=wrong):
        response = staff_client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
        [(level, text)] = message_texts(response)
        page = html(staff_client.get(response["Location"]))
    assert level == "error"
    assert "signature rejected: check ACCESS_SECRET" in text
    assert "WRONG-SECRET-CANARY" not in page
    assert "signature rejected: check ACCESS_SECRET" in page
    assert_nothing_secret(page, nxcloud)


@pytest.mark.django_db
def test_missing_secret_is_a_configuration_problem(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": ""}):
        response = staff_client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
    [(level, text)] = message_texts(response)
    assert level == "error"
    assert text.startswith("NXCloud is not configured: check NXWA_ONBOARDING")
    assert "ACCESS_SECRET" in text


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["", "12ab56", "1" * 40])
def test_malformed_code_is_a_form_error_and_changes_nothing(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud, typed: str
) -> None:
    response = staff_client.post(check_url(sent), {"code": typed})
    assert response.status_code == 200
    page = html(response)
    assert 'class="errorlist' in page
    if typed:
        assert typed not in page  # never echoed back
    assert VerificationAttempt.objects.count() == 0
    assert nxcloud.calls_to("checkCode") == []


@pytest.mark.django_db
def test_code_page_needs_csrf(staff: Any, sent: PhoneRegistration, nxcloud: FakeNXCloud) -> None:
    client = logged_in(staff, enforce_csrf_checks=True)
    response = client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE)})
    assert response.status_code == 403
    assert VerificationAttempt.objects.count() == 0
    # With the token from the page it goes through.
    page = client.get(check_url(sent))
    token = page.context["csrf_token"]
    ok = client.post(check_url(sent), {"code": nxcloud.latest_code(PHONE), "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    assert VerificationAttempt.objects.get().outcome == "accepted"


@pytest.mark.django_db
def test_code_page_get_changes_nothing(
    staff_client: Client, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    staff_client.get(check_url(sent), {"code": nxcloud.latest_code(PHONE) or ""})
    assert VerificationAttempt.objects.count() == 0


@pytest.mark.django_db
def test_change_page_of_a_closed_registration_says_so_once(
    staff_client: Client, registration: PhoneRegistration
) -> None:
    PhoneRegistration.objects.filter(pk=registration.pk).update(status="closed")
    page = html(staff_client.get(change_url(registration)))
    assert "Code checks and sends are refused: This registration is closed." in page
    assert "Code sends are refused" not in page
    assert f'href="{check_url(registration)}"' not in page


@pytest.mark.django_db
def test_change_page_says_when_the_code_has_expired(staff_client: Client, sent: PhoneRegistration) -> None:
    CodeRequest.objects.filter(registration=sent).update(created_at=timezone.now() - timedelta(minutes=11))
    page = html(staff_client.get(change_url(sent)))
    assert "0 of 5 tries used on the current code. It has expired." in page
    assert (
        "Code checks are refused: the current code has expired, so a new code has to be sent first." in page
    )
    assert "Ask for a new code" not in page  # the customer's words


@pytest.mark.django_db
def test_view_on_site_is_not_offered_where_it_would_answer_staff_404(
    staff: Any, sent: PhoneRegistration
) -> None:
    # get_absolute_url is the customer's page: it opens for the registration's owner only.
    client = logged_in(staff)
    page = html(client.get(change_url(sent)))
    assert "View on site" not in page
    assert sent.get_absolute_url() not in page
    assert client.get(sent.get_absolute_url()).status_code == 404
