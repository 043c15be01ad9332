from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.exceptions import NXCloudConfigurationError, OnboardingError
from nxwa_onboarding.models import Channel, PhoneRegistration, VerificationAttempt

from ._operator import describe, open_registration, outcome_text, parse_phone

Status = PhoneRegistration.Status


class Command(BaseCommand):
    help = (
        "Pass the verification code PHONE received to NXCloud (checkCode), then create the "
        "number's WhatsApp client (createClient) unless --no-create-client. PHONE may be typed "
        "any way with its country code; CODE as received (123456 or 123-456). Uses the number's "
        "open registration. The same limits apply as on the customer page (tries per code, "
        "code lifetime). Exits with 1 when the number is not verified."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", metavar="PHONE", help="The number, with its country code.")
        parser.add_argument("code", metavar="CODE", help="The code the number received.")
        parser.add_argument(
            "--no-create-client",
            action="store_true",
            help="Only verify the number; do not create its WhatsApp client yet.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        digits = parse_phone(options["phone"])
        registration = open_registration(digits)
        if registration is None:
            raise CommandError(
                f"{describe(digits)} has no open registration. Send it a code first: "
                f"manage.py nxwa_request_code {digits}"
            )
        if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
            self.stdout.write(
                f"{describe(digits)} is already verified and its client exists "
                f"(status: {registration.get_status_display()}). Nothing to do."
            )
            return
        if registration.status != Status.VERIFIED:
            attempt = services.check_code(registration, options["code"], channel=Channel.COMMAND)
            if attempt.outcome != VerificationAttempt.Outcome.ACCEPTED:
                text = outcome_text(attempt)
                if attempt.outcome == VerificationAttempt.Outcome.REJECTED:
                    left = services.get_state(registration).check.attempts_left
                    text = f"NXCloud did not accept the code. Tries left for this code: {left}."
                raise CommandError(f"{describe(digits)} is not verified: {text}")
            self.stdout.write(self.style.SUCCESS(f"Verified {describe(digits)}."))
        else:
            self.stdout.write(f"{describe(digits)} was already verified; the code was not used.")
        if options["no_create_client"]:
            self.stdout.write("Next: create its client from the admin, or run this again.")
            return
        try:
            services.create_client(registration)
        except (OnboardingError, NXCloudConfigurationError) as err:
            raise CommandError(
                f"{describe(digits)} is verified, but creating its WhatsApp client failed: {err}. "
                "Run this command again to retry."
            ) from None
        self.stdout.write(self.style.SUCCESS("WhatsApp client created; NXCloud is registering the number."))
        self.stdout.write("Follow it with: manage.py nxwa_sync_status")
