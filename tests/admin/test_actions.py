"""The registration list's actions: confirm first, act through the services, one message per outcome."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import (
    CHANGELIST,
    SECRET,
    act,
    assert_nothing_secret,
    check_url,
    html,
    logged_in,
    message_texts,
    verify,
)
from tests.helpers.services import rules
from tests.helpers.users import VIEW_PERMS, make_user

FIRST = "+86 138 0013 8000"
SECOND = "+86 139 0013 9000"
THIRD = "+86 137 0013 7000"


@pytest.fixture
def two(db: None) -> list[PhoneRegistration]:
    return [services.create_registration(FIRST), services.create_registration(SECOND)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "method", "label"),
    [("send_code_sms", "sms", "SMS"), ("send_code_voice", "voice", "voice call")],
)
def test_send_asks_first_then_sends_once_per_number(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud, action: str, method: str, label: str
) -> None:
    client = logged_in(staff)
    confirmation = act(client, action, two, confirm=False)
    assert confirmation.status_code == 200
    page = html(confirmation)
    assert "NXCloud charges for every code it sends" in page
    assert FIRST in page
    assert SECOND in page
    assert page.count("will be sent") == 2
    assert 'name="post" value="yes"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert nxcloud.calls_to("getCode") == []
    assert CodeRequest.objects.count() == 0

    done = act(client, action, two, confirm=True)
    assert done.status_code == 302
    assert message_texts(done) == [("success", f"Code sent by {label} to 2 numbers: {FIRST}, {SECOND}.")]
    assert [call.payload["method"] for call in nxcloud.calls_to("getCode")] == [method, method]
    rows = CodeRequest.objects.all()
    assert {(r.outcome, r.channel, r.user, r.method) for r in rows} == {("sent", "admin", staff, method)}


@pytest.mark.django_db
def test_send_groups_refusals_in_one_message_with_until_when(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    services.request_code(two[0], "sms")  # FIRST is now in its resend cooldown
    third = services.create_registration(THIRD)
    client = logged_in(staff)
    page = html(act(client, "send_code_sms", [*two, third], confirm=False))
    assert "will be refused: A code was sent moments ago. You can try again in" in page

    response = act(client, "send_code_sms", [*two, third], confirm=True)
    texts = message_texts(response)
    assert len(texts) == 2
    assert texts[0][0] == "success"
    assert "to 2 numbers" in texts[0][1]
    level, text = texts[1]
    assert level == "warning"
    assert text.startswith(
        f"Refused for 1 number ({FIRST}): A code was sent moments ago. You can try again in"
    )
    assert len(nxcloud.calls_to("getCode")) == 3  # the fixture's one plus two


@pytest.mark.django_db
def test_send_rejections_are_one_message(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    nxcloud.fail("getCode", 9001, message="upstream refused", times=2)
    response = act(logged_in(staff), "send_code_sms", two, confirm=True)
    assert message_texts(response) == [
        ("error", f"NXCloud said no for 2 numbers ({FIRST}, {SECOND}): result 9001, upstream refused")
    ]


@pytest.mark.django_db
def test_send_unknown_answer_is_reported_as_maybe_sent(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    nxcloud.fail("getCode", timeout=True)
    texts = message_texts(act(logged_in(staff), "send_code_sms", two, confirm=True))
    assert ("success", f"Code sent by SMS to 1 number: {SECOND}.") in texts
    assert any(level == "warning" and "the code may have been sent" in text for level, text in texts)


@pytest.mark.django_db
def test_send_stops_at_a_configuration_problem_and_names_the_setting(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    third = services.create_registration(THIRD)
    client = logged_in(staff)
    wrong = {"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": "WRONG-SECRET-CANARY"}
    with override_settings(NXWA_ONBOARDING=wrong):
        response = act(client, "send_code_sms", [*two, third], confirm=True)
        page = html(client.get(response["Location"]))
    [(level, text)] = message_texts(response)
    assert level == "error"
    assert "signature rejected: check ACCESS_SECRET" in text
    assert text.endswith("Stopped: 2 more numbers were not tried.")
    assert len(nxcloud.calls_to("getCode")) == 1
    assert "WRONG-SECRET-CANARY" not in page
    assert_nothing_secret(page, nxcloud)


@pytest.mark.django_db
def test_create_client_confirms_then_creates_for_verified_numbers_only(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    client = logged_in(staff)
    page = html(act(client, "create_whatsapp_client", two, confirm=False))
    assert "This cannot be undone from here." in page
    assert "will be created" in page
    assert "not verified yet: will be skipped" in page
    assert nxcloud.calls_to("createClient") == []

    texts = message_texts(act(client, "create_whatsapp_client", two, confirm=True))
    assert texts == [
        ("success", f"WhatsApp client created for 1 number: {FIRST}."),
        ("warning", f"Skipped 1 number that is not verified yet: {SECOND}."),
    ]
    two[0].refresh_from_db()
    assert two[0].status == PhoneRegistration.Status.CLIENT_CREATED
    assert len(nxcloud.calls_to("createClient")) == 1

    again = message_texts(act(client, "create_whatsapp_client", two[:1], confirm=True))
    assert again[-1] == ("info", f"1 number already had its client: {FIRST}.")
    assert len(nxcloud.calls_to("createClient")) == 1


@pytest.mark.django_db
def test_create_client_refused_by_nxcloud_keeps_the_number_verified(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    nxcloud.fail("createClient", 9001, message="not allowed")
    texts = message_texts(act(logged_in(staff), "create_whatsapp_client", two[:1], confirm=True))
    assert texts == [("error", f"NXCloud said no for 1 number ({FIRST}): result 9001, not allowed")]
    two[0].refresh_from_db()
    assert two[0].status == PhoneRegistration.Status.VERIFIED


@pytest.mark.django_db
def test_refresh_reads_nxcloud_once_and_reports_the_selection(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    services.create_client(two[0])
    nxcloud.set_register_status(two[0].phone_number, 5)
    response = act(logged_in(staff), "refresh_from_nxcloud", two, confirm=False)
    assert response.status_code == 302  # reading NXCloud costs nothing: no confirmation step
    assert message_texts(response) == [
        (
            "success",
            "Refreshed from NXCloud: 1 of the 2 selected numbers are listed. "
            f"Status changed for {FIRST} (Client created → Registered).",
        ),
        ("warning", f"NXCloud does not list {SECOND} (not created there yet, or closed)."),
    ]
    assert len(nxcloud.calls_to("phoneList")) == 1
    two[0].refresh_from_db()
    assert (two[0].status, two[0].register_status, two[0].quality_rating) == ("registered", 5, "GREEN")


@pytest.mark.django_db
def test_refresh_when_nxcloud_is_down_says_so(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    nxcloud.fail("phoneList", http_status=502, body="<html>Bad gateway</html>")
    texts = message_texts(act(logged_in(staff), "refresh_from_nxcloud", two, confirm=False))
    assert texts == [("error", "NXCloud could not be reached: nothing was refreshed.")]


@pytest.mark.django_db
def test_refresh_without_app_key_names_the_setting(staff: Any, two: list[PhoneRegistration]) -> None:
    settings = {"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": SECRET}
    with override_settings(NXWA_ONBOARDING=settings):
        texts = message_texts(act(logged_in(staff), "refresh_from_nxcloud", two, confirm=False))
    [(level, text)] = texts
    assert level == "error"
    assert "APP_KEY" in text


def action_names(response: Any) -> set[str]:
    return {value for value, _label in response.context["action_form"].fields["action"].choices if value}


@pytest.mark.django_db
def test_actions_offered_follow_the_permissions(staff: Any, staff_viewer: Any, superuser: Any) -> None:
    services.create_registration(FIRST)
    changer = make_user("changer", staff=True, perms=(*VIEW_PERMS, "change_phoneregistration"))
    url = reverse(CHANGELIST)
    everything = {"send_code_sms", "send_code_voice", "create_whatsapp_client", "refresh_from_nxcloud"}
    assert action_names(logged_in(staff).get(url)) == everything
    assert action_names(logged_in(superuser).get(url)) == everything | {
        "delete_selected",
        "close_registrations",
    }
    assert action_names(logged_in(changer).get(url)) == {"refresh_from_nxcloud"}
    assert logged_in(staff_viewer).get(url).context["action_form"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["send_code_sms", "send_code_voice", "create_whatsapp_client"])
def test_actions_without_send_code_do_nothing(
    two: list[PhoneRegistration], nxcloud: FakeNXCloud, action: str
) -> None:
    verify(two[0], nxcloud)
    calls = len(nxcloud.calls)
    changer = make_user("changer", staff=True, perms=(*VIEW_PERMS, "change_phoneregistration"))
    response = act(logged_in(changer), action, two, confirm=True)
    assert response.status_code in (200, 302)
    assert len(nxcloud.calls) == calls
    assert CodeRequest.objects.count() == 1


@pytest.mark.django_db
def test_actions_need_csrf(staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud) -> None:
    client = logged_in(staff, enforce_csrf_checks=True)
    response = act(client, "send_code_sms", two, confirm=True)
    assert response.status_code == 403
    assert nxcloud.calls_to("getCode") == []


@pytest.mark.django_db
def test_send_when_nxcloud_is_unreachable_says_nothing_was_sent(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    nxcloud.fail("getCode", connection_error=True, times=20)
    texts = message_texts(act(logged_in(staff), "send_code_sms", two, confirm=True))
    assert texts == [
        (
            "error",
            f"NXCloud could not be reached for 2 numbers ({FIRST}, {SECOND}): "
            "nothing happened there; try again.",
        )
    ]
    assert set(CodeRequest.objects.values_list("outcome", flat=True)) == {"failed"}


@pytest.mark.django_db
def test_a_long_selection_is_one_message_that_lists_ten_numbers(staff: Any, nxcloud: FakeNXCloud) -> None:
    registrations = [services.create_registration(f"+86 138 0013 {8000 + i}") for i in range(12)]
    texts = message_texts(act(logged_in(staff), "send_code_sms", registrations, confirm=True))
    [(level, text)] = texts
    assert level == "success"
    assert text.startswith("Code sent by SMS to 12 numbers: +86 138 0013 8000, +86 138 0013 8001,")
    assert text.endswith("+86 138 0013 8009 and 2 more.")


@pytest.mark.django_db
def test_create_client_stops_at_a_configuration_problem(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    verify(two[1], nxcloud)
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": "WRONG"}):
        texts = message_texts(act(logged_in(staff), "create_whatsapp_client", two, confirm=True))
    [(level, text)] = texts
    assert level == "error"
    assert "signature rejected: check ACCESS_SECRET" in text
    assert text.endswith("Stopped: 1 more number was not tried.")
    assert len(nxcloud.calls_to("createClient")) == 1


@pytest.mark.django_db
def test_create_client_without_an_answer_is_unknown_and_not_retried(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    nxcloud.fail("createClient", timeout=True)
    client = logged_in(staff)
    assert "already has its client" not in html(act(client, "create_whatsapp_client", two[:1], confirm=False))
    texts = message_texts(act(client, "create_whatsapp_client", two[:1], confirm=True))
    assert texts == [
        (
            "warning",
            f"NXCloud's answer did not arrive for 1 number ({FIRST}): its client may have been created. "
            "Refresh the status from NXCloud before trying again.",
        )
    ]
    assert len(nxcloud.calls_to("createClient")) == 1


@pytest.mark.django_db
def test_create_client_confirmation_says_when_there_is_nothing_to_do(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    verify(two[0], nxcloud)
    services.create_client(two[0])
    page = html(act(logged_in(staff), "create_whatsapp_client", two[:1], confirm=False))
    assert "already has its client: nothing to do" in page


@pytest.mark.django_db
def test_refresh_refused_by_nxcloud_says_why(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    nxcloud.fail("phoneList", 9008, message="appkey does not exist")
    texts = message_texts(act(logged_in(staff), "refresh_from_nxcloud", two, confirm=False))
    assert texts == [("error", "NXCloud refused to list the numbers (result 9008: appkey does not exist).")]


@pytest.mark.django_db
def test_an_invalid_sign_algorithm_is_a_configuration_problem_for_sends_and_checks_alike(
    staff: Any, two: list[PhoneRegistration], nxcloud: FakeNXCloud
) -> None:
    """The client refuses "sha1" before any request (NXCloudConfigurationError): the send action
    and the enter-code page both call it our configuration, name the setting, and stop."""
    sent, fresh = two
    services.request_code(sent, "sms")
    code = nxcloud.latest_code(sent.phone_number)
    third = services.create_registration(THIRD)
    client = logged_in(staff)
    with rules(SIGN_ALGORITHM="sha1"):
        send_messages = message_texts(act(client, "send_code_sms", [fresh, third], confirm=True))
        client.get(reverse(CHANGELIST))  # shows (and so clears) the action's message
        check_messages = message_texts(client.post(check_url(sent), {"code": code}))
    [(send_level, send_text)] = send_messages
    [(check_level, check_text)] = check_messages
    for level, text in ((send_level, send_text), (check_level, check_text)):
        assert level == "error"
        assert text.startswith("NXCloud is not configured: check NXWA_ONBOARDING")
        assert "SIGN_ALGORITHM" in text
    assert send_text.endswith("Stopped: 1 more number was not tried.")
    assert len(nxcloud.calls_to("getCode")) == 1  # only the one made before the setting went wrong
    assert nxcloud.calls_to("checkCode") == []
    assert [r.failure for r in CodeRequest.objects.filter(outcome="failed")] == ["configuration"]
    assert [a.failure for a in VerificationAttempt.objects.all()] == ["configuration"]
    sent.refresh_from_db()
    assert sent.status == PhoneRegistration.Status.CODE_SENT
