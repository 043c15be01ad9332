from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nxwa_onboarding import services


class Command(BaseCommand):
    help = (
        "Mark verification attempts and code requests left 'pending' by a crashed process as "
        "'unknown'. Only rows older than the longest possible call (timeouts, retries) plus a "
        "margin are touched. Nothing is ever resent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Age in seconds after which a pending row is stale (default: from TIMEOUT).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older = options["older_than"]
        summary = services.reconcile_pending(
            older_than=timedelta(seconds=older) if older is not None else None
        )
        self.stdout.write(
            f"Marked {summary.attempts} pending attempt(s) and {summary.code_requests} pending "
            "code request(s) as unknown."
        )
