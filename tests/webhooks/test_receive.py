"""The webhook: signatures (accepted, forged, stale, replayed, missing where required), one row
per event however often it comes, each event kind applied, hostile bodies never a 500 nor lost."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from nxwa_onboarding import signals
from nxwa_onboarding.models import Application, PhoneRegistration, WebhookDelivery
from nxwa_onboarding.sandbox import callbacks
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.webhooks import views as webhook_views
from tests.helpers.services import OTHER_PHONE, PHONE, caught
from tests.helpers.webhooks import new_application, verified_under

pytestmark = pytest.mark.django_db

BAN = callbacks.account_event(PHONE, "DISABLED_UPDATE", "DISABLE")


@pytest.fixture
def signed_app(nxcloud: FakeNXCloud) -> Application:
    return new_application(nxcloud, "Signed", signed=True)


@pytest.fixture
def unsigned_app(nxcloud: FakeNXCloud) -> Application:
    return new_application(nxcloud, "Unsigned")


def test_a_signed_callback_is_accepted_and_applied(nxcloud: FakeNXCloud, signed_app: Application) -> None:
    registration = verified_under(nxcloud, signed_app, PHONE)
    with caught(signals.account_updated) as received:
        response = nxcloud.send_webhook(signed_app, BAN)
    assert response.status_code == 200
    assert response.json() == {"code": 0, "message": "success"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.kind, delivery.event, delivery.signed) == (
        "applied",
        "account_update",
        "DISABLED_UPDATE",
        True,
    )
    assert delivery.registration == registration
    registration.refresh_from_db()
    assert registration.account_state == "banned"
    assert [(r["registration"], r["state"], r["delivery"]) for r in received] == [
        (registration, "banned", delivery)
    ]


@pytest.mark.parametrize(
    "how",
    ["forged sign", "other body", "stale ts", "future ts", "missing sign", "unsigned", "other access key"],
)
def test_a_bad_signature_is_403_and_stores_nothing(
    nxcloud: FakeNXCloud, signed_app: Application, how: str
) -> None:
    verified_under(nxcloud, signed_app, PHONE)
    now = int(time.time() * 1000)
    cases: dict[str, dict[str, Any]] = {
        "forged sign": {"headers": {"sign": "0" * 32}},
        "stale ts": {"ts_ms": now - 61_000},
        "future ts": {"ts_ms": now + 61_000},
        "missing sign": {"headers": {"sign": ""}},
        "unsigned": {"signed": False},
        "other access key": {"headers": {"accesskey": "someone-else"}},
        "other body": {},
    }
    kwargs = cases[how]
    if how == "other body":
        good = callbacks.signed_headers(
            callbacks.body_of(BAN), access_key=nxcloud.access_key, access_secret="x"
        )
        kwargs = {"signed": False, "headers": good}
    response = nxcloud.send_webhook(signed_app, BAN, **kwargs)
    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 0
    assert PhoneRegistration.objects.get().account_state == ""


def test_a_replayed_signed_callback_is_stored_and_applied_once(
    nxcloud: FakeNXCloud, signed_app: Application
) -> None:
    verified_under(nxcloud, signed_app, PHONE)
    body = callbacks.body_of(BAN)
    headers = callbacks.signed_headers(
        body, access_key=nxcloud.access_key, access_secret=nxcloud.access_secret
    )
    with caught(signals.account_updated) as received:
        for _ in range(3):  # the same signed request, replayed within the window
            assert (
                nxcloud.send_webhook(signed_app, raw=body, signed=False, headers=headers).status_code == 200
            )
        # and a redelivery: signed anew (new ts), the body serialised differently
        spaced = json.dumps(BAN, indent=2).encode()
        assert (
            nxcloud.send_webhook(signed_app, raw=spaced, ts_ms=int(time.time() * 1000) - 5).status_code == 200
        )
    assert WebhookDelivery.objects.count() == 1
    assert len(received) == 1


def test_unsigned_application_the_token_is_the_key(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    registration = verified_under(nxcloud, unsigned_app, PHONE)
    assert nxcloud.send_webhook(unsigned_app, BAN, signed=False).status_code == 200
    registration.refresh_from_db()
    assert registration.account_state == "banned"
    assert WebhookDelivery.objects.get().signed is False
    assert nxcloud.send_webhook("/nxwa/webhooks/not-the-token/", BAN).status_code == 404
    assert WebhookDelivery.objects.count() == 1


def test_post_only_and_no_csrf(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get(unsigned_app.webhook_path).status_code == 405
    assert nxcloud.send_webhook(unsigned_app, BAN, client=client).status_code == 200


def test_an_application_whose_create_app_failed_has_no_webhook(nxcloud: FakeNXCloud) -> None:
    from nxwa_onboarding import services

    nxcloud.fail("createApp", 9001)
    failed = services.create_application("Failed")
    assert nxcloud.send_webhook(failed, BAN).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field", "value"),
    [
        (callbacks.account_event(PHONE, "ACCOUNT_RESTRICTION"), "account_state", "restricted"),
        (callbacks.account_event(PHONE, "ACCOUNT_VIOLATION"), "account_state", "warned"),
        (
            callbacks.account_event(PHONE, "DISABLED_UPDATE", "SCHEDULE_FOR_DISABLE"),
            "account_state",
            "ban_scheduled",
        ),
        (callbacks.account_event(PHONE, "ACCOUNT_DELETED"), "account_state", "deleted"),
        (callbacks.quality_event(PHONE, "DOWNGRADE", "TIER_250"), "messaging_limit", "TIER_250"),
        (callbacks.quality_event(PHONE, "FLAGGED", "TIER_1K"), "quality_event", "FLAGGED"),
        (
            callbacks.name_event(PHONE, "REJECTED", "x", "LESS_THAN_ONE_WORD"),
            "name_rejection_reason",
            "LESS_THAN_ONE_WORD",
        ),
        (callbacks.name_event(PHONE, "APPROVED", "Acme Shop"), "verified_name", "Acme Shop"),
        (callbacks.name_event(PHONE, "DEFERRED", "Acme Shop"), "name_decision", "DEFERRED"),
    ],
)
def test_each_event_kind_is_applied(
    nxcloud: FakeNXCloud, unsigned_app: Application, payload: dict[str, Any], field: str, value: str
) -> None:
    registration = verified_under(nxcloud, unsigned_app, PHONE)
    signal = {
        "account_update": signals.account_updated,
        "phone_number_quality_update": signals.quality_updated,
        "phone_number_name_update": signals.display_name_decided,
    }[payload["field"]]
    with caught(signal) as received:
        assert nxcloud.send_webhook(unsigned_app, payload).status_code == 200
    registration.refresh_from_db()
    assert getattr(registration, field) == value
    assert registration.last_event_at is not None
    assert WebhookDelivery.objects.get().outcome == "applied"
    assert len(received) == 1


def test_reinstatement_after_a_ban_and_an_older_event_is_stale(
    nxcloud: FakeNXCloud, unsigned_app: Application
) -> None:
    registration = verified_under(nxcloud, unsigned_app, PHONE)
    now = int(time.time())
    nxcloud.send_webhook(unsigned_app, callbacks.account_event(PHONE, "DISABLED_UPDATE", "DISABLE", time=now))
    nxcloud.send_webhook(
        unsigned_app, callbacks.account_event(PHONE, "REINSTATE", "REINSTATE", time=now + 10)
    )
    registration.refresh_from_db()
    assert registration.account_state == "active"
    late = callbacks.account_event(PHONE, "ACCOUNT_RESTRICTION", time=now - 100)
    nxcloud.send_webhook(unsigned_app, late)
    registration.refresh_from_db()
    assert registration.account_state == "active"
    assert WebhookDelivery.objects.first().outcome == "stale"  # type: ignore[union-attr]


def test_events_for_another_applications_number_are_unmatched(nxcloud: FakeNXCloud) -> None:
    first, second = new_application(nxcloud, "First"), new_application(nxcloud, "Second")
    theirs = verified_under(nxcloud, second, OTHER_PHONE)
    nxcloud.send_webhook(first, callbacks.account_event(OTHER_PHONE, "DISABLED_UPDATE", "DISABLE"))
    theirs.refresh_from_db()
    assert theirs.account_state == ""
    assert WebhookDelivery.objects.get().outcome == "unmatched"


def test_message_events_are_counted_not_stored(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    status = {"statuses": [{"id": "wamid.1", "status": "delivered"}], "business_phone": PHONE}
    inbound = {"messages": [{"from": "1", "text": {"body": "hi"}}], "contacts": [], "merchant_phone": PHONE}
    for payload in (status, inbound, status):
        assert nxcloud.send_webhook(unsigned_app, payload).status_code == 200
    assert WebhookDelivery.objects.count() == 0
    unsigned_app.refresh_from_db()
    assert unsigned_app.message_events == 3


def test_other_fields_are_stored_and_ignored(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    nxcloud.send_webhook(
        unsigned_app, {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    )
    assert WebhookDelivery.objects.get().outcome == "ignored"


def nested(depth: int) -> bytes:
    return b'{"field":"account_update","value":' + b"[" * depth + b"]" * depth + b"}"


HOSTILE: dict[str, bytes] = {
    "not json": b"<html>hello</html>",
    "not utf-8": b'{"field":"account_update","value":{"business_phone":"\xff\xfe"}}',
    "a list": b"[1,2,3]",
    "deeply nested": nested(100_000),
    "NULs": b'{"field":"account_update\\u0000","value":{"event":"DISABLED_UPDATE\\u0000",'
    b'"business_phone":"86\\u0000138"}}',
    "raw NUL bytes": b'{"field":"x"}\x00\x00',
    "wrong types": b'{"field":"account_update","value":{"event":[1],"business_phone":{"a":1},'
    b'"ban_info":"DISABLE","time":"soon"}}',
    "field not text": b'{"field":12,"value":{}}',
    "value not object": b'{"field":"phone_number_quality_update","value":"DOWNGRADE"}',
    "huge number": b'{"field":"account_update","value":{"time":' + b"9" * 5000 + b"}}",
    "empty": b"",
    "lone surrogate": b'{"field":"phone_number_name_update","value":{"display_phone_number":"8613800138000",'
    b'"decision":"APPROVED","requested_verified_name":"\\ud800"}}',
    "huge": b'{"field":"account_update","value":{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("signed", [False, True])
def test_hostile_bodies_are_never_a_500_and_never_lost(nxcloud: FakeNXCloud, name: str, signed: bool) -> None:
    application = new_application(nxcloud, "Hostile", signed=signed)
    verified_under(nxcloud, application, PHONE)
    response = nxcloud.send_webhook(application, raw=HOSTILE[name], signed=signed)
    if not signed and len(HOSTILE[name]) > webhook_views.UNSIGNED_MAX_BODY:
        # An unsigned URL's size limit: refused unread (nobody vouches for it), never a 500.
        assert response.status_code == 413
        assert WebhookDelivery.objects.count() == 0
        return
    assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 1
    delivery = WebhookDelivery.objects.get()
    assert "\x00" not in delivery.payload + delivery.kind + delivery.event + delivery.phone_number
    assert len(delivery.payload) <= 64 * 1024
    assert delivery.body_bytes == len(HOSTILE[name])
    # stored once however often it comes
    nxcloud.send_webhook(application, raw=HOSTILE[name], signed=signed)
    assert WebhookDelivery.objects.count() == 1


def test_a_body_past_the_hard_limit_is_413(
    nxcloud: FakeNXCloud, signed_app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_views, "MAX_BODY", 1000)
    assert nxcloud.send_webhook(signed_app, raw=b"x" * 1001).status_code == 413
    assert WebhookDelivery.objects.count() == 0


def test_deliveries_are_append_only(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    from django.core.exceptions import ValidationError

    nxcloud.send_webhook(unsigned_app, BAN)
    delivery = WebhookDelivery.objects.get()
    delivery.detail = "changed"
    with pytest.raises(ValidationError):
        delivery.save()


def test_the_webhook_never_calls_nxcloud(nxcloud: FakeNXCloud, unsigned_app: Application) -> None:
    verified_under(nxcloud, unsigned_app, PHONE)
    before = len(nxcloud.calls)
    for payload in (BAN, callbacks.quality_event(PHONE), callbacks.name_event(PHONE, "APPROVED", "A")):
        nxcloud.send_webhook(unsigned_app, payload)
    assert len(nxcloud.calls) == before


def test_deliveries_are_read_only_in_the_admin(
    nxcloud: FakeNXCloud, unsigned_app: Application, superuser: Any, client: Client
) -> None:
    nxcloud.send_webhook(unsigned_app, BAN)
    delivery = WebhookDelivery.objects.get()
    client.force_login(superuser)
    assert client.get("/admin/nxwa_onboarding/webhookdelivery/").status_code == 200
    page = client.get(f"/admin/nxwa_onboarding/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get("/admin/nxwa_onboarding/webhookdelivery/add/").status_code == 403


def test_staff_filter_registrations_on_account_state(
    nxcloud: FakeNXCloud, unsigned_app: Application, superuser: Any, client: Client
) -> None:
    banned = verified_under(nxcloud, unsigned_app, PHONE)
    verified_under(nxcloud, unsigned_app, OTHER_PHONE)
    nxcloud.send_webhook(unsigned_app, BAN)
    client.force_login(superuser)
    page = client.get(
        "/admin/nxwa_onboarding/phoneregistration/?account_state__exact=banned"
    ).content.decode()
    assert banned.formatted_phone in page
    assert "+86 139 0013 9000" not in page
    detail = client.get(f"/admin/nxwa_onboarding/phoneregistration/{banned.pk}/change/").content.decode()
    assert "Banned" in detail


def test_an_event_dated_far_in_the_future_does_not_freeze_the_account_state(
    nxcloud: FakeNXCloud, unsigned_app: Application
) -> None:
    registration = verified_under(nxcloud, unsigned_app, PHONE)
    far = callbacks.account_event(PHONE, "DISABLED_UPDATE", "DISABLE", time=99999999999)
    nxcloud.send_webhook(unsigned_app, far)
    time.sleep(0.01)
    genuine = callbacks.account_event(PHONE, "REINSTATE", "REINSTATE", time=int(time.time()) + 1)
    nxcloud.send_webhook(unsigned_app, genuine)
    registration.refresh_from_db()
    assert registration.account_state == "active"
    assert registration.account_event_at is not None
    assert registration.account_event_at.year < 2100
    assert [delivery.outcome for delivery in WebhookDelivery.objects.order_by("pk")] == ["applied", "applied"]


def test_headers_that_already_fail_are_refused_before_the_body_is_read(
    nxcloud: FakeNXCloud, signed_app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    real_read = webhook_views._read

    def counted(*args: Any) -> Any:
        read.append(1)
        return real_read(*args)

    monkeypatch.setattr(webhook_views, "_read", counted)
    stale = int(time.time() * 1000) - 120_000
    for kwargs in ({"headers": {"sign": ""}}, {"ts_ms": stale}, {"headers": {"accesskey": "someone"}}):
        assert nxcloud.send_webhook(signed_app, BAN, **kwargs).status_code == 403
    assert read == []
    assert WebhookDelivery.objects.count() == 0


def test_a_signed_callback_is_bound_to_the_application_that_received_it(nxcloud: FakeNXCloud) -> None:
    first = new_application(nxcloud, "First", signed=True)
    second = new_application(nxcloud, "Second", signed=True)
    verified_under(nxcloud, first, PHONE)
    body = callbacks.body_of(BAN)
    headers = callbacks.signed_headers(
        body, access_key=nxcloud.access_key, access_secret=nxcloud.access_secret
    )
    assert nxcloud.send_webhook(first, raw=body, signed=False, headers=headers).status_code == 200
    replayed = nxcloud.send_webhook(second, raw=body, signed=False, headers=headers)
    assert replayed.status_code == 403
    assert list(WebhookDelivery.objects.values_list("application__name", flat=True)) == ["First"]


def test_what_an_unsigned_application_stores_is_limited_in_size_and_rate(
    nxcloud: FakeNXCloud, unsigned_app: Application
) -> None:
    big = b'{"field": "account_update", "value": {"pad": "' + b"x" * (300 * 1024) + b'"}}'
    assert nxcloud.send_webhook(unsigned_app, raw=big, signed=False).status_code == 413
    answers = [
        nxcloud.send_webhook(
            unsigned_app,
            callbacks.account_event(PHONE, "ACCOUNT_VIOLATION", time=1_700_000_000 + n),
            signed=False,
        ).status_code
        for n in range(webhook_views.UNSIGNED_PER_MINUTE + 20)
    ]
    assert answers.count(200) == webhook_views.UNSIGNED_PER_MINUTE
    assert answers.count(429) == 20
    assert WebhookDelivery.objects.count() == webhook_views.UNSIGNED_PER_MINUTE
