"""One table of situations, run the same way through every door: the customer page, the JSON API,
the admin and the operator commands must agree on what is allowed, what happens (the NXCloud calls
made, the tasks enqueued) and the words shown (``services.situation``'s).

A situation missing from the table, or a door missing from ``DOORS``, fails the test; a door that
does not apply to a situation says so in the table, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.choices import AccountState, Channel, RegistrationStatus
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.services.situation import Situation, decide, text, title
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import change_url, check_url, logged_in
from tests.helpers.api import ApiClient
from tests.helpers.pages import text_of
from tests.helpers.services import rules
from tests.helpers.users import make_user

pytestmark = pytest.mark.django_db

Status = RegistrationStatus
PHONE = "+86 138 0013 8000"
DIGITS = "8613800138000"
IP = "198.51.100.7"
#: Every door onto the registrations. A new door must be added here, and to every row.
DOORS = ("page", "api", "admin", "command")


# -- putting a registration in each situation --------------------------------------------------------


def _created(owner: Any) -> PhoneRegistration:
    return services.create_registration(PHONE, owner=owner, user=owner, channel=Channel.CUSTOMER)


def _code_sent(owner: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    registration = _created(owner)
    sent = services.request_code(registration, "sms", user=owner, ip=IP, channel=Channel.CUSTOMER)
    assert sent.outcome == "sent", sent.refusal_reason
    return registration


def _verified(owner: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    registration = _code_sent(owner, nxcloud)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    assert services.check_code(registration, code, channel=Channel.COMMAND).outcome == "accepted"
    return registration


def _set(registration: PhoneRegistration, **fields: Any) -> PhoneRegistration:
    PhoneRegistration.objects.filter(pk=registration.pk).update(**fields)
    registration.refresh_from_db()
    return registration


def _client_created(owner: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    registration = _verified(owner, nxcloud)
    services.create_client(registration)
    return registration


def _registered(owner: Any, nxcloud: FakeNXCloud, **fields: Any) -> PhoneRegistration:
    registration = _client_created(owner, nxcloud)
    now = timezone.now()
    return _set(registration, status=Status.REGISTERED, register_status=5, registered_at=now, **fields)


Build = Callable[[Any, FakeNXCloud], PhoneRegistration]

#: How to put a registration of ``owner`` in each of a registration's situations.
BUILDERS: dict[Situation, Build] = {
    Situation.MAY_CHECK: _code_sent,
    Situation.MAY_SEND: lambda owner, nxcloud: _created(owner),
    Situation.SETUP_PENDING: _verified,
    Situation.SETTING_UP: _client_created,
    Situation.SETUP_REFUSED: lambda owner, nxcloud: _set(
        _verified(owner, nxcloud), client_refusal="9012: the number cannot be set up"
    ),
    Situation.REGISTERED: _registered,
    Situation.BANNED: lambda owner, nxcloud: _registered(
        owner, nxcloud, account_state=AccountState.BANNED, account_event="DISABLED_UPDATE"
    ),
    Situation.RESTRICTED: lambda owner, nxcloud: _registered(
        owner, nxcloud, account_state=AccountState.RESTRICTED, account_event="ACCOUNT_RESTRICTION"
    ),
    Situation.NAME_REJECTED: lambda owner, nxcloud: _registered(
        owner, nxcloud, name_decision="REJECTED", requested_name="Acme!!"
    ),
    Situation.CLOSED: lambda owner, nxcloud: _closed(_created(owner)),
    Situation.FAILED: lambda owner, nxcloud: _set(
        _client_created(owner, nxcloud), status=Status.FAILED, register_status=1
    ),
}


def _closed(registration: PhoneRegistration) -> PhoneRegistration:
    assert services.close_registration(registration, user=None, reason="closed for the contract test")
    return registration


# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """What every door must show and allow in one situation: ``may_check`` / ``may_send`` (a code
    may be typed in / asked for now); ``not_applicable``: doors that do not meet it, and why."""

    may_check: bool = False
    may_send: bool = False
    not_applicable: dict[str, str] = field(default_factory=dict)


#: Situations of a number someone tries to add: the operators' commands act on any registration of
#: the number (they take it up, whoever owns it), so none of these is theirs.
NOT_BY_COMMAND = {"command": "the commands act on the number's open registration, whoever holds it"}
STAFF_HAVE_NO_NUMBERS = {
    "admin": "staff add numbers for customers: none of them is 'yours', no open limit applies",
    **NOT_BY_COMMAND,
}
#: A closed or failed registration no longer holds its number: the commands start a new one.
NOT_HELD = {"command": "a closed or failed registration holds no number: the commands start a new one"}

TABLE: dict[Situation, Row] = {
    Situation.MAY_CHECK: Row(may_check=True),  # sent moments ago: the cooldown refuses another
    Situation.MAY_SEND: Row(may_send=True),
    Situation.SETUP_PENDING: Row(),
    Situation.SETTING_UP: Row(),
    Situation.SETUP_REFUSED: Row(),
    Situation.REGISTERED: Row(),
    Situation.BANNED: Row(),
    Situation.RESTRICTED: Row(),
    Situation.NAME_REJECTED: Row(),
    Situation.CLOSED: Row(not_applicable=NOT_HELD),
    Situation.FAILED: Row(not_applicable=NOT_HELD),
    Situation.TAKEN: Row(not_applicable=NOT_BY_COMMAND),
    Situation.OPEN_LIMIT: Row(not_applicable=STAFF_HAVE_NO_NUMBERS),
    Situation.ALREADY_YOURS: Row(not_applicable=STAFF_HAVE_NO_NUMBERS),
    Situation.ALREADY_REGISTERED: Row(not_applicable=STAFF_HAVE_NO_NUMBERS),
}
ADDING = (Situation.TAKEN, Situation.OPEN_LIMIT, Situation.ALREADY_YOURS, Situation.ALREADY_REGISTERED)
#: The API's problem type for each (stable names: ``already-onboarding`` is older than the others).
PROBLEM_TYPES = {
    Situation.TAKEN: "number-taken",
    Situation.OPEN_LIMIT: "open-limit",
    Situation.ALREADY_YOURS: "already-onboarding",
    Situation.ALREADY_REGISTERED: "already-registered",
}


def test_the_table_has_every_situation_and_every_door() -> None:
    assert set(TABLE) == set(Situation)
    assert set(BUILDERS) | set(ADDING) == set(Situation)
    assert set(DOORS) == {"page", "api", "admin", "command"}
    for row in TABLE.values():
        assert set(row.not_applicable) <= set(DOORS)
    # Every door the project has is in DOORS: the customer pages, the API, the admin, the commands.
    from nxwa_onboarding.models import Channel as Channels

    assert {str(c) for c in Channels} == {"customer", "api", "admin", "command"}


CASES = [
    pytest.param(situation, door, id=f"{situation.value}-{door}")
    for situation in Situation
    for door in DOORS
    if door not in TABLE[situation].not_applicable
]


def words_in(said: str, situation: Situation, **kwargs: Any) -> None:
    """The situation's title and text are what the door said (whitespace as a person reads it)."""
    plain = re.sub(r"\s+", " ", said)
    assert text(situation, **kwargs) in plain, (situation, plain[:3000])


