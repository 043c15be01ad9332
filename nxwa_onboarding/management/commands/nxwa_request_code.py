from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.models import Channel, CodeRequest, Method
from nxwa_onboarding.texts import until_text

from ._operator import describe, open_registration, outcome_text, parse_phone, situation_line


class Command(BaseCommand):
    help = (
        "Have NXCloud send a WhatsApp verification code to PHONE (by SMS, or a voice call with "
        "--voice). PHONE may be typed any way with its country code (+86 138 0013 8000, "
        "008613800138000). Uses the number's open registration, or starts one. The resend "
        "cooldown and daily cap apply as on the customer page. Exits with 1 when no code was sent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", metavar="PHONE", help="The number, with its country code.")
        parser.add_argument(
            "--voice", action="store_true", help="Deliver the code by a voice call instead of SMS."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        digits = parse_phone(options["phone"])
        method = Method.VOICE if options["voice"] else Method.SMS
        registration = open_registration(digits)
        if registration is None:
            try:
                registration = services.create_registration(digits)
            except ValidationError as err:
                raise CommandError(" ".join(err.messages)) from None
            self.stdout.write(f"Started a registration for {describe(digits)} ({registration.public_id}).")
        sent = services.request_code(registration, method, channel=Channel.COMMAND)
        if sent.outcome != CodeRequest.Outcome.SENT:
            # Refused, rejected, failed or unknown: never a success, so exit status 1.
            lead = "Unclear whether a code was sent to" if sent.outcome == "unknown" else "No code sent to"
            self.stdout.write(situation_line(registration))
            raise CommandError(f"{lead} {describe(digits)}: {outcome_text(sent)}")
        how = "a voice call" if method == Method.VOICE else "SMS"
        state = services.get_state(registration)
        self.stdout.write(self.style.SUCCESS(f"Sent a verification code by {how} to {describe(digits)}."))
        if state.check.expires_at is not None:
            self.stdout.write(f"It expires {until_text(state.check.expires_at)}.")
        self.stdout.write(f"Next: manage.py nxwa_check_code {digits} CODE")
