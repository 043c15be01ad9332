"""What the app remembers: registrations, every code sent, every verification attempt.

Codes are never stored: an attempt keeps an HMAC of the code keyed from ``SECRET_KEY``.
Rows that record an NXCloud call are written as ``pending`` before the call and finished after
it (see ``services``); a finished attempt is never changed again.
"""

from __future__ import annotations

import uuid
from typing import Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..addresses import block_of
from ..choices import (
    CLOSED_STATES,
    AccountState,
    AttemptOutcome,
    Channel,
    Failure,
    Method,
    RefusalReason,
    RegisterStatus,
    RegistrationStatus,
    SendOutcome,
)
from ..phone import format_phone, normalize_phone
from ..texts import refusal_text
from .applications import Application, WebhookDelivery, default_application_id
from .follow import FollowState
from .fraud import REGISTRATION_INDEXES, AllowedPrefix, BlockedPrefix, GuardNotice
from .holds import CallHold

__all__ = [
    "AccountState",
    "AllowedPrefix",
    "Application",
    "BlockedPrefix",
    "CallHold",
    "CallRecord",
    "Channel",
    "CodeRequest",
    "FollowState",
    "GuardNotice",
    "Method",
    "PhoneRegistration",
    "RefusalReason",
    "VerificationAttempt",
    "WebhookDelivery",
]


class PhoneRegistrationQuerySet(models.QuerySet["PhoneRegistration"]):
    def open(self) -> Self:
        """Registrations that hold their number (anything but ``failed``: at most one a number)."""
        return self.exclude(status__in=CLOSED_STATES)

    def open_for(self, phone_number: str) -> Self:
        """The open registration of these digits, as a queryset (at most one row)."""
        return self.open().filter(phone_number=phone_number)


PhoneRegistrationManager = models.Manager.from_queryset(PhoneRegistrationQuerySet)


