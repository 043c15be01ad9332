"""The record of what retention and erasure did: who was erased, when, by whom; each purge run.

Re-exported by ``models``. The person erased is kept only as their user id and a keyed digest of
their username (``services.retention.pseudonym``): enough to answer "was this person erased, and
when", nothing to identify them by.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Erasure(models.Model):
    """One person's numbers and addresses removed at their request (or with their account)."""

    class Via(models.TextChoices):
        COMMAND = "command", _("Management command")
        USER_DELETED = "user_deleted", _("The user was deleted")
        SERVICE = "service", _("Service call")

    subject_id = models.CharField(
        _("user id"), max_length=64, db_index=True, help_text=_("The erased user's primary key.")
    )
    subject_digest = models.CharField(
        _("username digest"),
        max_length=64,
        help_text=_("A keyed digest of the erased user's username: no name is kept."),
    )
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("performed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    performed_at = models.DateTimeField(_("performed at"), auto_now_add=True)
    via = models.CharField(_("how"), max_length=20, choices=Via.choices)
    registrations = models.PositiveIntegerField(_("registrations"), default=0)
    rows = models.PositiveIntegerField(_("rows changed"), default=0)

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-performed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject_id} · {self.performed_at:%Y-%m-%d %H:%M}"


class PurgeRun(models.Model):
    """One pass of ``nxwa_purge`` (or its periodic task) and what it changed."""

    started_at = models.DateTimeField(_("started at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    summary = models.JSONField(_("what it did"), default=dict, blank=True)

    class Meta:
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M}"
