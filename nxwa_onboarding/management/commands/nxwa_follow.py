from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from nxwa_onboarding import tasks


class Command(BaseCommand):
    help = (
        "One following pass: for every application with numbers in progress and no live "
        "following chain, read its phoneList once and update them; start client creations and "
        "chains a dead worker left; mark registrations that need attention. Run it from cron "
        "(every minute) with the immediate backend; with a worker it is the safety net. Once a "
        "day it also starts nxwa_purge's work (personal data past retention)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        passes = tasks.follow_pass()
        # Beside the follower, once a day: personal data past retention (nxwa_purge).
        tasks.purge_if_due()
        if not passes:
            self.stdout.write("Nothing in progress.")
        for app_key, step in passes:
            label = app_key[:4] + "…" if len(app_key) > 4 else app_key
            if step is None:
                self.stdout.write(f"{label}: followed by its chain.")
            elif not step.ran:
                self.stdout.write(f"{label}: another worker is following it.")
            elif step.error:
                self.stdout.write(self.style.WARNING(f"{label}: phoneList failed ({step.error})."))
            else:
                self.stdout.write(f"{label}: {step.changed} changed, {len(step.orphans)} client(s) started.")
