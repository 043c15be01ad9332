from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nxwa_onboarding.conf import conf
from nxwa_onboarding.services import retention


class Command(BaseCommand):
    help = (
        "Forget personal data past retention: phone numbers of registrations that ended more than "
        "RETENTION_DAYS ago (unverified ones: RETENTION_UNFINISHED_DAYS since their last code) and "
        "addresses older than that become keyed digests; webhook payloads and finished task rows "
        "are deleted. nxwa_follow starts the same work once a day. --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        summary = retention.purge(dry_run=dry_run)
        verb = "Would change" if dry_run else "Changed"
        self.stdout.write(
            f"Retention: {conf.RETENTION_DAYS} days after a registration ends, "
            f"{conf.RETENTION_UNFINISHED_DAYS} days for unfinished ones."
        )
        if not summary.counts:
            self.stdout.write("Nothing is past retention.")
        for what, n in summary.counts.items():
            self.stdout.write(f"{verb} {n} {what}.")