class PhoneRegistration(models.Model):
    Status = RegistrationStatus
    RegisterStatus = RegisterStatus

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    phone_number = models.CharField(
        _("phone number"),
        max_length=20,
        db_index=True,
        help_text=_("Digits with the country code, no + or spaces."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW, db_index=True
    )
    region = models.CharField(_("region"), max_length=3, blank=True, editable=False)  # set when it starts
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="nxwa_registrations",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_code_method = models.CharField(
        _("method of the last code"), max_length=10, choices=Method.choices, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    code_sent_at = models.DateTimeField(_("code sent at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    client_requested_at = models.DateTimeField(
        _("client creation requested at"),
        null=True,
        blank=True,
        help_text=_("Set before createClient is called, cleared when it certainly failed."),
    )
    client_refusal = models.CharField(
        _("createClient refused"),
        max_length=255,
        blank=True,
        help_text=_(
            "NXCloud's answer when it refused to create the number's WhatsApp client. Nothing "
            "sends createClient again by itself until staff create the client."
        ),
    )

    # Number details from NXCloud's phoneList.
    register_status = models.PositiveSmallIntegerField(
        _("register status"), choices=RegisterStatus.choices, null=True, blank=True
    )
    number_status = models.CharField(_("number status"), max_length=20, blank=True)
    quality_rating = models.CharField(_("quality rating"), max_length=10, blank=True)
    verified_name = models.CharField(_("verified name"), max_length=255, blank=True)
    waba_id = models.CharField(_("WABA id"), max_length=64, blank=True)
    waba_name = models.CharField(_("WABA name"), max_length=255, blank=True)
    last_synced_at = models.DateTimeField(_("last synced at"), null=True, blank=True)
    status_requested_at = models.DateTimeField(
        _("status requested at"),
        null=True,
        blank=True,
        help_text=_("Set before phoneList is read for this number: one refresh at a time."),
    )
    # Claims of services.polls: a poll's work at most once per interval, a lost setup retried
    # by a poll at most once per stale_after().
    polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    setup_retried_at = models.DateTimeField(_("client setup retried at"), null=True, blank=True)
    registered_elsewhere_at = models.DateTimeField(
        _("registered outside this app"),
        null=True,
        blank=True,
        help_text=_(
            "When NXCloud listed the number as registered although it was never verified here. "
            "Nothing else was changed: look into it."
        ),
    )

    stuck_at = models.DateTimeField(
        _("needs attention since"),
        null=True,
        blank=True,
        help_text=_(
            "Set when the registration was in progress, or had a code out with no attempt, for "
            "longer than STUCK_AFTER: someone should look."
        ),
    )

    # Closed: it no longer holds its number.
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    close_reason = models.CharField(_("why it was closed"), max_length=255, blank=True)

    # The customer application the number belongs to, and what its webhooks last said.
    application = models.ForeignKey(
        Application,
        verbose_name=_("application"),
        on_delete=models.PROTECT,
        default=default_application_id,
        related_name="registrations",
    )
    account_state = models.CharField(
        _("account state"), max_length=20, choices=AccountState.choices, blank=True, db_index=True
    )
    account_event = models.CharField(_("last account event"), max_length=64, blank=True)
    account_event_at = models.DateTimeField(_("account event at"), null=True, blank=True)
    quality_event = models.CharField(_("last quality event"), max_length=64, blank=True)
    messaging_limit = models.CharField(_("messaging limit"), max_length=32, blank=True)
    name_decision = models.CharField(_("display name decision"), max_length=20, blank=True)
    requested_name = models.CharField(_("requested display name"), max_length=255, blank=True)
    name_rejection_reason = models.CharField(_("why the name was rejected"), max_length=255, blank=True)
    last_event_at = models.DateTimeField(_("last webhook event at"), null=True, blank=True)

    objects = PhoneRegistrationManager()

    class Meta:
        verbose_name = _("phone registration")
        verbose_name_plural = _("phone registrations")
        ordering = ["-created_at"]
        indexes = REGISTRATION_INDEXES  # the fraud guard's (models.fraud)
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=~Q(status__in=["failed", "closed"]),
                name="nxwa_one_open_registration_per_number",
                violation_error_message=_("This number is already being onboarded."),
            ),
        ]
        permissions = [
            ("verify_phone", _("Can enter verification codes")),
            ("send_code", _("Can send verification codes")),
            ("close_registration", _("Can close registrations")),
        ]

    #: Not stored: this new registration released another's unverified hold (texts.taken_over_text).
    took_over = False

    def __str__(self) -> str:
        return self.formatted_phone

    def get_absolute_url(self) -> str:
        return reverse("nxwa_onboarding:detail", kwargs={"public_id": self.public_id})

    def clean(self) -> None:
        """Normalise what was typed (``+86 138-0013-8000``) to digits, or say what is wrong.
        Any region: the application's policy's are checked by the forms and the services."""
        super().clean()
        if self.phone_number:
            try:
                self.phone_number = normalize_phone(self.phone_number, allowed=None)
            except ValidationError as err:
                raise ValidationError({"phone_number": err.messages}) from None

    @property
    def formatted_phone(self) -> str:
        return format_phone(self.phone_number)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class CallRecord(models.Model):
    """Shared fields of a row that records one NXCloud call (or a refusal to make it)."""

    registration: models.ForeignKey[PhoneRegistration, PhoneRegistration]
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    refusal_reason = models.CharField(
        _("refusal reason"), max_length=20, choices=RefusalReason.choices, blank=True
    )
    retry_after = models.DateTimeField(_("may try again at"), null=True, blank=True)
    ip_block = models.CharField(
        _("address block"),
        max_length=50,
        blank=True,
        editable=False,
        help_text=_("The address as the per-address limits count it: IPv4 whole, IPv6 by its /64."),
    )
    failure = models.CharField(
        _("failure"),
        max_length=20,
        choices=Failure.choices,
        blank=True,
        help_text=_("Why the call did not succeed: our configuration, NXCloud unreachable, or maybe sent."),
    )
    result_code = models.IntegerField(_("NXCloud result code"), null=True, blank=True)
    result_message = models.CharField(_("NXCloud message"), max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    #: Set when loaded from the database already finished: such a row never changes again.
    _finished_when_loaded = False

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._finished_when_loaded:
            raise ValidationError(_("A finished record is part of the audit trail and cannot change."))
        self.ip_block = block_of(self.ip)
        super().save(*args, **kwargs)
        # Saved finished (a refusal is written finished): from now on it is part of the trail.
        self._finished_when_loaded = self.finished_at is not None

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        # A deferred finished_at (``.only()``) must not pass for "not finished".
        instance._finished_when_loaded = "finished_at" not in field_names or instance.finished_at is not None
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        if self.finished_at is not None:
            self._finished_when_loaded = True

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def refusal_message(self) -> str:
        """Why the call was refused and when it may be tried again, in plain words ("" if not refused)."""
        if not self.refusal_reason:
            return ""
        return refusal_text(self.refusal_reason, self.retry_after)


class CodeRequest(CallRecord):
    """One getCode: a verification code sent (or refused, or of unknown fate)."""

    Outcome = SendOutcome

    registration = models.ForeignKey(
        PhoneRegistration,
        verbose_name=_("registration"),
        on_delete=models.CASCADE,
        related_name="code_requests",
    )
    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING, db_index=True
    )

    class Meta:
        verbose_name = _("code request")
        verbose_name_plural = _("code requests")
        ordering = ["-created_at", "-id"]
        get_latest_by = ["created_at", "id"]
        indexes = [
            models.Index(fields=["registration", "-created_at"], name="nxwa_coderequest_reg_idx"),
            models.Index(fields=["ip_block", "created_at"], name="nxwa_coderequest_block_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(outcome="pending"),
                name="nxwa_one_pending_code_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} → {self.registration} ({self.get_outcome_display()})"


class VerificationAttempt(CallRecord):
    """One code typed in and (unless refused) passed to checkCode. Append-only."""

    Outcome = AttemptOutcome
    #: Not stored: on the attempt ``services.check_code`` returns, when rejected, the tries left
    #: on its code (the doors say "n tries left" without reading the whole state again).
    attempts_left: int | None = None

    registration = models.ForeignKey(
        PhoneRegistration,
        verbose_name=_("registration"),
        on_delete=models.CASCADE,
        related_name="attempts",
    )
    code_request = models.ForeignKey(
        CodeRequest,
        verbose_name=_("code request"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attempts",
    )
    code_digest = models.CharField(_("code digest"), max_length=64, editable=False)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING, db_index=True
    )

    class Meta:
        verbose_name = _("verification attempt")
        verbose_name_plural = _("verification attempts")
        ordering = ["-created_at", "-id"]
        get_latest_by = ["created_at", "id"]
        indexes = [
            models.Index(fields=["registration", "-created_at"], name="nxwa_attempt_reg_idx"),
            models.Index(fields=["ip", "created_at"], name="nxwa_attempt_ip_idx"),
            models.Index(fields=["ip_block", "created_at"], name="nxwa_attempt_block_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(outcome="pending"),
                name="nxwa_one_pending_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registration} · {self.get_outcome_display()}"
