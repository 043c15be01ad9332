"""Create the demo logins and a few registrations in different states, and print where to go.

Idempotent: logins are reset to their demo passwords, and a demo number that already has a
registration is left alone, so ``make demo`` again keeps whatever was done in the last run.
The seeded history is written as the services would have written it (finished audit rows with
plausible result codes and times), and the sandbox is told the same story, so a seeded
"code sent" number can still be verified with the code in the sandbox inbox.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.models import Channel, CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.phone import format_phone

STAFF = ("staff", "staff-demo-pass")
CUSTOMER = ("customer", "customer-demo-pass")
#: The customer of the second application a person creates in the admin during the demo.
SECOND_CUSTOMER = ("acme", "acme-demo-pass")
SECOND_NUMBER = "+86 137 0013 7000"
TRY_NUMBER = "+86 138 0013 8000"
Status = PhoneRegistration.Status


@dataclass(frozen=True)
class Seed:
    phone: str
    status: str
    owned: bool
    age_minutes: int
    #: Each step: ("send", outcome, result_code, message) or ("check", outcome, result_code, message).
    history: tuple[tuple[str, str, int | None, str], ...] = field(default=())
    register_status: int | None = None


SENT = ("send", "sent", 0, "")
WRONG = ("check", "rejected", 9001, "Verification code is incorrect or expired")
RIGHT = ("check", "accepted", 0, "")
SEEDS = (
    Seed("8613800138101", Status.NEW, owned=True, age_minutes=3),
    Seed("8613800138102", Status.CODE_SENT, owned=True, age_minutes=4, history=(SENT, WRONG)),
    Seed("8613900139103", Status.VERIFIED, owned=False, age_minutes=55, history=(SENT, RIGHT)),
    Seed(
        "8615012345104",
        Status.REGISTERED,
        owned=True,
        age_minutes=60 * 26,
        history=(
            ("send", "unknown", None, "read timeout: no answer in time"),
            SENT,
            ("send", "refused", None, ""),
            WRONG,
            RIGHT,
        ),
        register_status=5,
    ),
    Seed(
        "8618600005105",
        Status.FAILED,
        owned=False,
        age_minutes=60 * 50,
        history=(SENT, RIGHT),
        register_status=2,
    ),
)


#: The funnel's crowd: numbers +86 137 0000 00NN upwards, never a number a person types in the demo.
CROWD_PREFIX = "861370000"


class Member(NamedTuple):
    """One of the crowd: where it got to, the sends that failed before its code went out, whether
    a second send was refused for the cooldown, the checks that were not accepted (in order),
    and minutes from verified to registered or the register_status of a failed set-up."""

    stage: str
    fails: tuple[str, ...] = ()
    cooldown: bool = False
    checks: tuple[str, ...] = ()
    registered_in: int = 0
    register_status: int = 0


#: Most far along, some stuck, a few failed or closed, with failures of every kind among them.
CROWD = (
    Member(
        Status.REGISTERED,
        fails=("unreachable", "configuration"),
        cooldown=True,
        checks=("rejected", "unknown"),
        registered_in=4,
    ),  # 00
    Member(Status.CODE_SENT, checks=("too_many_attempts",)),  # 01
    Member(Status.VERIFIED, checks=("rejected",)),  # 02
    Member(Status.REGISTERED, cooldown=True, registered_in=7),  # 03
    Member(Status.NEW),  # 04
    Member(Status.REGISTERED, checks=("unknown", "ip_limit"), registered_in=9),  # 05
    Member(Status.CODE_SENT, cooldown=True, checks=("rejected",)),  # 06
    Member(Status.FAILED, fails=("unreachable",), register_status=2),  # 07
    Member(Status.REGISTERED, checks=("rejected",), registered_in=12),  # 08
    Member(Status.VERIFIED, cooldown=True, checks=("too_many_attempts",)),  # 09
    Member(Status.CLOSED, checks=("rejected", "unknown")),  # 10
    Member(Status.REGISTERED, fails=("configuration",), registered_in=6),  # 11
    Member(Status.REGISTERED, cooldown=True, checks=("rejected",), registered_in=7),  # 12
    Member(Status.CODE_SENT, checks=("ip_limit",)),  # 13
    Member(Status.VERIFIED, fails=("unreachable",), checks=("rejected",)),  # 14
    Member(Status.REGISTERED, cooldown=True, checks=("unknown",), registered_in=10),  # 15
    Member(Status.NEW),  # 16
    Member(Status.REGISTERED, checks=("too_many_attempts",), registered_in=12),  # 17
    Member(Status.CODE_SENT, cooldown=True, checks=("rejected",)),  # 18
    Member(Status.FAILED, register_status=2),  # 19
    Member(Status.REGISTERED, checks=("rejected", "unknown"), registered_in=6),  # 20
    Member(Status.VERIFIED, fails=("unreachable",), cooldown=True, checks=("ip_limit",)),  # 21
    Member(Status.CLOSED, fails=("configuration",), checks=("rejected",)),  # 22
    Member(Status.REGISTERED, registered_in=9),  # 23
    Member(Status.REGISTERED, cooldown=True, checks=("rejected",), registered_in=10),  # 24
    Member(Status.CODE_SENT, checks=("unknown", "too_many_attempts")),  # 25
    Member(Status.VERIFIED, checks=("rejected",)),  # 26
    Member(Status.REGISTERED, cooldown=True, registered_in=4),  # 27
    Member(Status.NEW),  # 28
    Member(Status.REGISTERED, checks=("ip_limit",), registered_in=6),  # 29
    Member(Status.CODE_SENT, cooldown=True, checks=("rejected", "unknown")),  # 30
    Member(Status.FAILED, register_status=2),  # 31
    Member(Status.REGISTERED, checks=("rejected",), registered_in=9),  # 32
    Member(Status.VERIFIED, fails=("configuration",), cooldown=True, checks=("too_many_attempts",)),  # 33
    Member(Status.CLOSED, checks=("rejected",)),  # 34
    Member(Status.REGISTERED, fails=("unreachable",), checks=("unknown",), registered_in=12),  # 35
    Member(Status.REGISTERED, cooldown=True, checks=("rejected",), registered_in=4),  # 36
    Member(Status.CODE_SENT, checks=("ip_limit",)),  # 37
    Member(Status.VERIFIED, checks=("rejected",)),  # 38
    Member(Status.REGISTERED, cooldown=True, registered_in=7),  # 39
)


class Command(BaseCommand):
    help = (
        "Create the demo staff and customer logins and a few example registrations "
        "(idempotent), then print the demo's addresses."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        staff, _ = User.objects.get_or_create(username=STAFF[0], defaults={"is_staff": True})
        staff.is_staff = True
        staff.set_password(STAFF[1])
        staff.save()
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="nxwa_onboarding"))
        customer, _ = User.objects.get_or_create(username=CUSTOMER[0])
        customer.set_password(CUSTOMER[1])
        customer.save()
        acme, _ = User.objects.get_or_create(username=SECOND_CUSTOMER[0])
        acme.set_password(SECOND_CUSTOMER[1])
        acme.save()

        created = [seed for seed in SEEDS if self.seed(seed, customer=customer, staff=staff)]
        crowd = self.seed_crowd(staff)

        port = os.environ.get("PORT", "8000")
        base = f"http://127.0.0.1:{port}"
        kept = len(SEEDS) - len(created)
        data = f"{len(created)} example registrations created" if created else "example data kept"
        if created and kept:
            data += f", {kept} kept"
        if crowd:
            data += f"; {crowd} more over the last four weeks for the funnel"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 72,
                    " django-nxwa-onboarding demo (offline NXCloud sandbox; " + data + ")",
                    f"  Customer page : {base}/onboarding/   login {CUSTOMER[0]} / {CUSTOMER[1]}",
                    f"  Admin         : {base}/admin/        login {STAFF[0]} / {STAFF[1]}",
                    f"  Sandbox inbox : {base}/sandbox/nxcloud/inbox/   (the codes arrive here; staff login)",
                    f"  Funnel        : {base}/admin/nxwa_onboarding/phoneregistration/funnel/",
                    f"  Try it: sign in as {CUSTOMER[0]}, add a number (e.g. {TRY_NUMBER}), open the inbox",
                    f"          in a private window as {STAFF[0]}, type the code it shows, watch the",
                    "          number become registered.",
                    "  Applications and webhooks (a second customer application):",
                    f"   1. Admin > Customer applications > Add: name Acme, customer {SECOND_CUSTOMER[0]}",
                    "      (createApp at the sandbox; the list shows its webhook URL).",
                    f"   2. Sign in as {SECOND_CUSTOMER[0]} / {SECOND_CUSTOMER[1]}, add {SECOND_NUMBER} (it",
                    "      belongs to Acme) and type the code from the inbox. On the inbox page of",
                    "      the number, bind it to Acme (NXCloud's embedded page would): phoneList",
                    "      for Acme then lists it, and the customer page follows it to registered.",
                    "   3. On the same inbox page press Ban (or Quality downgrade, a name decision):",
                    "      the sandbox POSTs a signed callback to Acme's webhook, and the admin",
                    "      shows the number Banned (filter: account state) with the delivery.",
                    "=" * 72,
                    "",
                ]
            )
        )

    @transaction.atomic
    def seed(self, seed: Seed, *, customer: Any, staff: Any) -> bool:
        """Write one example registration with its history; False if the number already has one."""
        if PhoneRegistration.objects.filter(phone_number=seed.phone).exists():
            return False
        now = timezone.now()
        started = now - timedelta(minutes=seed.age_minutes)
        owner = customer if seed.owned else None
        channel = Channel.CUSTOMER if seed.owned else Channel.ADMIN
        user = customer if seed.owned else staff
        registration = services.create_registration(seed.phone, owner=owner, user=user)
        step_time = started
        code_request: CodeRequest | None = None
        for kind, outcome, result_code, message in seed.history:
            step_time += timedelta(seconds=40)
            common: dict[str, Any] = {
                "registration": registration,
                "channel": channel,
                "user": user,
                "ip": "127.0.0.1",
                "outcome": outcome,
                "result_code": result_code,
                "result_message": message,
                "http_status": 200 if result_code is not None else None,
                "duration_ms": 180 if outcome != "unknown" else 10_000,
                "finished_at": step_time,
            }
            if kind == "send":
                if outcome == "refused":
                    common.update(refusal_reason="cooldown", retry_after=step_time + timedelta(seconds=20))
                    common.update(http_status=None, duration_ms=None)
                sent = CodeRequest.objects.create(method="sms", **common)
                if outcome in ("sent", "unknown"):
                    code_request = sent
                row: CodeRequest | VerificationAttempt = sent
            else:
                code = "000000" if outcome == "rejected" else "123456"
                row = VerificationAttempt.objects.create(
                    code_request=code_request,
                    code_digest=services.code_digest(registration, code),
                    **common,
                )
            type(row).objects.filter(pk=row.pk).update(created_at=step_time - timedelta(milliseconds=200))

        code_sent_at = code_request.finished_at if code_request else None
        verified_at = step_time if seed.status not in (Status.NEW, Status.CODE_SENT) else None
        fields: dict[str, Any] = {
            "status": seed.status,
            "created_at": started,
            "updated_at": step_time,
            "code_sent_at": code_sent_at,
            "last_code_method": "sms" if code_sent_at else "",
            "verified_at": verified_at,
        }
        if seed.register_status is not None:
            synced = step_time + timedelta(minutes=2)
            fields.update(
                register_status=seed.register_status,
                number_status="CONNECTED" if seed.register_status == 5 else "PENDING",
                quality_rating="GREEN",
                verified_name="Sandbox Merchant",
                waba_id="100000000000001",
                waba_name="Sandbox WABA",
                last_synced_at=synced,
                updated_at=synced,
                registered_at=synced if seed.register_status == 5 else None,
            )
        PhoneRegistration.objects.filter(pk=registration.pk).update(**fields)
        self.tell_the_sandbox(
            seed.phone,
            seed.status,
            code_sent=code_sent_at is not None,
            verified_at=verified_at,
            register_status=seed.register_status,
        )
        self.stdout.write(f"  seeded {format_phone(seed.phone)} ({seed.status})")
        return True

    @transaction.atomic
    def seed_crowd(self, staff: Any) -> int:
        """Registrations over the last four weeks at every step, for the funnel page to show:
        code requests and checks with refusals and NXCloud's failures of every kind among them.
        Written once (none of the crowd's numbers exists yet), never again."""
        if PhoneRegistration.objects.filter(phone_number__startswith=CROWD_PREFIX).exists():
            return 0
        now = timezone.now()
        for index, member in enumerate(CROWD):
            self.seed_one_of_the_crowd(index, member, now - timedelta(hours=5 + index * 17), staff)
        return len(CROWD)

    def seed_one_of_the_crowd(self, index: int, member: Member, started: Any, staff: Any) -> None:
        stage = member.stage
        registration = PhoneRegistration.objects.create(
            phone_number=f"{CROWD_PREFIX}{index:04d}", created_by=staff, status=Status.NEW
        )
        clock = [started]

        def row(model: Any, after_seconds: int, outcome: str, **fields: Any) -> Any:
            clock[0] += timedelta(seconds=after_seconds)
            made = model.objects.create(
                registration=registration,
                channel=Channel.CUSTOMER,
                ip="192.0.2.10",
                outcome=outcome,
                finished_at=clock[0],
                duration_ms=None if outcome == "refused" else 160 + index,
                **fields,
            )
            model.objects.filter(pk=made.pk).update(created_at=clock[0])
            return made

        fields: dict[str, Any] = {"created_at": started, "status": stage}
        code = None
        if stage != Status.NEW:
            for failure in member.fails:
                if failure == "configuration":
                    row(
                        CodeRequest,
                        30,
                        "failed",
                        method="sms",
                        failure=failure,
                        result_code=1003,
                        result_message="sign error",
                        http_status=200,
                    )
                else:
                    row(CodeRequest, 20, "failed", method="sms", failure=failure, result_message="timed out")
            code = row(CodeRequest, 40 + index * 7, "sent", method="sms", result_code=0, http_status=200)
            fields.update(code_sent_at=clock[0], last_code_method="sms")
            if member.cooldown:
                row(
                    CodeRequest,
                    15,
                    "refused",
                    method="sms",
                    refusal_reason="cooldown",
                    retry_after=clock[0] + timedelta(seconds=45),
                )
            for check in member.checks:
                if check == "rejected":
                    row(
                        VerificationAttempt,
                        50,
                        "rejected",
                        code_request=code,
                        code_digest="0" * 64,
                        result_code=9001,
                        result_message="Verification code is incorrect",
                        http_status=200,
                    )
                elif check == "unknown":
                    row(
                        VerificationAttempt,
                        20,
                        "unknown",
                        code_request=code,
                        code_digest="1" * 64,
                        failure="maybe_sent",
                        result_message="read timeout",
                    )
                else:
                    row(
                        VerificationAttempt,
                        5,
                        "refused",
                        code_request=code,
                        code_digest="2" * 64,
                        refusal_reason=check,
                    )
        if stage in (Status.VERIFIED, Status.REGISTERED, Status.FAILED, Status.CLIENT_CREATED):
            row(
                VerificationAttempt,
                90 + index * 11,
                "accepted",
                code_request=code,
                code_digest="3" * 64,
                result_code=0,
                http_status=200,
            )
            fields["verified_at"] = clock[0]
        if stage == Status.REGISTERED:
            fields.update(registered_at=clock[0] + timedelta(minutes=member.registered_in), register_status=5)
        if stage == Status.FAILED:
            fields.update(register_status=member.register_status)
        if stage == Status.CLOSED:
            fields.update(
                closed_at=clock[0] + timedelta(hours=1),
                closed_by=staff,
                close_reason="The merchant changed their mind.",
            )
        fields["updated_at"] = clock[0]
        PhoneRegistration.objects.filter(pk=registration.pk).update(**fields)
        self.tell_the_sandbox(
            registration.phone_number,
            stage,
            code_sent=False,
            verified_at=fields.get("verified_at"),
            register_status=fields.get("register_status"),
        )

    def tell_the_sandbox(
        self, phone: str, stage: str, *, code_sent: bool, verified_at: Any, register_status: int | None
    ) -> None:
        """Give the sandbox the same story: the code in the inbox, the number's NXCloud state
        (a number verified here is verified there, so the demo's worker can set it up)."""
        if not apps.is_installed("nxwa_onboarding.sandbox"):
            return
        from nxwa_onboarding.sandbox.engine import new_code
        from nxwa_onboarding.sandbox.models import SandboxMessage, SandboxNumber

        if code_sent and stage == Status.CODE_SENT:
            SandboxMessage.objects.create(phone_number=phone, code=new_code(), method="sms")
        if verified_at is not None:
            SandboxNumber.objects.update_or_create(
                phone_number=phone,
                defaults={
                    "verified_at": verified_at,
                    "client_created_at": verified_at if register_status else None,
                    "forced_register_status": register_status if register_status != 5 else None,
                },
            )
