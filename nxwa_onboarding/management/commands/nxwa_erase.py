from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nxwa_onboarding.models import Erasure
from nxwa_onboarding.services import retention


def find_user(username: str) -> Any:
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        raise CommandError(f"No user is named {username!r}.") from None


class Command(BaseCommand):
    help = (
        "Erase one person's phone numbers and IP addresses everywhere the app keeps them (their "
        "registrations, the calls on them and by them, webhook deliveries about their numbers), "
        "close their open registrations and record that an erasure took place. Their user account "
        "is left to you. Cannot be undone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="The username of the person to erase.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = find_user(options["user"])
        erasure = retention.erase_user(user, via=Erasure.Via.COMMAND)
        self.stdout.write(
            f"Erased user {user.pk}: {erasure.registrations} registration(s), {erasure.rows} row(s) changed "
            f"(erasure {erasure.pk}, {erasure.performed_at:%Y-%m-%d %H:%M:%S %Z})."
        )
