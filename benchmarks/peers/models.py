"""The peers' rows: where allauth's adapter keeps a user's phone, and the hand-written view's
one row per submission (written before its call and completed after it; never the code)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PeerPhone(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=32, unique=True)
    verified = models.BooleanField(default=False)

    # Declared: mypy's settings (the suite's) do not install this app.
    objects: models.Manager[PeerPhone] = models.Manager()

    def __str__(self) -> str:
        return self.phone


class HandAttempt(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=32)
    outcome = models.CharField(max_length=16, default="pending")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    objects: models.Manager[HandAttempt] = models.Manager()

    def __str__(self) -> str:
        return f"{self.phone} {self.outcome}"
