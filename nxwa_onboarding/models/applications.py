"""Customer applications and the webhook deliveries NXCloud POSTs to them.

An NXCloud integrator serves many customers, each with a *customer application* (``createApp``:
a name and a webhook URL in, ``app_id`` and ``app_key`` out). Every registration belongs to one.
A single-application installation has only the *default* application, whose app key is the
``APP_KEY`` setting (its own ``app_key`` stays blank), made when first needed.

Re-exported by ``models``; this module imports nothing of ``models`` (the foreign keys between
the two are by name), so neither imports the other's module at load time but ``models`` this.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from ..choices import USABLE_APPLICATIONS, ApplicationOutcome, DeliveryOutcome, Failure
from ..conf import conf


def new_webhook_token() -> str:
    """256 random bits, URL-safe: for an unsigned application, the only key to its webhook."""
    return secrets.token_urlsafe(32)


class ApplicationQuerySet(models.QuerySet["Application"]):
    def usable(self) -> ApplicationQuerySet:
        """Applications whose app key is known (created, added, or the default)."""
        return self.filter(outcome__in=USABLE_APPLICATIONS)

    def default(self) -> Application:
        """The installation's default application (APP_KEY), made on first use."""
        found = self.filter(is_default=True).first()
        if found is not None:
            return found
        try:
            with transaction.atomic(using=self.db):
                return self.create(
                    name=str(_("Default application")), is_default=True, outcome=ApplicationOutcome.DEFAULT
                )
        except IntegrityError:  # made meanwhile by another request
            return self.get(is_default=True)


ApplicationManager = models.Manager.from_queryset(ApplicationQuerySet)


def default_application_id() -> int:
    """The default of ``PhoneRegistration.application``: a registration made without one (a
    test, a script, a row made before applications existed) belongs to the default application."""
    return Application.objects.default().pk


class Application(models.Model):
    """A customer application at NXCloud: its numbers are listed by ``phoneList(app_key)`` and
    its events are POSTed to ``webhook_url``.

    A row is written ``pending`` before createApp is called and finished after (the call may be
    lost in flight: ``unknown``), like every recorded NXCloud call."""

    Outcome = ApplicationOutcome

    name = models.CharField(_("name"), max_length=100)
    app_id = models.CharField(_("NXCloud app id"), max_length=64, blank=True)
    app_key = models.CharField(
        _("app key"),
        max_length=128,
        blank=True,
        help_text=_("Blank for the default application: it uses NXWA_ONBOARDING['APP_KEY']."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="nxwa_applications",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    webhook_token = models.CharField(
        _("webhook token"), max_length=64, unique=True, default=new_webhook_token, editable=False
    )
    signs_callbacks = models.BooleanField(
        _("NXCloud signs its callbacks"),
        default=False,
        help_text=_(
            "Turn on when callback signing is on for this application at NXCloud: unsigned or "
            "badly signed callbacks are then refused. Off, the webhook URL's token is the only key."
        ),
    )
    is_default = models.BooleanField(_("default application"), default=False, editable=False)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING, editable=False
    )
    failure = models.CharField(
        _("failure"), max_length=20, choices=Failure.choices, blank=True, editable=False
    )
    result_code = models.IntegerField(_("NXCloud result code"), null=True, blank=True, editable=False)
    result_message = models.CharField(_("NXCloud message"), max_length=500, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)
    last_synced_at = models.DateTimeField(_("last synced at"), null=True, blank=True, editable=False)
    message_events = models.PositiveBigIntegerField(
        _("message events received"),
        default=0,
        editable=False,
        help_text=_("Message statuses and inbound messages: acknowledged and counted, not stored."),
    )

    policy = models.JSONField(
        _("policy"),
        default=dict,
        blank=True,
        help_text=_(
            "Settings this customer's registrations use instead of NXWA_ONBOARDING's, such as "
            '{"MAX_SENDS_PER_DAY": 3, "ALLOWED_REGIONS": ["GB"]}. Keys left out follow the settings.'
        ),
    )

    objects = ApplicationManager()

    class Meta:
        verbose_name = _("customer application")
        verbose_name_plural = _("customer applications")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["app_key"], condition=~Q(app_key=""), name="nxwa_application_unique_app_key"
            ),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="nxwa_one_default_application"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_app_key(self) -> str:
        """The key phoneList takes: the stored one, or APP_KEY for the default application."""
        return self.app_key or (conf.APP_KEY if self.is_default else "")

    @property
    def is_usable(self) -> bool:
        return self.outcome in USABLE_APPLICATIONS

    @property
    def webhook_path(self) -> str:
        """The webhook's path on this site ("" when ``nxwa_onboarding.webhooks.urls`` is not mounted)."""
        try:
            return reverse("nxwa_webhooks:receive", kwargs={"token": self.webhook_token})
        except NoReverseMatch:
            return ""

    @property
    def webhook_url(self) -> str:
        """The URL to give NXCloud ("" until WEBHOOK_BASE_URL is set and the URLs are mounted)."""
        path = self.webhook_path
        return conf.WEBHOOK_BASE_URL + path if conf.WEBHOOK_BASE_URL and path else ""


class WebhookDelivery(models.Model):
    """One callback NXCloud delivered and we accepted: append-only, one row per event however
    often it is redelivered (``dedupe_key``), with what applying it did."""

    Outcome = DeliveryOutcome

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.PROTECT, related_name="deliveries"
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=64, blank=True, help_text=_("The envelope's field."))
    event = models.CharField(_("event"), max_length=64, blank=True)
    phone_number = models.CharField(_("phone number"), max_length=20, blank=True, db_index=True)
    registration = models.ForeignKey(
        "nxwa_onboarding.PhoneRegistration",
        verbose_name=_("registration"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )
    payload = models.TextField(_("payload"), blank=True)
    payload_truncated = models.BooleanField(_("payload cut"), default=False)
    body_bytes = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    signed = models.BooleanField(_("signature verified"), default=False)
    dedupe_key = models.CharField(_("event digest"), max_length=64, editable=False)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, db_index=True)
    detail = models.CharField(_("detail"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["application", "dedupe_key"], name="nxwa_delivery_once"),
        ]
        indexes = [models.Index(fields=["registration", "-received_at"], name="nxwa_delivery_reg_idx")]

    def __str__(self) -> str:
        return f"{self.kind or '-'} {self.event} · {self.received_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValidationError(_("A webhook delivery is part of the audit trail and cannot change."))
        super().save(*args, **kwargs)
