from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from nxwa_onboarding.services import retention

from .nxwa_erase import find_user


class Command(BaseCommand):
    help = (
        "Write everything the app keeps about one person as JSON (the right of access): their "
        "registrations, every code request and attempt on them or by them, the webhook deliveries "
        "about their numbers, and any erasure of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="The username of the person.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = find_user(options["user"])
        data = retention.export_user(user)
        self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
