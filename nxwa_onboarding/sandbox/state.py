"""The sandbox's state in its own tables, shared by every thread and process of the server."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..conf import conf
from .engine import register_status_after
from .models import SandboxApp, SandboxMessage, SandboxNumber


class DatabaseState:
    """``engine.SandboxState`` backed by ``SandboxMessage``, ``SandboxNumber`` and ``SandboxApp``."""

    def deliver_code(self, phone_number: str, code: str, method: str) -> None:
        SandboxMessage.objects.create(phone_number=phone_number, code=code, method=method)

    def latest_code(self, phone_number: str) -> str | None:
        return (
            SandboxMessage.objects.filter(phone_number=phone_number)
            .order_by("-id")
            .values_list("code", flat=True)
            .first()
        )

    def _number(self, phone_number: str) -> SandboxNumber:
        try:
            with transaction.atomic():
                number, _created = SandboxNumber.objects.get_or_create(phone_number=phone_number)
        except IntegrityError:  # another thread created it between get and create
            number = SandboxNumber.objects.get(phone_number=phone_number)
        return number

    def mark_verified(self, phone_number: str) -> None:
        self._number(phone_number)
        SandboxNumber.objects.filter(phone_number=phone_number, verified_at__isnull=True).update(
            verified_at=timezone.now()
        )

    def is_verified(self, phone_number: str) -> bool:
        return SandboxNumber.objects.filter(phone_number=phone_number, verified_at__isnull=False).exists()

    def start_client(self, phone_number: str) -> None:
        SandboxNumber.objects.filter(phone_number=phone_number, client_created_at__isnull=True).update(
            client_created_at=timezone.now()
        )

    def register_statuses(self, appkey: str) -> list[tuple[str, int]]:
        now = timezone.now()
        steps = conf.SANDBOX_REGISTER_STEPS
        numbers = SandboxNumber.objects.filter(client_created_at__isnull=False)
        if SandboxApp.objects.filter(app_key=appkey).exists():
            numbers = numbers.filter(app_key=appkey)
        else:
            numbers = numbers.filter(app_key="")
        return [
            (
                number.phone_number,
                number.forced_register_status
                or register_status_after((now - number.client_created_at).total_seconds(), steps),
            )
            for number in numbers
            if number.client_created_at is not None
        ]

    def create_app(self, app_name: str, webhook: str) -> dict[str, Any]:
        app = SandboxApp.objects.create(
            app_name=app_name[:255], webhook=webhook[:500], app_key="sandbox-" + secrets.token_hex(12)
        )
        return {"app_id": 1000 + app.pk, "app_name": app.app_name, "app_key": app.app_key}

    def accepts_app_key(self, appkey: str) -> bool:
        if conf.APP_KEY and secrets.compare_digest(appkey.encode(), conf.APP_KEY.encode()):
            return True
        return SandboxApp.objects.filter(app_key=appkey).exists()
