"""Retention and erasure: numbers and addresses past retention, or of a person who asked, are
nowhere in the database afterwards; recent rows and other people's are kept; a dry run changes
nothing; the funnel's "same number" questions still work on the digests."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nxwa_onboarding import tasks
from nxwa_onboarding.choices import Channel, Method
from nxwa_onboarding.models import (
    Application,
    CodeRequest,
    Erasure,
    PhoneRegistration,
    PurgeRun,
    VerificationAttempt,
    WebhookDelivery,
)
from nxwa_onboarding.services import retention
from tests.helpers.database import dump_database
from tests.helpers.users import make_user

OLD_NUMBER, OLD_IP = "8613800138000", "203.0.113.7"
UNFINISHED_NUMBER, UNFINISHED_IP = "8615012345678", "2001:db8:aa:bb::1"
RECENT_NUMBER, RECENT_IP = "8613900139000", "198.51.100.9"
LONG_AGO = timedelta(days=200)


def traces(number: str, ip: str) -> list[str]:
    """The ways a number and an address could be written down."""
    return [number, number[2:], f"{number[2:5]} {number[5:9]} {number[9:]}", ip]


def make_registration(
    owner: Any, number: str, ip: str, age: timedelta, status: str = "code_sent"
) -> PhoneRegistration:
    at = timezone.now() - age
    registration = PhoneRegistration.objects.create(phone_number=number, owner=owner, status=status)
    sent = CodeRequest.objects.create(
        registration=registration,
        channel=Channel.CUSTOMER,
        method=Method.SMS,
        ip=ip,
        user=owner,
        outcome="sent",
        finished_at=at,
        duration_ms=100,
    )
    VerificationAttempt.objects.create(
        registration=registration,
        code_request=sent,
        channel=Channel.CUSTOMER,
        ip=ip,
        user=owner,
        outcome="rejected",
        code_digest="d" * 64,
        finished_at=at,
    )
    WebhookDelivery.objects.create(
        application=registration.application,
        registration=registration,
        phone_number=number,
        payload=json.dumps({"display_phone_number": f"+{number}", "from": ip}),
        outcome="applied",
        dedupe_key=secrets.token_hex(16),
    )
    closed = status in ("closed", "failed")
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        created_at=at, updated_at=at, code_sent_at=at, closed_at=at if closed else None
    )
    CodeRequest.objects.filter(registration=registration).update(created_at=at)
    VerificationAttempt.objects.filter(registration=registration).update(created_at=at)
    WebhookDelivery.objects.filter(registration=registration).update(received_at=at)
    return registration


def task_row(age: timedelta) -> DBTaskResult[..., Any]:
    at = timezone.now() - age
    return DBTaskResult.objects.create(
        status="SUCCESSFUL",
        args_kwargs={"args": [1], "kwargs": {}},
        task_path="nxwa_onboarding.tasks.set_up_client",
        backend_name="default",
        run_after=at,
        finished_at=at,
        return_value="registered",
    )


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    alice = make_user("alice")
    bob = make_user("bob")
    carol = make_user("carol")
    return {
        "alice": alice,
        "bob": bob,
        "old": make_registration(alice, OLD_NUMBER, OLD_IP, LONG_AGO, status="closed"),
        "unfinished": make_registration(carol, UNFINISHED_NUMBER, UNFINISHED_IP, timedelta(days=40)),
        "recent": make_registration(bob, RECENT_NUMBER, RECENT_IP, timedelta(days=2), status="registered"),
        "old_task": task_row(LONG_AGO),
        "recent_task": task_row(timedelta(days=1)),
    }


def test_purge_forgets_what_is_past_retention_and_keeps_the_rest(people: dict[str, Any]) -> None:
    summary = retention.purge()
    dump = dump_database()
    for trace in traces(OLD_NUMBER, OLD_IP) + traces(UNFINISHED_NUMBER, UNFINISHED_IP):
        assert trace not in dump, trace
    for kept in (RECENT_NUMBER, RECENT_IP):
        assert kept in dump, kept
    assert not DBTaskResult.objects.filter(pk=people["old_task"].pk).exists()
    assert DBTaskResult.objects.filter(pk=people["recent_task"].pk).exists()
    # Counts and the "same number" question survive: the digest, the same for the same number.
    old = PhoneRegistration.objects.get(pk=people["old"].pk)
    assert old.phone_number == retention.pseudonym(OLD_NUMBER)
    assert WebhookDelivery.objects.get(registration=old).phone_number == old.phone_number
    assert WebhookDelivery.objects.get(registration=old).payload == ""
    assert CodeRequest.objects.get(registration=old).ip_block == retention.pseudonym(OLD_IP)
    unfinished = PhoneRegistration.objects.get(pk=people["unfinished"].pk)
    assert (unfinished.status, unfinished.close_reason) == ("closed", retention.CLOSED_FOR_RETENTION)
    assert PhoneRegistration.objects.count() == 3
    assert summary.counts["registration numbers"] == 2
    assert summary.counts["task rows"] == 1
    run = PurgeRun.objects.get()
    assert run.finished_at is not None
    assert run.summary == summary.counts
    # Again: nothing left to do.
    assert retention.purge().counts == {}


def test_a_dry_run_changes_nothing(people: dict[str, Any]) -> None:
    before = dump_database()
    out = StringIO()
    call_command("nxwa_purge", "--dry-run", stdout=out)
    assert dump_database() == before
    assert "Would change 2 registration numbers." in out.getvalue()
    assert "Would change 1 task rows." in out.getvalue()
    call_command("nxwa_purge", stdout=out)
    assert "Changed 2 registration numbers." in out.getvalue()
    assert dump_database() != before


@override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "RETENTION_DAYS": 365})
def test_retention_follows_the_setting(people: dict[str, Any]) -> None:
    retention.purge()
    assert OLD_NUMBER in dump_database()  # 200 days < 365
    assert UNFINISHED_NUMBER not in dump_database()  # RETENTION_UNFINISHED_DAYS: 30


def test_erase_removes_one_person_whatever_the_age_and_records_it(people: dict[str, Any]) -> None:
    bob, staff = people["bob"], make_user("dpo", staff=True)
    # Another customer registered Bob's number once too: their row is theirs, and is kept.
    other = make_registration(
        people["alice"], RECENT_NUMBER, "192.0.2.44", timedelta(days=3), status="failed"
    )
    out = StringIO()
    call_command("nxwa_erase", "--user", "bob", stdout=out)
    dump = dump_database()
    assert RECENT_IP not in dump
    assert "bob" in dump  # the account is the host's to delete
    mine = PhoneRegistration.objects.get(pk=people["recent"].pk)
    assert mine.phone_number == retention.pseudonym(RECENT_NUMBER)
    assert (mine.status, mine.close_reason) == ("closed", retention.CLOSED_FOR_ERASURE)
    assert WebhookDelivery.objects.get(registration=mine).payload == ""
    assert PhoneRegistration.objects.get(pk=other.pk).phone_number == RECENT_NUMBER
    for kept in (OLD_NUMBER, OLD_IP):
        assert kept in dump, kept  # other people's data stays
    erasure = Erasure.objects.get()
    assert erasure.subject_id == str(bob.pk)
    assert erasure.subject_digest == retention.pseudonym("bob")
    assert (erasure.via, erasure.registrations) == ("command", 1)
    assert erasure.rows >= 4
    assert f"erasure {erasure.pk}" in out.getvalue()
    retention.erase_user(bob, performed_by=staff)
    assert Erasure.objects.filter(performed_by=staff).exists()


def test_the_only_trace_of_an_erased_number_is_gone_from_the_admin_history(people: dict[str, Any]) -> None:
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    registration = people["recent"]
    LogEntry.objects.create(
        user=make_user("admin", superuser=True),
        content_type=ContentType.objects.get_for_model(registration),
        object_id=str(registration.pk),
        object_repr=str(registration),
        action_flag=CHANGE,
    )
    assert "+86 139 0013 9000" in dump_database()
    retention.erase_user(people["bob"])
    assert "139 0013 9000" not in dump_database()


def test_export_holds_everything_about_the_person_and_nothing_of_others(people: dict[str, Any]) -> None:
    out = StringIO()
    call_command("nxwa_export", "--user", "alice", stdout=out)
    data = json.loads(out.getvalue())
    assert data["user"]["username"] == "alice"
    assert [r["phone_number"] for r in data["registrations"]] == [OLD_NUMBER]
    assert {r["ip"] for r in data["code_requests"]} == {OLD_IP}
    assert {r["ip"] for r in data["verification_attempts"]} == {OLD_IP}
    assert OLD_NUMBER in data["webhook_deliveries"][0]["payload"]
    assert "code_digest" not in data["verification_attempts"][0]
    assert RECENT_NUMBER not in out.getvalue()
    assert UNFINISHED_NUMBER not in out.getvalue()


def test_unknown_user_is_a_clear_error_that_changes_nothing(people: dict[str, Any]) -> None:
    before = dump_database()
    for command in ("nxwa_erase", "nxwa_export"):
        with pytest.raises(CommandError, match="No user is named 'nobody'"):
            call_command(command, "--user", "nobody")
    assert dump_database() == before


def test_deleting_a_user_erases_them_only_when_opted_in(people: dict[str, Any]) -> None:
    people["bob"].delete()
    assert RECENT_IP in dump_database()  # off by default: the rows stay, unattributed
    nxwa = {**settings.NXWA_ONBOARDING, "ERASE_ON_USER_DELETE": True}
    with override_settings(NXWA_ONBOARDING=nxwa):
        people["alice"].delete()
    dump = dump_database()
    for trace in traces(OLD_NUMBER, OLD_IP):
        assert trace not in dump, trace
    assert Erasure.objects.get().via == "user_deleted"
    assert get_user_model().objects.filter(username="alice").count() == 0


def test_the_cron_pass_starts_a_purge_once_a_day(people: dict[str, Any]) -> None:
    call_command("nxwa_follow", stdout=StringIO())  # the immediate backend: it runs inline
    assert OLD_NUMBER not in dump_database()
    assert PurgeRun.objects.count() == 1
    call_command("nxwa_follow", stdout=StringIO())
    assert PurgeRun.objects.count() == 1
    assert tasks.purge_if_due() is False


def test_finished_audit_rows_still_refuse_any_other_change(people: dict[str, Any]) -> None:
    from django.core.exceptions import ValidationError

    retention.purge()
    attempt = VerificationAttempt.objects.filter(registration=people["old"]).get()
    attempt.ip = OLD_IP
    with pytest.raises(ValidationError):
        attempt.save()
    assert Application.objects.exists()


def test_the_admin_shows_erasures_and_purges_and_lets_nobody_change_them(people: dict[str, Any]) -> None:
    from django.test import Client
    from django.urls import reverse

    retention.erase_user(people["bob"])
    retention.purge()
    client = Client()
    client.force_login(make_user("root", superuser=True))
    for name, obj in (("erasure", Erasure.objects.get()), ("purgerun", PurgeRun.objects.get())):
        listing = client.get(reverse(f"admin:nxwa_onboarding_{name}_changelist"))
        assert listing.status_code == 200
        assert client.get(reverse(f"admin:nxwa_onboarding_{name}_add")).status_code == 403
        assert client.post(reverse(f"admin:nxwa_onboarding_{name}_delete", args=[obj.pk])).status_code == 403
        assert client.get(reverse(f"admin:nxwa_onboarding_{name}_change", args=[obj.pk])).status_code == 200
    assert Erasure.objects.count() == 1
