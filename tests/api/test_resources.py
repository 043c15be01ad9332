"""The JSON API, driven with Django's test client (CSRF enforced) in front of the in-memory NXCloud.

Every endpoint and every refusal a caller can meet: the status, the problem type, the words, what
changed in the database and which NXCloud calls were (or were not) made. Every response is checked
against the committed OpenAPI document (``tests.helpers.api.ApiClient``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
import time_machine
from django.test import TestCase
from django.utils import timezone

from nxwa_onboarding import services, tasks
from nxwa_onboarding.models import Channel, CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import ApiClient, problem
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

PHONE = "+86 138 0013 8000"
DIGITS = "8613800138000"
LANDLINE = "+86 10 6552 9988"
Status = PhoneRegistration.Status


@pytest.fixture
def api(customer: Any) -> ApiClient:
    client = ApiClient()
    client.client.force_login(customer)
    return client


def start(api: ApiClient, phone: str = PHONE, method: str = "sms") -> dict[str, Any]:
    response = api.post("/registrations/", {"phone_number": phone, "method": method})
    assert response.status_code == 201, response.content
    return dict(response.json())


def wrong(nxcloud: FakeNXCloud, digits: str = DIGITS) -> str:
    return "000000" if nxcloud.latest_code(digits) != "000000" else "111111"


# -- creating, listing, reading ------------------------------------------------------------------


def test_create_sends_the_first_code_and_answers_the_registration(
    api: ApiClient, nxcloud: FakeNXCloud
) -> None:
    body = start(api, "+86 138-0013-8000", "voice")
    registration = PhoneRegistration.objects.get()
    assert body["id"] == str(registration.public_id)
    assert "pk" not in body
    assert body["phone_number"] == DIGITS
    assert body["status"] == "code_sent"
    assert body["step"] == 1
    assert body["last_code_request"]["method"] == "voice"
    assert body["last_code_request"]["outcome"] == "sent"
    state = body["state"]
    assert state["can_check"] is True
    assert state["attempts_left"] == 5
    assert state["code_expires_at"] is not None
    assert state["can_send"] is False
    assert state["send_refusal"]["reason"] == "cooldown"
    assert state["send_refusal"]["type"] == "urn:nxwa-onboarding:problem:refused:cooldown"
    assert registration.code_requests.get().channel == Channel.API
    assert registration.code_requests.get().ip == "127.0.0.1"
    assert len(nxcloud.calls_to("getCode")) == 1


def test_list_shows_only_the_callers_registrations_newest_first(
    api: ApiClient, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    first = start(api)
    second = start(api, "+86 139 0013 9000")
    theirs = ApiClient()
    theirs.client.force_login(other_customer)
    start(theirs, "+86 150 1234 5678")
    listed = api.get("/registrations/").json()
    assert [item["id"] for item in listed] == [second["id"], first["id"]]
    assert theirs.get("/registrations/").json()[0]["phone_number"] == "8615012345678"


def test_another_customers_registration_is_the_same_404_as_none(
    api: ApiClient, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    mine = start(api)
    theirs = ApiClient()
    theirs.client.force_login(other_customer)
    answers = [
        theirs.get(f"/registrations/{mine['id']}/"),
        theirs.post(f"/registrations/{mine['id']}/check/", {"code": nxcloud.latest_code(DIGITS)}),
        theirs.post(f"/registrations/{mine['id']}/send/", {"method": "sms"}),
        theirs.post(f"/registrations/{mine['id']}/refresh/"),
        api.get(f"/registrations/{uuid4()}/"),
        api.get("/registrations/not-a-uuid/"),
    ]
    bodies = [problem(response, 404, "not-found") for response in answers]
    assert all(body == bodies[-1] for body in bodies)
    assert nxcloud.calls_to("checkCode") == []
    assert PhoneRegistration.objects.get().attempts.count() == 0


def test_a_number_already_onboarded_by_the_caller_points_to_it(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    mine = start(api)
    body = problem(api.post("/registrations/", {"phone_number": PHONE}), 409, "already-onboarding")
    assert body["registration"] == mine["id"]


def test_a_number_onboarded_by_someone_else_is_refused_as_the_page_refuses_it(
    api: ApiClient, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    # Issue 19: it was a field error here and a refusal with what to do on the page.
    start(api)
    theirs = ApiClient()
    theirs.client.force_login(other_customer)
    body = problem(theirs.post("/registrations/", {"phone_number": PHONE}), 409, "number-taken")
    assert body["detail"] == (
        "This number is already being onboarded. If it is yours, finish its registration where it "
        "was started, or try again tomorrow."
    )
    assert "registration" not in body


def test_a_number_taken_since_the_callers_own_registration_closed_never_points_to_that(
    api: ApiClient, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    mine = PhoneRegistration.objects.get(public_id=start(api)["id"])
    services.close_registration(mine, user=None, reason="the customer gave it up")
    theirs = ApiClient()
    theirs.client.force_login(other_customer)
    start(theirs)
    body = problem(api.post("/registrations/", {"phone_number": PHONE}), 409, "number-taken")
    assert "registration" not in body


def test_the_callers_own_registered_number_says_so_and_points_to_it(
    api: ApiClient, nxcloud: FakeNXCloud
) -> None:
    mine = start(api)
    PhoneRegistration.objects.filter(public_id=mine["id"]).update(status=Status.REGISTERED)
    body = problem(api.post("/registrations/", {"phone_number": PHONE}), 409, "already-registered")
    assert body["registration"] == mine["id"]
    assert body["detail"] == "This number is already registered with WhatsApp: here it is."


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"phone_number": "12"}, "phone_number", "country code"),
        ({"phone_number": "+86 138 0013 8000 ext. 5"}, "phone_number", "extension"),
        ({"phone_number": PHONE, "method": "fax"}, "method", "Choose SMS or a voice call."),
        ({"phone_number": LANDLINE, "method": "sms"}, "method", "landline"),
        ({}, "phone_number", "This field is required."),
        ({"phone_number": 5}, "phone_number", "Enter a valid value."),
    ],
)
def test_validation_errors_name_the_field(
    api: ApiClient, nxcloud: FakeNXCloud, body: dict[str, Any], field: str, words: str
) -> None:
    answer = problem(api.post("/registrations/", body), 422, "invalid")
    assert [error["field"] for error in answer["errors"]] == [field]
    assert words.lower() in answer["errors"][0]["detail"].lower()
    assert not PhoneRegistration.objects.exists()
    assert nxcloud.calls == []


def test_a_body_that_is_not_json_is_a_400(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    problem(api.post("/registrations/", raw="phone_number=1"), 400, "bad-request")
    assert problem(api.post("/registrations/", raw="[1, 2]"), 422, "invalid")["errors"]


# -- submitting a code -----------------------------------------------------------------------------


def test_the_right_code_verifies_and_sets_up_whatsapp(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    with TestCase.captureOnCommitCallbacks(execute=True) as setup:
        answer = api.post(f"/registrations/{created['id']}/check/", {"code": f"{code[:3]} {code[3:]}"})
    assert answer.status_code == 200
    # Verified at once; the WhatsApp setup is enqueued for after the commit, never in the request.
    assert answer.json()["status"] == "verified"
    assert len(setup) == 1
    assert len(nxcloud.calls_to("createClient")) == 1  # the task ran (the immediate backend)
    later = api.get(f"/registrations/{created['id']}/").json()
    assert (later["status"], later["step"]) == ("client_created", 3)
    attempt = VerificationAttempt.objects.get()
    assert (attempt.outcome, attempt.channel) == ("accepted", Channel.API)


def test_a_wrong_code_says_how_many_tries_are_left(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    body = problem(
        api.post(f"/registrations/{created['id']}/check/", {"code": wrong(nxcloud)}), 422, "code-rejected"
    )
    assert body["attempts_left"] == 4
    assert body["detail"] == "That code was not accepted. You have 4 tries left."


def test_a_malformed_code_is_a_field_error_and_costs_nothing(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    body = problem(api.post(f"/registrations/{created['id']}/check/", {"code": "12ab"}), 422, "invalid")
    assert body["errors"] == [
        {
            "field": "code",
            "detail": "Enter the code as digits, for example 123456 or 123-456.",
            "code": "malformed",
        }
    ]
    assert nxcloud.calls_to("checkCode") == []
    assert not VerificationAttempt.objects.exists()


def use_up_tries(api: ApiClient, nxcloud: FakeNXCloud, public_id: str) -> None:
    for _ in range(5):
        api.post(f"/registrations/{public_id}/check/", {"code": wrong(nxcloud)})


Setup = Callable[[ApiClient, FakeNXCloud, dict[str, Any]], None]


def nothing(api: ApiClient, nxcloud: FakeNXCloud, created: dict[str, Any]) -> None:
    pass


def in_flight(api: ApiClient, nxcloud: FakeNXCloud, created: dict[str, Any]) -> None:
    registration = PhoneRegistration.objects.get(public_id=created["id"])
    VerificationAttempt.objects.create(
        registration=registration,
        channel="api",
        code_digest="x",
        code_request=registration.code_requests.get(),
    )


def verify(api: ApiClient, nxcloud: FakeNXCloud, created: dict[str, Any]) -> None:
    api.post(f"/registrations/{created['id']}/check/", {"code": nxcloud.latest_code(DIGITS)})


def start_verified(api: ApiClient, nxcloud: FakeNXCloud) -> dict[str, Any]:
    """A registration whose code was accepted, its on-commit work (the client's set-up) done."""
    created = start(api)
    with TestCase.captureOnCommitCallbacks(execute=True):
        verify(api, nxcloud, created)
    return created


def close(api: ApiClient, nxcloud: FakeNXCloud, created: dict[str, Any]) -> None:
    PhoneRegistration.objects.filter(public_id=created["id"]).update(status=Status.CLOSED)


def used_up(api: ApiClient, nxcloud: FakeNXCloud, created: dict[str, Any]) -> None:
    use_up_tries(api, nxcloud, created["id"])


@pytest.mark.parametrize(
    ("setup", "limits", "reason", "status"),
    [
        (used_up, {}, "too_many_attempts", 409),
        (in_flight, {}, "in_flight", 409),
        (verify, {}, "already_verified", 409),
        (close, {}, "closed", 409),
        (nothing, {"MAX_ATTEMPTS_PER_IP_PER_HOUR": 1}, "ip_limit", 429),
    ],
)
def test_each_check_refusal_has_its_type(
    api: ApiClient, nxcloud: FakeNXCloud, setup: Setup, limits: dict[str, Any], reason: str, status: int
) -> None:
    created = start(api)
    with rules(**limits):
        if limits:
            api.post(f"/registrations/{created['id']}/check/", {"code": wrong(nxcloud)})
        setup(api, nxcloud, created)
        calls = len(nxcloud.calls_to("checkCode"))
        body = problem(
            api.post(f"/registrations/{created['id']}/check/", {"code": nxcloud.latest_code(DIGITS)}),
            status,
            f"refused:{reason}",
        )
    assert "attempts_left" in body
    assert len(nxcloud.calls_to("checkCode")) == calls
    if status == 429:
        assert body["retry_at"] is not None


def test_no_code_yet_and_an_expired_code_are_refused(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 9001)
    created = start(api)
    assert created["last_code_request"]["outcome"] == "rejected"
    problem(api.post(f"/registrations/{created['id']}/check/", {"code": "123456"}), 409, "refused:no_code")
    body = problem(
        api.post(f"/registrations/{created['id']}/send/", {"method": "sms"}), 429, "refused:cooldown"
    )
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert api.post(f"/registrations/{created['id']}/send/", {"method": "sms"}).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=61 + 601)):
        body = problem(
            api.post(f"/registrations/{created['id']}/check/", {"code": nxcloud.latest_code(DIGITS)}),
            409,
            "refused:expired",
        )
        assert "expired" in body["detail"]
        state = api.get(f"/registrations/{created['id']}/").json()["state"]
        assert state["can_check"] is False
        assert state["check_refusal"]["reason"] == "expired"


