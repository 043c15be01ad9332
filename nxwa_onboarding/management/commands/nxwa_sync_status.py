from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding import services
from nxwa_onboarding.choices import USABLE_APPLICATIONS
from nxwa_onboarding.models import Application, PhoneRegistration
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
        "Read NXCloud's phoneList once for the configured application (NXWA_ONBOARDING['APP_KEY'])"
        " and for every other application with open registrations (or only for --appkey), and "
        "update every open registration of each that it lists: register_status 5 makes it "
        "'registered', 1 or 2 'failed'. Shows progress for many numbers and ends with a summary "
        "of what changed. Safe to run from cron. Exits with 1 when NXCloud cannot be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--appkey", help="Only this application's appkey (default: APP_KEY and every application in use)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(done: int, total: int) -> None:
            if total >= PROGRESS_FROM and (done % max(total // 10, 1) == 0 or done == total):
                self.stderr.write(f"  {done}/{total} numbers processed")

        # Each registration is listed under its own application's app key: without --appkey, the
        # default application's phoneList and that of every other application with open numbers.
        targets: list[Application | str | None] = [options["appkey"]]
        if not options["appkey"]:
            targets += list(
                Application.objects.filter(
                    pk__in=PhoneRegistration.objects.open().values("application_id"),
                    outcome__in=USABLE_APPLICATIONS,
                )
                .exclude(is_default=True)
                .order_by("pk")
            )
        summary = services.SyncSummary()
        for target in targets:
            try:
                found = services.sync_statuses(target, progress=progress)
            except (OnboardingError, NXCloudConfigurationError) as err:
                raise CommandError(error_text(err, "phoneList")) from None
            summary.listed += found.listed
            summary.matched += found.matched
            summary.changed += found.changed
            summary.unmatched += found.unmatched

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
