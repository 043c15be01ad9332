"""django-allauth's account adapter for the benchmark: the phone stored in ``PeerPhone``, a
fixed code (so the load generator knows the right one), and the SMS posted to the loopback
stand-in that plays NXCloud (``NXWA_ONBOARDING['BASE_URL']``): one HTTP call per send on a
kept-alive ``requests`` session, as a host would write it."""

from __future__ import annotations

from typing import Any

import requests
from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser

from benchmarks.peers.models import PeerPhone

#: The code every send carries (the benchmark's client submits it as the right code).
CODE = "123456"
_session = requests.Session()


class LoopbackAccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]  # allauth ships no types
    def generate_phone_verification_code(self, *, user: AbstractBaseUser, phone: str) -> str:
        return CODE

    def send_verification_code_sms(
        self, user: AbstractBaseUser, phone: str, code: str, **kwargs: Any
    ) -> None:
        response = _session.post(
            str(settings.NXWA_ONBOARDING["BASE_URL"]).rstrip("/") + "/peers/sms",
            json={"to": phone, "text": f"Your code is {code}"},
            timeout=(2.0, 5.0),
        )
        response.raise_for_status()

    def set_phone(self, user: AbstractBaseUser, phone: str, verified: bool) -> None:
        PeerPhone.objects.update_or_create(user=user, defaults={"phone": phone, "verified": verified})

    def get_phone(self, user: AbstractBaseUser) -> tuple[str, bool] | None:
        row = PeerPhone.objects.filter(user=user).values_list("phone", "verified").first()
        return (row[0], row[1]) if row else None

    def set_phone_verified(self, user: AbstractBaseUser, phone: str) -> None:
        self.set_phone(user, phone, True)

    def get_user_by_phone(self, phone: str) -> AbstractBaseUser | None:
        row = PeerPhone.objects.select_related("user").filter(phone=phone).first()
        return row.user if row else None

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        return False
