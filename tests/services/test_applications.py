"""Customer applications: createApp over the wire, write-ahead, refusals in plain words, added by
app key, assigned to new registrations, synced one application at a time, and in the admin."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import responses
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from nxwa_onboarding import services
from nxwa_onboarding.models import Application, PhoneRegistration
from nxwa_onboarding.nxcloud.signing import compute_sign
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.services import OTHER_PHONE, PHONE, THIRD_PHONE, answer, url
from tests.helpers.users import make_user
from tests.helpers.webhooks import new_application, verified_under

pytestmark = pytest.mark.django_db
SETTINGS_AT_ENTRY = {
    "ACCESS_KEY": "test-access-key",
    "ACCESS_SECRET": "test-access-secret-CANARY-7f3a",
    "BASE_URL": "https://api2.nxcloud.com",
    "APP_KEY": "test-app-key",
    "WEBHOOK_BASE_URL": "https://onboarding.example.com",
}


def test_create_app_over_the_wire_exact_bytes_signed() -> None:
    with responses.RequestsMock() as rsps:
        answer(rsps, "createApp", data={"app_id": 1042, "app_name": "Acme 商店", "app_key": "ak-1042"})
        application = services.create_application("Acme 商店")
        (call,) = rsps.calls
    assert call.request.url == url("createApp")
    expected = json.dumps(
        {"app_name": "Acme 商店", "webhook": application.webhook_url},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    assert call.request.body == expected
    assert application.webhook_url == (
        f"https://onboarding.example.com/nxwa/webhooks/{application.webhook_token}/"
    )
    headers = call.request.headers
    assert headers["action"] == "createApp"
    signed = {name: headers[name] for name in ("accessKey", "action", "bizType", "ts")}
    assert headers["sign"] == compute_sign(signed, expected.decode(), SETTINGS_AT_ENTRY["ACCESS_SECRET"])
    application.refresh_from_db()
    assert (application.outcome, application.app_id, application.app_key) == ("created", "1042", "ak-1042")
    assert application.finished_at is not None


def test_the_row_is_pending_while_create_app_is_in_flight() -> None:
    seen: list[tuple[str, int]] = []

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        seen.extend(Application.objects.filter(is_default=False).values_list("outcome", "pk"))
        return 200, {}, json.dumps({"code": 0, "message": "ok", "data": {"app_id": 1, "app_key": "k"}})

    with responses.RequestsMock() as rsps:
        rsps.add_callback("POST", url("createApp"), callback=callback)
        application = services.create_application("Acme")
    assert seen == [("pending", application.pk)]


@pytest.mark.parametrize(
    ("code", "outcome", "words"),
    [
        (9009, "rejected", "at most 1,000 customer applications"),
        (9001, "rejected", "NXCloud refused to create the application (result 9001: no)"),
        (1003, "failed", "signature rejected: check ACCESS_SECRET"),
    ],
)
def test_refusals_in_plain_words(code: int, outcome: str, words: str) -> None:
    with responses.RequestsMock() as rsps:
        answer(rsps, "createApp", code=code, message="no")
        application = services.create_application("Acme")
    assert application.outcome == outcome
    assert words in services.outcome_text(application)
    assert not application.is_usable


def test_a_lost_answer_is_unknown_and_says_how_to_recover(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("createApp", timeout=True)
    application = services.create_application("Acme")
    assert application.outcome == "unknown"
    assert "add it here by its app key" in services.outcome_text(application)


def test_refused_before_any_call_without_webhook_base_url_or_name(nxcloud: FakeNXCloud) -> None:
    unset = override_settings(NXWA_ONBOARDING={**SETTINGS_AT_ENTRY, "WEBHOOK_BASE_URL": ""})
    with unset, pytest.raises(ValidationError, match="WEBHOOK_BASE_URL"):
        services.create_application("Acme")
    with pytest.raises(ValidationError, match="name"):
        services.create_application("   ")
    assert nxcloud.calls == []
    assert not Application.objects.filter(is_default=False).exists()


def test_add_by_app_key_checks_it_with_phone_list(nxcloud: FakeNXCloud) -> None:
    made = nxcloud.create_app("elsewhere", "https://x")["app_key"]
    added = services.add_application(made, name="Made elsewhere", signs_callbacks=True)
    assert (added.outcome, added.app_key, added.signs_callbacks) == ("added", made, True)
    with pytest.raises(ValidationError, match="already here"):
        services.add_application(made, name="Again")
    with pytest.raises(ValidationError, match="no application with this app key"):
        services.add_application("no-such-key", name="Nope")


def test_add_by_app_key_command(nxcloud: FakeNXCloud, capsys: Any) -> None:
    made = nxcloud.create_app("elsewhere", "https://x")["app_key"]
    make_user("merchant")
    # The key comes on standard input (or a prompt without echo): never on the command line.
    call_command(
        "nxwa_add_application", "--name", "Shop", "--owner", "merchant", stdin=io.StringIO(made + "\n")
    )
    out = capsys.readouterr().out
    application = Application.objects.get(app_key=made)
    assert application.owner is not None
    assert application.owner.get_username() == "merchant"
    assert application.webhook_url in out
    assert made not in out
    with pytest.raises(CommandError, match="already here"):
        call_command("nxwa_add_application", "--name", "Shop", stdin=io.StringIO(made + "\n"))
    with pytest.raises(CommandError, match="standard input"):
        call_command("nxwa_add_application", made, "--name", "Shop", stdin=io.StringIO(""))
    assert Application.objects.count() == 1  # Shop only


def test_assignment_default_owners_only_application_else_the_default(nxcloud: FakeNXCloud) -> None:
    merchant, other = make_user("merchant"), make_user("other")
    theirs = new_application(nxcloud, "Merchant's", owner=merchant)
    assert services.create_registration(PHONE, owner=merchant).application == theirs
    assert services.create_registration(OTHER_PHONE, owner=other).application.is_default
    new_application(nxcloud, "Merchant's second", owner=merchant)
    assert services.create_registration(THIRD_PHONE, owner=merchant).application.is_default


def pick_the_newest(owner: Any) -> Application:
    return Application.objects.usable().order_by("-pk").first()  # type: ignore[return-value]


def test_assignment_is_a_setting(nxcloud: FakeNXCloud) -> None:
    newest = new_application(nxcloud, "Newest")
    path = "tests.services.test_applications.pick_the_newest"
    with override_settings(NXWA_ONBOARDING={**SETTINGS_AT_ENTRY, "APPLICATION_FOR_OWNER": path}):
        assert services.create_registration(PHONE).application == newest


def test_single_application_installation_works_with_app_key_alone(nxcloud: FakeNXCloud) -> None:
    registration = PhoneRegistration.objects.create(phone_number=PHONE)
    assert registration.application.is_default
    assert registration.application.effective_app_key == "test-app-key"
    services.sync_statuses()
    assert nxcloud.calls_to("phoneList")[-1].payload == {"appkey": "test-app-key"}


def test_syncing_one_application_never_touches_the_others(nxcloud: FakeNXCloud) -> None:
    first, second = new_application(nxcloud, "First"), new_application(nxcloud, "Second")
    one = verified_under(nxcloud, first, PHONE)
    two = verified_under(nxcloud, second, OTHER_PHONE)
    before = (two.status, two.register_status, two.last_synced_at, two.updated_at)
    for _ in range(3):
        services.sync_statuses(first)
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.status == "registered"
    assert (two.status, two.register_status, two.last_synced_at, two.updated_at) == before
    assert {call.payload["appkey"] for call in nxcloud.calls_to("phoneList")} == {first.app_key}
    first.refresh_from_db()
    assert first.last_synced_at is not None
    # Even were NXCloud to list the other's number under this key, it is not matched.
    nxcloud.bind(OTHER_PHONE, first.app_key)
    summary = services.sync_statuses(first)
    assert OTHER_PHONE in summary.unmatched
    two.refresh_from_db()
    assert (two.status, two.register_status, two.last_synced_at, two.updated_at) == before


def test_admin_applications_end_to_end(
    nxcloud: FakeNXCloud, superuser: Any, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(superuser)
    merchant = make_user("merchant")
    response = client.post(
        "/admin/nxwa_onboarding/application/add/", {"name": "Second", "owner": merchant.pk}, follow=True
    )
    # createApp is not made inside the admin's transaction: the pending row was committed first
    assert "inside a database transaction" not in caplog.text
    application = Application.objects.get(name="Second")
    assert response.redirect_chain[0][1] == 302
    assert application.outcome == "created"
    assert application.owner == merchant
    assert nxcloud.webhooks[application.app_key] == application.webhook_url
    # Shown once, at creation, to the staff member who made it; masked on every page after.
    shown = response.content.decode()
    assert application.webhook_url in shown
    assert application.app_key in shown
    listing = client.get("/admin/nxwa_onboarding/application/").content.decode()
    change = client.get(f"/admin/nxwa_onboarding/application/{application.pk}/change/").content.decode()
    viewer = Client()
    viewer.force_login(make_user("viewer", staff=True, perms=("view_application",)))
    viewed = viewer.get(f"/admin/nxwa_onboarding/application/{application.pk}/change/").content.decode()
    for page in (listing, change, viewed):
        assert application.webhook_token not in page
        assert application.app_key not in page
    assert "Second" in listing

    registration = verified_under(nxcloud, application, PHONE)
    nxcloud.bind("8613700137000", application.app_key)
    nxcloud.set_register_status("8613700137000", 5)
    page = client.get(f"/admin/nxwa_onboarding/application/{application.pk}/numbers/").content.decode()
    assert "+86 138 0013 8000" in page
    assert "+86 137 0013 7000" in page
    assert f"/admin/nxwa_onboarding/phoneregistration/{registration.pk}/change/" in page

    client.post(
        "/admin/nxwa_onboarding/application/",
        {"action": "sync_from_nxcloud", "_selected_action": [application.pk]},
    )
    registration.refresh_from_db()
    assert registration.last_synced_at is not None


def test_admin_refusal_in_plain_words(nxcloud: FakeNXCloud, superuser: Any, client: Client) -> None:
    client.force_login(superuser)
    nxcloud.fail("createApp", 9009, message="limit")
    response = client.post("/admin/nxwa_onboarding/application/add/", {"name": "Too many"}, follow=True)
    assert "at most 1,000 customer applications" in response.content.decode()


def test_admin_add_existing(nxcloud: FakeNXCloud, superuser: Any, client: Client) -> None:
    client.force_login(superuser)
    made = nxcloud.create_app("elsewhere", "https://x")["app_key"]
    response = client.post(
        "/admin/nxwa_onboarding/application/add-existing/", {"name": "Elsewhere", "app_key": made}
    )
    assert response.status_code == 302
    assert Application.objects.get(app_key=made).outcome == "added"
    again = client.post(
        "/admin/nxwa_onboarding/application/add-existing/", {"name": "Bad", "app_key": "nope"}
    )
    assert "no application with this app key" in again.content.decode()


def test_create_app_answering_with_our_own_app_key_is_not_stored() -> None:
    """createApp answering with the default application's key (APP_KEY) would shadow it: every
    lookup by that key would find the new row. The key is refused, the row kept as unknown."""
    with responses.RequestsMock() as rsps:
        answer(rsps, "createApp", data={"app_id": 7, "app_name": "Echo", "app_key": "test-app-key"})
        application = services.create_application("Echo")
    application.refresh_from_db()
    assert application.app_key == ""
    assert application.outcome == "unknown"
    assert "another application" in application.result_message
    assert Application.objects.filter(app_key="test-app-key").count() == 0
