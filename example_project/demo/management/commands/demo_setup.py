"""Create the demo logins (kept across runs) and print where to go."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

STAFF = ("staff", "staff-demo-pass")
CUSTOMER = ("customer", "customer-demo-pass")


class Command(BaseCommand):
    help = "Create the demo staff and customer logins (idempotent) and print the demo's addresses."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        staff, _ = User.objects.get_or_create(username=STAFF[0], defaults={"is_staff": True})
        staff.is_staff = True
        staff.set_password(STAFF[1])
        staff.save()
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="nxwa_onboarding"))
        customer, _ = User.objects.get_or_create(username=CUSTOMER[0])
        customer.set_password(CUSTOMER[1])
        customer.save()

        port = os.environ.get("PORT", "8000")
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 64,
                    " django-nxwa-onboarding demo (offline NXCloud sandbox)",
                    f"  Customer page : {base}/onboarding/   login {CUSTOMER[0]} / {CUSTOMER[1]}",
                    f"  Admin         : {base}/admin/        login {STAFF[0]} / {STAFF[1]}",
                    f"  Sandbox inbox : {base}/sandbox/nxcloud/inbox/",
                    "=" * 64,
                    "",
                ]
            )
        )
