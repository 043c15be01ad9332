from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.nxcloud.exceptions import NXCloudConfigurationError, OnboardingError

from ._operator import describe, error_text

#: From this many numbers on, progress is reported (on stderr, about ten lines).
PROGRESS_FROM = 20


def _label(status: str) -> str:
    try:
        return str(PhoneRegistration.Status(status).label)
    except ValueError:
        return status


class Command(BaseCommand):
    help = (
        "Read NXCloud's phoneList for the configured application (NXWA_ONBOARDING['APP_KEY'], or "
        "--appkey) once and update every open registration it lists: register_status 5 makes it "
        "'registered', 1 or 2 'failed'. Shows progress for many numbers and ends with a summary "
        "of what changed. Safe to run from cron. Exits with 1 when NXCloud cannot be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--appkey", help="The application's appkey (default: APP_KEY).")

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(done: int, total: int) -> None:
            if total >= PROGRESS_FROM and (done % max(total // 10, 1) == 0 or done == total):
                self.stderr.write(f"  {done}/{total} numbers processed")

        try:
            summary = services.sync_statuses(options["appkey"], progress=progress)
        except (OnboardingError, NXCloudConfigurationError) as err:
            raise CommandError(error_text(err, "phoneList")) from None

        self.stdout.write(
            f"NXCloud lists {summary.listed} number(s); {summary.matched} match an open registration."
        )
        if summary.changed:
            self.stdout.write(self.style.SUCCESS(f"{len(summary.changed)} changed:"))
            for digits, old, new in summary.changed:
                self.stdout.write(f"  {describe(digits)}: {_label(old)} -> {_label(new)}")
        else:
            self.stdout.write("No status changed.")
        if summary.unmatched:
            self.stdout.write(f"{len(summary.unmatched)} listed number(s) have no open registration here.")
            if options["verbosity"] >= 2:
                for digits in summary.unmatched:
                    self.stdout.write(f"  {describe(digits)}")
