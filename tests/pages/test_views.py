"""The customer pages, driven with Django's test client in front of the in-memory NXCloud.

Each outcome a customer can meet is walked through: the words they read, what changed in the
database, and which NXCloud calls were (or were not) made.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services, tasks
from nxwa_onboarding.choices import Failure
from nxwa_onboarding.models import CodeRequest, FollowState, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud import client as client_module
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.pages import (
    CONFIGURATION,
    DIGITS,
    DOWN,
    PHONE,
    SECRET,
    UNKNOWN_CHECK,
    act,
    page,
    post_code,
    shown,
    start,
    start_response,
    text_of,
    url,
    wrong_code,
)
from tests.helpers.services import rules
from tests.helpers.users import PASSWORD

pytestmark = pytest.mark.django_db

Status = PhoneRegistration.Status


# -- helpers (also used by test_i18n and test_forms_fuzz) ---------------------------------------


# -- the start page --------------------------------------------------------------------------------


def test_start_page_has_labelled_fields(signed_in: Client) -> None:
    html = signed_in.get(reverse("nxwa_onboarding:start")).content.decode()
    assert '<label for="id_phone_number">' in html
    assert 'type="tel"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="sms"' in html
    assert 'value="voice"' in html
    assert "<legend>" in html


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter a phone number."),
        ("   ", "Enter a phone number."),
        ("hello", "Enter the number with its country code"),
        ("+86 123", "This is not a valid phone number for CN (+86). Check the digits."),
        ("+999 1234 5678", "Enter the number with its country code"),
        ("1" * 41, "too long to be a phone number"),
    ],
)
def test_bad_number_says_what_is_wrong_and_changes_nothing(
    signed_in: Client, nxcloud: FakeNXCloud, typed: str, says: str
) -> None:
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": typed, "method": "sms"})
    assert response.status_code == 200
    html = response.content.decode()
    assert says in text_of(html)
    # The error is tied to the field it is about.
    assert 'id="id_phone_number_error"' in html
    field = re.search(r"<input[^>]*name=\"phone_number\"[^>]*>", html)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0)
    assert "id_phone_number_error" in field.group(0)
    assert PhoneRegistration.objects.count() == 0
    assert nxcloud.calls == []


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("+44 909 879 0000", "This is a premium-rate number"),
        ("+1 900 234 5678", "This is a premium-rate number"),
        ("+881 612345678", "Numbers that belong to no country (+881, such as satellite phones)"),
        ("+86 138 ABCD 8000", "Letters are not allowed in a phone number: type the digits."),
        ("+86 138 0013 8000 ext 12", "Extensions cannot be used here"),
        ("+44 7012 345678", "This is a personal (forwarding) number"),
    ],
)
def test_a_costly_or_mistyped_number_is_refused_on_the_phone_field_before_any_call(
    signed_in: Client, nxcloud: FakeNXCloud, typed: str, says: str
) -> None:
    response = start_response(signed_in, typed)
    assert response.status_code == 200
    html = response.content.decode()
    assert says in text_of(html)
    assert 'id="id_phone_number_error"' in html
    assert PhoneRegistration.objects.count() == 0
    assert nxcloud.calls == []


LANDLINE = "+44 121 234 5678"
LANDLINE_SAYS = "This looks like a landline: landlines can't receive SMS, so choose a voice call."


def test_a_landline_number_with_sms_is_refused_on_the_method_field(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    response = start_response(signed_in, LANDLINE, "sms")
    assert response.status_code == 200
    html = response.content.decode()
    assert LANDLINE_SAYS in text_of(html)
    assert 'id="id_method_error"' in html
    assert 'id="id_phone_number_error"' not in html
    assert PhoneRegistration.objects.count() == 0
    assert nxcloud.calls == []


def test_a_landline_number_gets_its_code_by_voice_call(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in, LANDLINE, "voice")
    assert registration.phone_number == "441212345678"
    assert [c.payload for c in nxcloud.calls_to("getCode")] == [
        {"phone_number": "441212345678", "method": "voice"}
    ]


def test_a_mobile_number_typed_in_full_width_digits_is_the_same_number(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(
        signed_in, "\uff0b\uff18\uff16 \uff11\uff13\uff18 \uff10\uff10\uff11\uff13 \uff18\uff10\uff10\uff10"
    )
    assert registration.phone_number == DIGITS


def test_with_a_default_region_a_national_number_is_accepted(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    with override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "DEFAULT_REGION": "CN"}):
        registration = start(signed_in, "138 0013 8000")
    assert registration.phone_number == DIGITS


def test_bad_method_is_refused_before_any_call(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "fax"})
    assert response.status_code == 200
    assert "Choose SMS or a voice call." in response.content.decode()
    assert PhoneRegistration.objects.count() == 0
    assert nxcloud.calls == []


def test_number_typed_any_way_is_accepted(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in, "0086 138-0013-8000", "voice")
    assert registration.phone_number == DIGITS
    assert registration.owner is not None
    getcode = nxcloud.calls_to("getCode")
    assert [c.payload for c in getcode] == [{"phone_number": DIGITS, "method": "voice"}]
    request = registration.code_requests.get()
    assert request.channel == "customer"
    assert request.ip == "127.0.0.1"


def test_someone_elses_number_says_only_already_onboarded(
    client: Client, customer: Any, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    client.force_login(other_customer)
    theirs = start(client)
    client.force_login(customer)
    response = client.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This number is already being onboarded." in html
    assert str(theirs.public_id) not in html
    assert "other-customer" not in html
    assert PhoneRegistration.objects.count() == 1
    assert len(nxcloud.calls_to("getCode")) == 1


def test_own_open_registration_for_the_number_is_where_start_leads(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    mine = start(signed_in)
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert response.status_code == 302
    assert response["Location"] == mine.get_absolute_url()
    assert PhoneRegistration.objects.count() == 1
    assert len(nxcloud.calls_to("getCode")) == 1


# -- the whole flow ---------------------------------------------------------------------------------


def test_accepted_code_leads_through_setup_to_registered(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert shown(signed_in, response) == ["A code is on its way to +86 138 0013 8000 by SMS."]
    registration = PhoneRegistration.objects.get()

    html = page(signed_in, registration)
    code_input = re.search(r"<input[^>]*name=\"code\"[^>]*>", html)
    assert code_input is not None
    assert 'inputmode="numeric"' in code_input.group(0)
    assert 'autocomplete="one-time-code"' in code_input.group(0)
    assert '<label for="id_code">' in html
    assert "You have 5 tries left." in html
    assert "The code expires in 10 minutes" in html
    # The resend button exists and says when it becomes available.
    assert "Send a new code" in html
    assert re.search(r"Available in \d+ seconds\.", html)

    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    assert post_code(signed_in, registration, f"{code[:3]}-{code[3:]}") == [
        "Your number is verified.",
        "We are now setting up WhatsApp for your number.",
    ]
    assert [c.payload for c in nxcloud.calls_to("checkCode")] == [{"phone_number": DIGITS, "code": code}]
    assert len(nxcloud.calls_to("createClient")) == 1
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED

    html = page(signed_in, registration)
    assert "Setting up WhatsApp" in html
    assert "Check again" in html
    assert 'name="code"' not in html
    assert code not in text_of(html)

    # The follower (here the cron pass: the immediate backend has no worker) reads phoneList,
    # which moves the sandbox number on: 3, 4, then 5 (registered). The page only reads.
    now = timezone.now()
    for step in range(3):
        with time_machine.travel(now + timedelta(seconds=5 * (step + 1)), tick=False):
            tasks.follow_pass()
            response = signed_in.post(url("refresh", registration), {"shown": "client_created"})
        assert response.status_code == 302
    assert shown(signed_in, response) == ["Your number is registered with WhatsApp."]
    assert len(nxcloud.calls_to("phoneList")) == 3
    registration.refresh_from_db()
    assert registration.status == Status.REGISTERED
    html = page(signed_in, registration)
    assert "All done" in html
    assert "Your number is registered with WhatsApp and ready to use." in html
    assert 'name="code"' not in html


def test_wrong_code_says_so_and_how_many_tries_remain(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    wrong = wrong_code(nxcloud)
    assert post_code(signed_in, registration, wrong) == ["That code was not accepted. You have 4 tries left."]
    html = page(signed_in, registration)
    assert "You have 4 tries left." in html
    assert wrong not in text_of(html)
    assert registration.attempts.get().outcome == VerificationAttempt.Outcome.REJECTED


@rules(MAX_CHECK_ATTEMPTS=2, RESEND_COOLDOWN=60)
def test_last_wrong_try_says_ask_for_a_new_code(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    wrong = wrong_code(nxcloud)
    post_code(signed_in, registration, wrong)
    [said] = post_code(signed_in, registration, wrong)
    assert said.startswith("That code was not accepted, and it was the last try for this code.")
    html = text_of(page(signed_in, registration))
    assert "Too many wrong tries for this code. Ask for a new code." in html
    assert re.search(r"Available in \d+ seconds\.", html)  # when: said once, by the send button
    assert 'name="code"' not in page(signed_in, registration)
    # A third try is refused without calling NXCloud.
    [said] = post_code(signed_in, registration, wrong)
    assert len(nxcloud.calls_to("checkCode")) == 2
    assert said.startswith("Too many wrong tries for this code.")
    # After the cooldown a new code can be sent, and the form is back.
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert act(signed_in, "send", registration, method="sms") == [
            "A code is on its way to +86 138 0013 8000 by SMS."
        ]
        html = page(signed_in, registration)
    assert "You have 2 tries left." in html


# -- refusals -----------------------------------------------------------------------------------------


def test_expired_code_is_refused_with_when_a_new_one_can_come(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    with time_machine.travel(timezone.now() + timedelta(seconds=601), tick=False):
        html = text_of(page(signed_in, registration))
        assert "This code has expired. Ask for a new code." in html
        [said] = post_code(signed_in, registration, code)
    assert said.startswith("This code has expired. Ask for a new code.")
    assert nxcloud.calls_to("checkCode") == []
    assert registration.attempts.get().refusal_reason == "expired"


def test_resend_during_cooldown_is_refused_with_until_when(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    html = page(signed_in, registration)
    button = re.search(r"<button[^>]*data-nxwa-available-in=\"(\d+)\"[^>]*>", html)
    assert button is not None
    assert "disabled" in button.group(0)
    assert 0 < int(button.group(1)) <= 60
    response = signed_in.post(url("send", registration), {"method": "voice"})
    [said] = shown(signed_in, response)
    assert re.fullmatch(
        r"No code was sent\. A code was sent moments ago\. "
        r"You can try again in \d+ seconds\.",
        said,
    )
    assert len(nxcloud.calls_to("getCode")) == 1


@rules(MAX_SENDS_PER_DAY=2)
def test_daily_cap_is_explained(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    later = timezone.now() + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        act(signed_in, "send", registration, method="sms")
    with time_machine.travel(later + timedelta(seconds=61), tick=False):
        html = text_of(page(signed_in, registration))
        assert "Available in 24 hours" in html or "Available in 23 hours" in html
        response = signed_in.post(url("send", registration), {"method": "sms"})
    [said] = shown(signed_in, response)
    assert said.startswith("No code was sent. This number has had as many codes as allowed in one day.")
    assert "You can try again in" in said
    assert len(nxcloud.calls_to("getCode")) == 2


@rules(MAX_ATTEMPTS_PER_IP_PER_HOUR=1)
def test_too_many_tries_from_one_address_is_explained(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    wrong = wrong_code(nxcloud)
    post_code(signed_in, registration, wrong)
    [said] = post_code(signed_in, registration, wrong)
    assert said.startswith("Too many attempts from your network. You can try again in")
    assert len(nxcloud.calls_to("checkCode")) == 1
    assert "Too many attempts from your network." in text_of(page(signed_in, registration))


def test_code_before_any_code_was_sent_is_refused(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 9001)
    registration = start(signed_in)
    assert registration.status == Status.NEW
    html = page(signed_in, registration)
    assert "No code has been sent to this number yet." in html
    assert "Send a code" in html
    assert post_code(signed_in, registration, "123456") == [
        "No code has been sent to this number yet. Ask for a code first."
    ]
    assert nxcloud.calls_to("checkCode") == []


def test_code_while_another_check_is_in_flight_is_refused(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    VerificationAttempt.objects.create(
        registration=registration,
        channel="customer",
        code_digest="x",
        code_request=registration.code_requests.get(),
    )
    assert "Another request for this number is in progress." in page(signed_in, registration)
    assert post_code(signed_in, registration, "123456") == [
        "Another request for this number is in progress. Wait a moment and look again."
    ]
    assert nxcloud.calls_to("checkCode") == []


def test_code_after_verification_is_refused_as_already_verified(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    post_code(signed_in, registration, code)
    assert post_code(signed_in, registration, code) == ["This number is already verified."]
    assert len(nxcloud.calls_to("checkCode")) == 1


def test_failed_registration_explains_and_offers_a_fresh_start(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    post_code(signed_in, registration, code)
    nxcloud.set_register_status(DIGITS, 1)
    tasks.follow_pass()
    act(signed_in, "refresh", registration)
    registration.refresh_from_db()
    assert registration.status == Status.FAILED
    html = page(signed_in, registration)
    assert "This number could not be registered" in html
    assert reverse("nxwa_onboarding:start") in html
    assert 'name="code"' not in html
    assert len(post_code(signed_in, registration, code)) == 1  # refused, without a call
    assert len(nxcloud.calls_to("checkCode")) == 1
    # The same number can be started again.
    again = start(signed_in)
    assert again.pk != registration.pk


# -- NXCloud down, unknown outcome, configuration problems -----------------------------------------


def test_nxcloud_down_during_check_is_calm_and_costs_no_try(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    nxcloud.fail("checkCode", connection_error=True, times=10)
    [said] = post_code(signed_in, registration, "123456")
    assert said.startswith(DOWN)
    assert "Nothing was used up" in said
    assert registration.attempts.get().outcome == VerificationAttempt.Outcome.FAILED
    html = page(signed_in, registration)
    assert "You have 5 tries left." in html
    assert "connection" not in said.lower()
    assert "sandbox" not in html


def test_unknown_outcome_of_check_is_honest(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    nxcloud.fail("checkCode", timeout=True)
    [said] = post_code(signed_in, registration, "123456")
    assert said.startswith(UNKNOWN_CHECK)
    assert registration.attempts.get().outcome == VerificationAttempt.Outcome.UNKNOWN
    html = page(signed_in, registration)
    assert "You have 4 tries left." in html
    assert "timed out" not in html


@pytest.mark.parametrize("code", [1003, 1005, 9007])
def test_configuration_problem_during_check_shows_no_internals(
    signed_in: Client, nxcloud: FakeNXCloud, code: int
) -> None:
    registration = start(signed_in)
    nxcloud.fail("checkCode", code)
    [said] = post_code(signed_in, registration, "123456")
    assert said.startswith(CONFIGURATION)
    html = page(signed_in, registration)
    for internal in (str(code), "signature", "ACCESS", "sandbox failure", SECRET):
        assert internal not in said
        assert internal not in html
    assert "You have 5 tries left." in html
    assert registration.attempts.get().result_code == code  # staff see it in the admin


def test_configuration_problem_when_sending_the_first_code(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 1003)
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert response.status_code == 302
    [said] = shown(signed_in, response)
    assert said.startswith(CONFIGURATION)
    registration = PhoneRegistration.objects.get()
    assert registration.status == Status.NEW
    assert "Send a code" in page(signed_in, registration)


def test_missing_settings_are_a_configuration_problem_not_a_crash(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "", "ACCESS_SECRET": ""}):
        response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert response.status_code == 302
    [said] = shown(signed_in, response)
    assert said.startswith(CONFIGURATION)
    assert nxcloud.calls == []


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        ({"connection_error": True, "times": 10}, DOWN),
        ({"timeout": True}, "We asked for a code but could not confirm that it was sent."),
        ({"code": 9001}, "WhatsApp could not send a code to this number."),
        (
            {"http_status": 502, "body": "<html>Bad gateway</html>"},
            "We asked for a code but could not confirm",
        ),
    ],
)
def test_send_failures_are_explained_calmly(
    signed_in: Client, nxcloud: FakeNXCloud, failure: dict[str, Any], says: str
) -> None:
    registration = start(signed_in)
    nxcloud.fail("getCode", **failure)
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        response = signed_in.post(url("send", registration), {"method": "sms"})
    assert response.status_code == 302
    [said] = shown(signed_in, response)
    assert said.startswith(says)
    assert "Bad gateway" not in said
    assert "502" not in said


def test_client_creation_that_failed_after_acceptance_is_picked_up_by_the_follower(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    nxcloud.fail("createClient", connection_error=True, times=10)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    # The customer is told setup continues: createClient is the background's business.
    assert post_code(signed_in, registration, code) == [
        "Your number is verified.",
        "We are now setting up WhatsApp for your number.",
    ]
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.client_requested_at is None  # it certainly failed: free to try again
    html = page(signed_in, registration)
    assert "Your number is verified" in html
    assert "Continue" in html
    nxcloud.failures.clear()
    calls = len(nxcloud.calls_to("createClient"))
    assert act(signed_in, "refresh", registration) == []
    assert len(nxcloud.calls_to("createClient")) == calls  # the page never calls
    with time_machine.travel(timezone.now() + services.stale_after() + timedelta(seconds=1)):
        tasks.follow_pass()
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    assert len(nxcloud.calls_to("createClient")) == calls + 1


@pytest.mark.parametrize(
    "failure",
    [
        {"connection_error": True, "times": 10},
        {"timeout": True},
        {"code": 9008},
        {"code": 1004, "times": 2},
    ],
)
def test_phone_list_failures_are_the_followers_not_the_customers(
    signed_in: Client, nxcloud: FakeNXCloud, failure: dict[str, Any]
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    nxcloud.fail("phoneList", **failure)
    post_code(signed_in, registration, code)
    assert act(signed_in, "refresh", registration) == []
    assert nxcloud.calls_to("phoneList") == []
    tasks.follow_pass()
    assert len(nxcloud.calls_to("phoneList")) >= 1
    assert FollowState.objects.get().last_error
    assert act(signed_in, "refresh", registration) == []  # still calm: nothing to say
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED


def test_refresh_for_the_page_script_answers_json_from_the_database(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    post_code(signed_in, registration, code)
    html = page(signed_in, registration)
    assert "data-nxwa-poll" in html
    assert 'name="shown" value="client_created"' in html

    def poll() -> Any:
        return signed_in.post(
            url("refresh", registration), {"shown": "client_created"}, HTTP_X_REQUESTED_WITH="fetch"
        ).json()

    assert poll() == {"status": "client_created", "changed": False, "done": False}
    assert poll() == {"status": "client_created", "changed": False, "done": False}
    assert nxcloud.calls_to("phoneList") == []  # polls read the database, on any backend
    now = timezone.now()
    for step in range(3):
        with time_machine.travel(now + timedelta(seconds=3 * (step + 1)), tick=False):
            tasks.follow_pass()
    assert poll() == {"status": "registered", "changed": True, "done": True}
    assert "nxwa-message" not in page(signed_in, registration)  # the script's posts queue no messages


def test_refresh_before_verification_changes_nothing(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    response = signed_in.post(url("refresh", registration))
    assert response.status_code == 302
    assert nxcloud.calls_to("createClient") == []
    assert nxcloud.calls_to("phoneList") == []


# -- owners, strangers, anonymous -----------------------------------------------------------------


def test_list_shows_only_the_customers_own_numbers(
    client: Client, customer: Any, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    client.force_login(other_customer)
    theirs = start(client, "+44 7400 123456")
    client.force_login(customer)
    html = client.get(reverse("nxwa_onboarding:list")).content.decode()
    assert "You have not added a WhatsApp number yet." in html
    mine = start(client)
    html = client.get(reverse("nxwa_onboarding:list")).content.decode()
    assert mine.get_absolute_url() in html
    assert "+86 138 0013 8000" in html
    assert theirs.get_absolute_url() not in html
    assert "7400" not in html


@pytest.mark.parametrize("action", ["detail", "check", "send", "refresh"])
def test_another_customers_registration_is_the_same_404_as_none(
    client: Client, customer: Any, other_customer: Any, nxcloud: FakeNXCloud, action: str
) -> None:
    client.force_login(other_customer)
    theirs = start(client)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    calls = len(nxcloud.calls)
    client.force_login(customer)
    made_up = reverse(f"nxwa_onboarding:{action}", kwargs={"public_id": uuid4()})
    data = {"code": code, "method": "sms"}
    for method in (client.get, client.post):
        stranger = method(url(action, theirs), data)
        missing = method(made_up, data)
        assert stranger.status_code == missing.status_code == 404
        assert stranger.content == missing.content
        assert set(stranger.headers) == set(missing.headers)
    assert len(nxcloud.calls) == calls
    assert VerificationAttempt.objects.count() == 0
    assert CodeRequest.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.status == Status.CODE_SENT


def test_not_a_uuid_is_404(signed_in: Client) -> None:
    assert signed_in.get("/onboarding/r/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("action", ["list", "start", "detail", "check", "send", "refresh"])
def test_anonymous_visitors_are_sent_to_log_in(client: Client, nxcloud: FakeNXCloud, action: str) -> None:
    if action in ("list", "start"):
        target = reverse(f"nxwa_onboarding:{action}")
    else:
        target = reverse(f"nxwa_onboarding:{action}", kwargs={"public_id": uuid4()})
    for method in (client.get, client.post):
        response = method(target, {"phone_number": PHONE, "method": "sms", "code": "123456"})
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    assert nxcloud.calls == []
    assert PhoneRegistration.objects.count() == 0


def test_get_on_an_action_shows_the_registration(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    for action in ("check", "send", "refresh"):
        response = signed_in.get(url(action, registration))
        assert response.status_code == 302
        assert response["Location"] == registration.get_absolute_url()
    assert len(nxcloud.calls) == 1


# -- CSRF, transactions, secrets ---------------------------------------------------------------------


def test_csrf_is_enforced_on_every_form(customer: Any, nxcloud: FakeNXCloud) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    forged = strict.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert forged.status_code == 403
    assert PhoneRegistration.objects.count() == 0

    html = strict.get(reverse("nxwa_onboarding:start")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    ok = strict.post(
        reverse("nxwa_onboarding:start"),
        {"phone_number": PHONE, "method": "sms", "csrfmiddlewaretoken": token.group(1)},
    )
    assert ok.status_code == 302
    registration = PhoneRegistration.objects.get()
    calls = len(nxcloud.calls)
    for action in ("check", "send", "refresh"):
        assert strict.post(url(action, registration), {"code": "123456", "method": "sms"}).status_code == 403
    assert len(nxcloud.calls) == calls
    assert VerificationAttempt.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_attempt_row_is_committed_before_nxcloud_is_called_even_with_atomic_requests(
    client: Client, customer: Any, nxcloud: FakeNXCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    original = client_module.NXCloudClient.check_code

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(connection.in_atomic_block)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(client_module.NXCloudClient, "check_code", spy)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    client.force_login(customer)
    registration = start(client)
    post_code(client, registration, "123456")
    assert seen == [False]


def test_no_secret_sign_or_code_reaches_a_page(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    wrong = wrong_code(nxcloud)
    post_code(signed_in, registration, wrong)
    nxcloud.fail("checkCode", 1003)
    response = signed_in.post(url("check", registration), {"code": wrong}, follow=True)
    html = response.content.decode()
    right = nxcloud.latest_code(DIGITS)
    assert right is not None
    sign = nxcloud.calls_to("checkCode")[0].headers["sign"]
    for secret in (SECRET, sign, right, wrong):
        assert secret not in html


def test_login_with_the_hosts_login_page_then_start(
    client: Client, customer: Any, nxcloud: FakeNXCloud
) -> None:
    response = client.get(reverse("nxwa_onboarding:start"))
    login_url = response["Location"]
    response = client.post(login_url, {"username": "customer", "password": PASSWORD}, follow=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("nxwa_onboarding:start")
    assert start(client).owner == customer


def test_malformed_code_is_an_error_on_the_field_and_costs_nothing(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    response = signed_in.post(url("check", registration), {"code": "12a-456"})
    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(r"<input[^>]*name=\"code\"[^>]*>", html)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="id_code_error"' in field.group(0)
    assert 'id="id_code_error"' in html
    assert "Enter the code as digits, for example 123456 or 123-456." in text_of(html)
    assert "You have 5 tries left." in html
    assert nxcloud.calls_to("checkCode") == []
    assert registration.attempts.count() == 0


def test_bad_input_into_a_form_the_page_no_longer_shows_is_explained(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    post_code(signed_in, registration, code)
    assert post_code(signed_in, registration, "nope") == [
        "Enter the code as digits, for example 123456 or 123-456."
    ]
    assert act(signed_in, "send", registration, method="fax") == ["Choose SMS or a voice call."]
    assert len(nxcloud.calls_to("checkCode")) == 1
    assert len(nxcloud.calls_to("getCode")) == 1


def test_an_invalid_setting_is_our_configuration_not_whatsapp_being_down(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    """A bad SIGN_ALGORITHM used to be "WhatsApp is down" here while staff saw "configuration
    problem": both now read the row's ``failure``, classified once where the call ended."""
    with rules(SIGN_ALGORITHM="sha1"):
        response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    [said] = shown(signed_in, response)
    assert said.startswith(CONFIGURATION)
    code_request = PhoneRegistration.objects.get().code_requests.get()
    assert (code_request.outcome, code_request.failure) == ("failed", Failure.CONFIGURATION)
    assert nxcloud.calls == []
