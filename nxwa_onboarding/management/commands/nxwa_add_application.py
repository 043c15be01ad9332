from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.nxcloud.exceptions import NXCloudConfigurationError, OnboardingError

from ._operator import error_text


class Command(BaseCommand):
    help = (
        "Add a customer application made outside this site by its app key (NXCloud has no call "
        "that lists applications). The key is read from a prompt without echo, or from one line "
        "of standard input (never the command line: ps and shell history show it). The key is "
        "tried with phoneList first (--no-check skips it). Prints the webhook URL to paste into "
        "NXCloud."
    )
    #: Tests (and callers of ``call_command``) may pass ``stdin=`` instead of ``sys.stdin``.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        # Only there to refuse a key given the old way with words that say why.
        parser.add_argument("app_key_argument", nargs="*", help=argparse.SUPPRESS)
        parser.add_argument("--name", required=True, help="A name for staff.")
        parser.add_argument("--app-id", default="", help="NXCloud's app id, if known.")
        parser.add_argument("--owner", help="The username of the customer it belongs to.")
        parser.add_argument("--signed", action="store_true", help="NXCloud signs its callbacks.")
        parser.add_argument("--no-check", action="store_true", help="Do not try the key with phoneList.")

    def read_key(self, stdin: TextIO) -> str:
        """The app key, from a prompt without echo at a terminal, else one line of ``stdin``."""
        if stdin.isatty():
            try:
                return getpass.getpass("App key: ").strip()
            except (EOFError, KeyboardInterrupt):
                raise CommandError("No app key entered; nothing was added.") from None
        key = stdin.readline().strip()
        if not key:
            raise CommandError(
                "No app key on standard input; nothing was added. Pipe it in, or run at a terminal."
            )
        return key

    def handle(self, *args: Any, **options: Any) -> None:
        if options["app_key_argument"]:
            raise CommandError(
                "Do not put the app key on the command line (ps and shell history show it): give it "
                "on standard input, or at the prompt. Nothing was added."
            )
        app_key = self.read_key(options.get("stdin") or sys.stdin)
        owner = None
        if options["owner"]:
            users = get_user_model()._default_manager
            owner = users.filter(**{get_user_model().USERNAME_FIELD: options["owner"]}).first()
            if owner is None:
                raise CommandError(f"No user {options['owner']!r}.")
        try:
            application = services.add_application(
                app_key,
                name=options["name"],
                app_id=options["app_id"],
                owner=owner,
                signs_callbacks=options["signed"],
                check=not options["no_check"],
            )
        except ValidationError as err:
            raise CommandError(" ".join(err.messages)) from None
        except (OnboardingError, NXCloudConfigurationError) as err:
            raise CommandError(error_text(err, "phoneList")) from None
        self.stdout.write(self.style.SUCCESS(f"Added application {application.pk}: {application.name}."))
        self.stdout.write(f"Webhook URL for NXCloud: {application.webhook_url or '(set WEBHOOK_BASE_URL)'}")