# -- how each door is driven --------------------------------------------------------------------------


def _customer_client(owner: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def _api(owner: Any) -> ApiClient:
    api = ApiClient()
    api.client.force_login(owner)
    return api


def _command(*args: str, stdin: str | None = None) -> tuple[bool, str]:
    """Run an operator command: (succeeded, what it printed, errors included)."""
    out, err = StringIO(), StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    try:
        call_command(*args, **options)
    except CommandError as error:
        return False, out.getvalue() + err.getvalue() + str(error)
    return True, out.getvalue() + err.getvalue()


def _send_button_enabled(html: str) -> bool:
    form = re.search(r'<form[^>]*action="[^"]*/send/"[^>]*>(.*?)</form>', html, re.S)
    if form is None:
        return False
    button = re.search(r"<button[^>]*>", form.group(1))
    return button is not None and "disabled" not in button.group(0)


@pytest.mark.parametrize(("situation", "door"), [c for c in CASES if c.values[0] not in ADDING])
def test_every_door_shows_a_registration_in_its_situation(
    situation: Situation, door: str, customer: Any, staff: Any, nxcloud: FakeNXCloud
) -> None:
    """Looking at the registration: the same situation, the same words, the same things allowed,
    and nothing sent to NXCloud by looking."""
    registration = BUILDERS[situation](customer, nxcloud)
    row = TABLE[situation]
    assert decide(registration, services.get_state(registration, ip=IP)).situation == situation
    calls_before = len(nxcloud.calls)
    if door == "page":
        client = _customer_client(customer)
        html = client.get(registration.get_absolute_url()).content.decode()
        shown = text_of(html)
        # The list of the customer's numbers names the same situation.
        assert title(situation) in text_of(client.get(reverse("nxwa_onboarding:list")).content.decode())
        words_in(shown, situation)
        assert title(situation) in shown
        assert ('name="code"' in html) == row.may_check
        assert _send_button_enabled(html) == row.may_send
        if situation in (Situation.BANNED, Situation.RESTRICTED, Situation.NAME_REJECTED):
            assert "ready to use" not in shown
            assert "All done" not in shown
    elif door == "api":
        body = _api(customer).get(f"/registrations/{registration.public_id}/").json()
        assert body["situation"] == {
            "code": situation.value,
            "title": title(situation),
            "detail": text(situation),
        }
        assert body["state"]["can_check"] == row.may_check
        assert body["state"]["can_send"] == row.may_send
    elif door == "admin":
        response = logged_in(staff).get(change_url(registration))
        assert response.status_code == 200
        shown = text_of(response.content.decode())
        words_in(shown, situation)
        assert title(situation) in shown
        unverified = situation in (Situation.MAY_CHECK, Situation.MAY_SEND)
        assert (check_url(registration) in response.content.decode()) == unverified
    else:
        sends = len(nxcloud.calls_to("getCode"))
        ok, said = _command("nxwa_request_code", DIGITS)
        assert ok == row.may_send, said
        assert len(nxcloud.calls_to("getCode")) == sends + row.may_send
        if not ok:
            words_in(said, situation)
    if door != "command":
        assert len(nxcloud.calls) == calls_before, [c.action for c in nxcloud.calls[calls_before:]]


# -- an accepted code, whichever door -----------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
def test_an_accepted_code_starts_the_setup_once_whichever_door(
    door: str, customer: Any, staff: Any, nxcloud: FakeNXCloud
) -> None:
    registration = _code_sent(customer, nxcloud)
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    with TestCase.captureOnCommitCallbacks(execute=True) as enqueued:
        if door == "page":
            client = _customer_client(customer)
            response = client.post(
                reverse("nxwa_onboarding:check", args=[registration.public_id]), {"code": code}
            )
            said = text_of(client.get(response["Location"]).content.decode())
        elif door == "api":
            response = _api(customer).post(f"/registrations/{registration.public_id}/check/", {"code": code})
            assert response.status_code == 200, response.content
            said = str(response.json())
        elif door == "admin":
            client = logged_in(staff)
            response = client.post(check_url(registration), {"code": code})
            assert response.status_code == 302
            said = text_of(client.get(response["Location"]).content.decode())
        else:
            ok, said = _command("nxwa_check_code", DIGITS, stdin=code + "\n")
            assert ok, said
    assert len(nxcloud.calls_to("checkCode")) == 1
    assert len(nxcloud.calls_to("createClient")) == 1, door
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    # The page, the API and the admin enqueue it on commit (the immediate backend ran it); the
    # operator's command creates it while the operator waits, as its help says.
    assert len(enqueued) == (0 if door == "command" else 1)
    words_in(said, Situation.SETUP_PENDING if door != "command" else Situation.SETTING_UP)


# -- adding a number ------------------------------------------------------------------------------------


def _adding_setup(situation: Situation, customer: Any, nxcloud: FakeNXCloud) -> PhoneRegistration | None:
    """Put the number (or the customer) where adding it again meets ``situation``."""
    if situation == Situation.TAKEN:
        # The caller once had the number (closed since); another customer holds it now.
        _closed(_created(customer))
        return _code_sent(make_user("holder"), nxcloud)
    if situation == Situation.OPEN_LIMIT:
        services.create_registration("+86 139 0013 9000", owner=customer, channel=Channel.CUSTOMER)
        return None
    if situation == Situation.ALREADY_YOURS:
        return _code_sent(customer, nxcloud)
    return _registered(customer, nxcloud)


@pytest.mark.parametrize(("situation", "door"), [c for c in CASES if c.values[0] in ADDING])
def test_every_door_answers_a_number_being_added_the_same_way(
    situation: Situation, door: str, customer: Any, staff: Any, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=1):
        held = _adding_setup(situation, customer, nxcloud)
        count = PhoneRegistration.objects.count()
        sends = len(nxcloud.calls_to("getCode"))
        goes_to = held if situation in (Situation.ALREADY_YOURS, Situation.ALREADY_REGISTERED) else None
        if door == "page":
            client = _customer_client(customer)
            response = client.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
            if goes_to is not None:
                assert response.status_code == 302
                assert response["Location"] == goes_to.get_absolute_url()
                response = client.get(response["Location"])
            else:
                assert response.status_code == 200
            said = text_of(response.content.decode())
            words_in(said, situation, limit=1)
        elif door == "api":
            response = _api(customer).post("/registrations/", {"phone_number": PHONE, "method": "sms"})
            assert response.status_code == 409, response.content
            body = response.json()
            assert body["type"] == f"urn:nxwa-onboarding:problem:{PROBLEM_TYPES[situation]}"
            words_in(body["detail"], situation, limit=1)
            assert body.get("registration") == (str(goes_to.public_id) if goes_to is not None else None)
        else:  # the admin: staff add the number for the customer
            response = logged_in(staff).post(
                reverse("admin:nxwa_onboarding_phoneregistration_add"),
                {"phone_number": PHONE, "owner": customer.pk},
            )
            assert response.status_code == 200
            assert "This number is already being onboarded." in text_of(response.content.decode())
        assert PhoneRegistration.objects.count() == count
        assert len(nxcloud.calls_to("getCode")) == sends


# -- refreshing from NXCloud: each registration's own application ---------------------------------------


@pytest.mark.parametrize("door", ["admin", "command"])
def test_staff_refresh_reads_each_registrations_own_application(
    door: str, customer: Any, staff: Any, nxcloud: FakeNXCloud
) -> None:
    """The page and the API never call NXCloud when polled (the follower does, per application);
    staff's refresh and the operator's sync read the registration's own application."""
    application = services.create_application("Second shop")
    registration = services.create_registration(PHONE, owner=customer, application=application)
    services.request_code(registration, "sms")
    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    services.check_code(registration, code)
    nxcloud.bind(DIGITS, application.effective_app_key)
    services.create_client(registration)
    nxcloud.set_register_status(DIGITS, 5)
    if door == "admin":
        client = logged_in(staff)
        data = {"action": "refresh_from_nxcloud", "_selected_action": [registration.pk], "index": "0"}
        client.post(reverse("admin:nxwa_onboarding_phoneregistration_changelist"), data)
    else:
        ok, said = _command("nxwa_sync_status")
        assert ok, said
    keys = [call.payload.get("appkey") for call in nxcloud.calls_to("phoneList")]
    assert application.effective_app_key in keys
    registration.refresh_from_db()
    assert registration.status == Status.REGISTERED