def test_a_request_without_an_address_is_refused(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    body = problem(
        api.post("/registrations/", {"phone_number": PHONE}, REMOTE_ADDR=""), 400, "refused:no_address"
    )
    assert body["detail"]
    assert nxcloud.calls == []


# -- asking for a new code ---------------------------------------------------------------------------


def test_a_new_code_after_the_cooldown(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    response = api.post(f"/registrations/{created['id']}/send/", {"method": "sms"})
    body = problem(response, 429, "refused:cooldown")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["retry_at"] is not None
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        answer = api.post(f"/registrations/{created['id']}/send/", {"method": "voice"})
    assert answer.status_code == 200
    assert answer.json()["last_code_request"]["method"] == "voice"
    assert len(nxcloud.calls_to("getCode")) == 2


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"MAX_SENDS_PER_DAY": 1, "RESEND_COOLDOWN": 1}, "daily_cap"),
        ({"MAX_SENDS_PER_OWNER_PER_DAY": 1, "RESEND_COOLDOWN": 1}, "owner_limit"),
        ({"MAX_SENDS_PER_IP_PER_HOUR": 1, "RESEND_COOLDOWN": 1}, "ip_send_limit"),
        ({"MAX_SENDS_PER_DAY_GLOBAL": 1, "RESEND_COOLDOWN": 1}, "global_limit"),
    ],
)
def test_each_send_limit_is_a_429_with_retry_after(
    api: ApiClient, nxcloud: FakeNXCloud, limits: dict[str, Any], reason: str
) -> None:
    with rules(**limits):
        created = start(api)
        with time_machine.travel(timezone.now() + timedelta(seconds=2)):
            response = api.post(f"/registrations/{created['id']}/send/", {"method": "sms"})
    body = problem(response, 429, f"refused:{reason}")
    assert int(response["Retry-After"]) > 60
    assert body["retry_at"] is not None
    assert len(nxcloud.calls_to("getCode")) == 1


