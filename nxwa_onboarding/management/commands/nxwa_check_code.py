from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.models import Channel, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.exceptions import NXCloudConfigurationError, OnboardingError

from ._operator import describe, open_registration, outcome_text, parse_phone, situation_line

Status = PhoneRegistration.Status


CODE_ARGUMENT_REFUSED = (
    "nxwa_check_code no longer takes the code as an argument: arguments are visible to every user "
    "in `ps` and stay in shell history. Run `manage.py nxwa_check_code {phone}` at a terminal and "
    "type the code at the prompt (it is not echoed), or pass it on standard input, e.g. "
    "`manage.py nxwa_check_code {phone} < code.txt`."
)


class Command(BaseCommand):
    help = (
        "Pass the verification code PHONE received to NXCloud (checkCode), then create the "
        "number's WhatsApp client (createClient) unless --no-create-client. PHONE may be typed "
        "any way with its country code. The code is never an argument (arguments show in `ps` "
        "and shell history): at a terminal it is asked for at a prompt that does not echo it; "
        "otherwise the first line of standard input is read. Type it as received (123456 or "
        "123-456). Uses the number's open registration. The same limits apply as on the "
        "customer page (tries per code, code lifetime). Exits with 1 when the number is not "
        "verified."
    )
    #: Tests (and callers of ``call_command``) may pass ``stdin=`` instead of ``sys.stdin``.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", metavar="PHONE", help="The number, with its country code.")
        # Only there to refuse a code given the old way with words that say why.
        parser.add_argument("code_argument", nargs="*", help=argparse.SUPPRESS)
        parser.add_argument(
            "--no-create-client",
            action="store_true",
            help="Only verify the number; do not create its WhatsApp client yet.",
        )

    def read_code(self, stdin: TextIO, digits: str) -> str:
        """The code, from a prompt without echo at a terminal, else from one line of ``stdin``."""
        if stdin.isatty():
            try:
                return getpass.getpass(f"Code received by {describe(digits)}: ")
            except (EOFError, KeyboardInterrupt):
                raise CommandError("No code entered; nothing was sent to NXCloud.") from None
        line = stdin.readline().strip()
        if not line:
            raise CommandError(
                "No code on standard input; nothing was sent to NXCloud. Pipe the code in, or run "
                "this at a terminal to be asked for it."
            )
        return line

    def handle(self, *args: Any, **options: Any) -> None:
        if options["code_argument"]:
            raise CommandError(CODE_ARGUMENT_REFUSED.format(phone=options["phone"]))
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
            self.stdout.write(situation_line(registration))
            return
        if registration.status != Status.VERIFIED:
            code = self.read_code(options.get("stdin") or sys.stdin, digits)
            attempt = services.check_code(registration, code, channel=Channel.COMMAND)
            if attempt.outcome != VerificationAttempt.Outcome.ACCEPTED:
                text = outcome_text(attempt)
                if attempt.outcome == VerificationAttempt.Outcome.REJECTED:
                    left = services.get_state(registration).check.attempts_left
                    text = f"NXCloud did not accept the code. Tries left for this code: {left}."
                raise CommandError(f"{describe(digits)} is not verified: {text}")
            self.stdout.write(self.style.SUCCESS(f"Verified {describe(digits)}."))
        else:
            self.stdout.write(f"{describe(digits)} was already verified: no code needed.")
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
        self.stdout.write(situation_line(registration))
        self.stdout.write("Follow it with: manage.py nxwa_sync_status")
