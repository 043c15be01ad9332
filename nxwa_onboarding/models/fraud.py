"""The fraud guard's own rows: prefixes blocked (or watched) because their numbers never
convert, the allow-list staff keep, and the once-a-day notices staff were sent.

See ``services.fraud``. Re-exported by ``models``; imports nothing of it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..phone import format_phone

#: ``PhoneRegistration``'s indexes for the guard's counts: by prefix (``LIKE '4479%'``, the
#: pattern class on PostgreSQL) and by region (the funnel's breakdown too).
REGISTRATION_INDEXES = [
    models.Index(fields=["phone_number"], name="nxwa_reg_prefix_idx", opclasses=["varchar_pattern_ops"]),
    models.Index(fields=["region", "created_at"], name="nxwa_reg_region_idx"),
]


class BlockedPrefix(models.Model):
    """A prefix ``AUTO_BLOCK`` found sending codes that are never used, with the figures it saw.

    ``mode`` says what it did: ``block`` (new sends there are refused until staff lift it) or
    ``monitor`` (only reported). Lifting keeps the row (who, when, why); sends counted after the
    lift start afresh."""

    class Mode(models.TextChoices):
        BLOCK = "block", _("Blocked")
        MONITOR = "monitor", _("Reported only")

    prefix = models.CharField(_("prefix"), max_length=16, help_text=_("Digits with the country code."))
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)
    sends = models.PositiveIntegerField(_("codes sent in the window"))
    numbers = models.PositiveIntegerField(_("numbers sent to"))
    verified = models.PositiveIntegerField(_("numbers verified"))
    window_hours = models.FloatField(_("window (hours)"))
    blocked_at = models.DateTimeField(_("found at"), auto_now_add=True, db_index=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("lifted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lift_reason = models.CharField(_("why it was lifted"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("blocked prefix")
        verbose_name_plural = _("blocked prefixes")
        ordering = ["-blocked_at"]
        constraints = [
            # One standing block (or report) per prefix; lifted ones are history.
            models.UniqueConstraint(
                fields=["prefix"], condition=Q(lifted_at__isnull=True), name="nxwa_one_standing_block"
            )
        ]
        indexes = [models.Index(fields=["prefix", "-blocked_at"], name="nxwa_blocked_prefix_idx")]

    def __str__(self) -> str:
        return f"+{self.prefix}"

    @property
    def conversion(self) -> float:
        return self.verified / self.numbers if self.numbers else 0.0


class AllowedPrefix(models.Model):
    """A number or prefix ``AUTO_BLOCK`` never blocks (besides the AUTO_BLOCK_ALLOW setting)."""

    prefix = models.CharField(
        _("number or prefix"),
        max_length=16,
        unique=True,
        help_text=_("Digits with the country code, for example 447911 (a + is removed)."),
    )
    note = models.CharField(_("why"), max_length=255, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("allowed number or prefix")
        verbose_name_plural = _("allowed numbers and prefixes")
        ordering = ["prefix"]

    def __str__(self) -> str:
        return format_phone(self.prefix) if len(self.prefix) > 7 else f"+{self.prefix}"


class GuardNotice(models.Model):
    """Staff were told once: of this kind (a budget reached, a prefix blocked), for this region
    or prefix, on this day (UTC). The unique row is what makes it once."""

    kind = models.CharField(_("kind"), max_length=20)
    key = models.CharField(_("region or prefix"), max_length=16)
    day = models.DateField(_("day"))
    created_at = models.DateTimeField(_("told at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("guard notice")
        verbose_name_plural = _("guard notices")
        constraints = [models.UniqueConstraint(fields=["kind", "key", "day"], name="nxwa_one_notice_a_day")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} {self.day}"