def test_a_landline_gets_its_code_by_voice_only(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api, LANDLINE, "voice")
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        body = problem(
            api.post(f"/registrations/{created['id']}/send/", {"method": "sms"}), 422, "refused:landline_sms"
        )
    assert "voice" in body["detail"]


def test_send_outcomes_rejected_unknown_and_failed(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    later = timezone.now()
    failures: list[tuple[int, dict[str, Any], tuple[int, str]]] = [
        (61, {"code": 9001}, (422, "code-not-sent")),
        (122, {"connection_error": True, "times": 10}, (503, "failure:unreachable")),
        (183, {"code": 1003}, (503, "failure:configuration")),
    ]
    for seconds, failure, expected in failures:
        nxcloud.fail("getCode", **failure)
        with time_machine.travel(later + timedelta(seconds=seconds)):
            body = problem(api.post(f"/registrations/{created['id']}/send/", {"method": "sms"}), *expected)
        nxcloud.clear_failures()
        assert "1003" not in body["detail"]
        assert "NXCloud" not in body["detail"]
    nxcloud.fail("getCode", timeout=True)
    with time_machine.travel(later + timedelta(seconds=244)):
        answer = api.post(f"/registrations/{created['id']}/send/", {"method": "sms"})
    assert answer.status_code == 202
    assert answer.json()["last_code_request"]["outcome"] == "unknown"


def test_check_outcomes_unknown_and_failed(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    code = nxcloud.latest_code(DIGITS)
    nxcloud.fail("checkCode", timeout=True)
    problem(api.post(f"/registrations/{created['id']}/check/", {"code": code}), 504, "failure:maybe_sent")
    nxcloud.fail("checkCode", connection_error=True, times=10)
    response = api.post(f"/registrations/{created['id']}/check/", {"code": code})
    problem(response, 503, "failure:unreachable")
    assert response["Retry-After"] == "60"


# -- refresh: from verified to registered --------------------------------------------------------------


def test_refresh_reads_and_never_calls_nxcloud_while_the_follower_moves_the_number_on(
    api: ApiClient, nxcloud: FakeNXCloud
) -> None:
    created = start_verified(api, nxcloud)
    seen = []
    for _ in range(4):
        calls = len(nxcloud.calls)
        seen.append(api.post(f"/registrations/{created['id']}/refresh/").json())
        assert len(nxcloud.calls) == calls, "a poll called NXCloud"
        tasks.follow_pass()  # what a worker or the cron job does beside the site
    # Registered, its health due a getPhone read: polls still read the database only.
    calls = len(nxcloud.calls)
    api.get(f"/registrations/{created['id']}/")
    api.post(f"/registrations/{created['id']}/refresh/")
    assert len(nxcloud.calls) == calls, "a poll called NXCloud"
    assert [body["status"] for body in seen][-1] == "registered"
    assert seen[-1]["done"] is True
    assert seen[-1]["step"] == 4


def test_a_client_nxcloud_refused_is_done_and_its_polls_send_nothing(
    api: ApiClient, nxcloud: FakeNXCloud
) -> None:
    created = start_verified(api, nxcloud)
    PhoneRegistration.objects.update(status=Status.VERIFIED, client_refusal="9001: not verified")
    calls = len(nxcloud.calls)
    for _ in range(3):
        with time_machine.travel(timezone.now() + timedelta(hours=1)):
            with TestCase.captureOnCommitCallbacks(execute=True):
                body = api.post(f"/registrations/{created['id']}/refresh/").json()
            tasks.follow_pass()
        assert (body["status"], body["done"]) == ("verified", True)
    assert len(nxcloud.calls) == calls  # no createClient, no phoneList: staff act next


# -- authentication, CSRF, language -------------------------------------------------------------------


def test_anonymous_callers_get_401_problem_details_not_a_redirect(nxcloud: FakeNXCloud) -> None:
    anonymous = ApiClient()
    answers = [
        anonymous.get("/registrations/"),
        anonymous.get(f"/registrations/{uuid4()}/"),
        anonymous.post("/registrations/", {"phone_number": PHONE}),
        anonymous.post(f"/registrations/{uuid4()}/check/", {"code": "123456"}, csrf=False),
    ]
    for response in answers:
        problem(response, 401, "unauthenticated")
        assert "Location" not in response
    assert nxcloud.calls == []


def test_a_session_caller_needs_the_csrf_token(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    body = problem(api.post("/registrations/", {"phone_number": PHONE}, csrf=False), 403, "csrf")
    assert "X-CSRFToken" in body["detail"]
    problem(
        api.post("/registrations/", {"phone_number": PHONE}, csrf=False, headers={"X-CSRFToken": "x" * 32}),
        403,
        "csrf",
    )
    assert not PhoneRegistration.objects.exists()
    assert api.get("/registrations/").cookies["csrftoken"].value
    assert api.post("/registrations/", {"phone_number": PHONE}).status_code == 201


def test_problem_details_in_chinese_when_the_caller_asks(customer: Any, nxcloud: FakeNXCloud) -> None:
    zh = ApiClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = problem(zh.get("/registrations/"), 401, "unauthenticated")
    assert body["title"] == "需要登录"
    zh.client.force_login(customer)
    created = start(zh)
    response = zh.post(f"/registrations/{created['id']}/send/", {"method": "sms"})
    body = problem(response, 429, "refused:cooldown")
    assert response["Content-Language"] == "zh-hans"
    assert body["title"] == "刚刚已发送验证码" or not body["title"].isascii()
    assert not body["detail"].isascii()
    wrong_code = problem(
        zh.post(f"/registrations/{created['id']}/check/", {"code": wrong(nxcloud)}), 422, "code-rejected"
    )
    assert not wrong_code["detail"].isascii()
    invalid = problem(zh.post("/registrations/", {"phone_number": PHONE, "method": "fax"}), 422, "invalid")
    assert not invalid["errors"][0]["detail"].isascii()


def test_problem_details_in_english_by_default(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    response = api.post(f"/registrations/{created['id']}/send/", {"method": "sms"})
    body = problem(response, 429, "refused:cooldown")
    assert body["title"] == "A code was sent moments ago"
    assert body["detail"].startswith("A code was sent moments ago. You can try again in")
    assert response["Content-Language"] == "en"


def test_responses_are_never_cached(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    created = start(api)
    for response in (api.get("/registrations/"), api.get(f"/registrations/{created['id']}/")):
        assert "no-store" in response["Cache-Control"]
    assert CodeRequest.objects.count() == 1
