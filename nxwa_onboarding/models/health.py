"""After "registered": the number's health, and every createClient counted against Meta's budget.

``NumberHealth`` is one row per registration: what NXCloud last said of the number's WhatsApp
account, display name, quality, messaging limit and two-step PIN, each part with when it was read
and from where (a webhook or ``getPhone``). ``services.health`` is the only writer.

``ClientSetupCall`` is one row per createClient sent (or refused by Meta's budget before it was
sent), per number: Meta allows 10 registration requests per number in a moving 72 hours and locks
the number for 72 hours after the 11th (error 133016). Written before the call, finished after it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..choices import AccountState, HealthSource, NameReview

SOURCE = {"max_length": 10, "choices": HealthSource.choices, "blank": True}


class NumberHealth(models.Model):
    """What is known of a registered number's health, part by part, with when and from where."""

    registration = models.OneToOneField(
        "nxwa_onboarding.PhoneRegistration",
        verbose_name=_("registration"),
        on_delete=models.CASCADE,
        related_name="health",
    )
    account_state = models.CharField(
        _("account state"), max_length=20, choices=AccountState.choices, blank=True, db_index=True
    )
    account_reason = models.CharField(_("account detail"), max_length=255, blank=True)
    account_source = models.CharField(_("account read from"), **SOURCE)  # type: ignore[arg-type]
    account_read_at = models.DateTimeField(_("account read at"), null=True, blank=True)

    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    name_review = models.CharField(
        _("display name review"), max_length=20, choices=NameReview.choices, blank=True, db_index=True
    )
    name_rejection_reason = models.CharField(_("why the name was rejected"), max_length=255, blank=True)
    name_source = models.CharField(_("name read from"), **SOURCE)  # type: ignore[arg-type]
    name_read_at = models.DateTimeField(_("name read at"), null=True, blank=True)

    quality_rating = models.CharField(_("quality rating"), max_length=20, blank=True)
    quality_source = models.CharField(_("quality read from"), **SOURCE)  # type: ignore[arg-type]
    quality_read_at = models.DateTimeField(_("quality read at"), null=True, blank=True)

    messaging_limit = models.CharField(
        _("business messaging limit"),
        max_length=64,
        blank=True,
        help_text=_("As NXCloud sends it: Meta's tier names change."),
    )
    limit_source = models.CharField(_("limit read from"), **SOURCE)  # type: ignore[arg-type]
    limit_read_at = models.DateTimeField(_("limit read at"), null=True, blank=True)

    pin_set = models.BooleanField(_("two-step PIN set"), null=True, blank=True)
    pin_source = models.CharField(_("PIN read from"), **SOURCE)  # type: ignore[arg-type]
    pin_read_at = models.DateTimeField(_("PIN read at"), null=True, blank=True)

    phone_requested_at = models.DateTimeField(
        _("getPhone requested at"),
        null=True,
        blank=True,
        help_text=_("Set before getPhone is asked about this number: at most once per HEALTH_READ_INTERVAL."),
    )
    changed_at = models.DateTimeField(_("health changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("number health")
        verbose_name_plural = _("number health")

    def __str__(self) -> str:
        return str(self.registration)


class ClientSetupCall(models.Model):
    """One createClient for a number (Meta's registration budget counts these), or one refused
    by that budget before it was sent (``refused``). Append-only once finished."""

    phone_number = models.CharField(_("phone number"), max_length=20)
    registration = models.ForeignKey(
        "nxwa_onboarding.PhoneRegistration",
        verbose_name=_("registration"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="setup_calls",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    refused = models.BooleanField(_("refused before the call"), default=False)
    result_code = models.IntegerField(_("NXCloud result code"), null=True, blank=True)
    locked_until = models.DateTimeField(
        _("registration locked until"),
        null=True,
        blank=True,
        help_text=_("Meta's lock (133016) or the budget's end: no createClient before this time."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("createClient call")
        verbose_name_plural = _("createClient calls")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["phone_number", "created_at"], name="nxwa_setupcall_phone_idx")]

    def __str__(self) -> str:
        return f"{self.phone_number} · {self.created_at:%Y-%m-%d %H:%M}"
