"""Users with and without the app's permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

PASSWORD = "correct-horse-battery"


def make_user(
    username: str, *, staff: bool = False, superuser: bool = False, perms: tuple[str, ...] = ()
) -> Any:
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=staff or superuser, is_superuser=superuser
    )
    if perms:
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="nxwa_onboarding", codename__in=perms)
        )
    return user


VIEW_PERMS = ("view_phoneregistration", "view_verificationattempt", "view_coderequest")
