"""What the sandbox remembers between requests (runserver answers each in its own thread).

``SandboxMessage`` is the sandbox's stand-in for the merchant's phone, so it holds the code in
plain text: that is its whole point. It lives in the sandbox's own tables, never in the app's.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..phone import format_phone


class SandboxMessage(models.Model):
    """A code "delivered" by getCode."""

    phone_number = models.CharField(_("phone number"), max_length=20, db_index=True)
    code = models.CharField(_("code"), max_length=12)
    method = models.CharField(_("method"), max_length=10)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("sandbox message")
        verbose_name_plural = _("sandbox messages")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{format_phone(self.phone_number)} · {self.created_at:%Y-%m-%d %H:%M:%S}"


class SandboxNumber(models.Model):
    """What the sandbox knows of a number once it was verified."""

    phone_number = models.CharField(_("phone number"), max_length=20, unique=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    client_created_at = models.DateTimeField(_("client created at"), null=True, blank=True)
    #: Pins register_status (1 or 2 to play a failed registration) instead of the timed 3 -> 4 -> 5.
    forced_register_status = models.PositiveSmallIntegerField(
        _("forced register status"), null=True, blank=True
    )
    #: The application (createApp's app key) the number is bound to; blank: the installation's
    #: own APP_KEY. NXCloud ties a number to an application through its embedded page; the
    #: sandbox's inbox does it with a button.
    app_key = models.CharField(_("app key"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("sandbox number")
        verbose_name_plural = _("sandbox numbers")
        ordering = ["phone_number"]

    def __str__(self) -> str:
        return format_phone(self.phone_number)


class SandboxApp(models.Model):
    """A customer application made by createApp."""

    app_name = models.CharField(_("name"), max_length=255)
    webhook = models.CharField(_("webhook"), max_length=500)
    app_key = models.CharField(_("app key"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("sandbox application")
        verbose_name_plural = _("sandbox applications")

    def __str__(self) -> str:
        return self.app_name
