"""The staff admin: find a registration, send codes, enter the code a merchant reads out, audit.

Every state change goes through ``nxwa_onboarding.services``; nothing here builds a client.
Permissions: ``verify_phone`` guards the enter-code page and its button; ``send_code`` guards
the two send actions and "create the WhatsApp client" (it acts on NXCloud on the merchant's
behalf and cannot be undone); "refresh status from NXCloud" only reads NXCloud and updates our
copy, so the ordinary change permission guards it. The audit admins are view-only for everyone,
and a registration with audit rows cannot be deleted from the admin.

One module per concern: ``registrations`` (the registration admin), ``actions`` (its actions
and their reporting), ``check_code`` (the enter-code page), ``presenters`` (texts, badges,
links), ``audit`` (the audit admins and inlines), ``scaling`` (the audit lists' count and user
filter), ``search`` (the one phone/IP search), ``forms`` and ``applications`` (customer applications and
their webhook deliveries). Every URL is reversed on the admin
site the admin is registered with, so the admins work on any ``AdminSite``: register them there
the way this module registers them on ``admin.site``.
"""

from __future__ import annotations

from django.contrib import admin

from ..models import (
    AllowedPrefix,
    Application,
    BlockedPrefix,
    CodeRequest,
    Erasure,
    PhoneRegistration,
    PurgeRun,
    VerificationAttempt,
    WebhookDelivery,
)
from .actions import RegistrationActionsMixin
from .applications import ApplicationAdmin, WebhookDeliveryAdmin
from .audit import (
    AUDIT_FIELDS,
    AuditAdmin,
    AuditInline,
    AuditTrailProtectionMixin,
    CodeRequestAdmin,
    CodeRequestInline,
    ReadOnlyMixin,
    VerificationAttemptAdmin,
    VerificationAttemptInline,
)
from .check_code import CheckCodeMixin
from .forms import AddRegistrationForm, CheckCodeForm
from .fraud import AllowedPrefixAdmin, BlockedPrefixAdmin
from .outcomes import Outcomes
from .presenters import (
    EMPTY,
    LISTED_NUMBERS,
    METHOD_WORDS,
    _numbers,
    admin_url,
    badge,
    check_outcome_message,
    check_summary_text,
    configuration_message,
    outcome_badge,
    refusal_notices,
    send_summary_text,
    status_badge,
)
from .registrations import PhoneRegistrationAdmin, annotate_for_changelist
from .retention import ErasureAdmin, PurgeRunAdmin
from .scaling import EXACT_COUNT_UP_TO, EstimatedCountPaginator, StaffUserListFilter, _significant
from .search import PHONE_LIKE, PhoneSearch, PhoneSearchMixin

admin.site.register(PhoneRegistration, PhoneRegistrationAdmin)
admin.site.register(VerificationAttempt, VerificationAttemptAdmin)
admin.site.register(CodeRequest, CodeRequestAdmin)
admin.site.register(Application, ApplicationAdmin)
admin.site.register(WebhookDelivery, WebhookDeliveryAdmin)
admin.site.register(BlockedPrefix, BlockedPrefixAdmin)
admin.site.register(AllowedPrefix, AllowedPrefixAdmin)
admin.site.register(Erasure, ErasureAdmin)
admin.site.register(PurgeRun, PurgeRunAdmin)

__all__ = [
    "AUDIT_FIELDS",
    "EMPTY",
    "EXACT_COUNT_UP_TO",
    "LISTED_NUMBERS",
    "METHOD_WORDS",
    "PHONE_LIKE",
    "AddRegistrationForm",
    "AllowedPrefixAdmin",
    "ApplicationAdmin",
    "AuditAdmin",
    "AuditInline",
    "AuditTrailProtectionMixin",
    "BlockedPrefixAdmin",
    "CheckCodeForm",
    "CheckCodeMixin",
    "CodeRequestAdmin",
    "CodeRequestInline",
    "ErasureAdmin",
    "EstimatedCountPaginator",
    "Outcomes",
    "PhoneRegistrationAdmin",
    "PhoneSearch",
    "PhoneSearchMixin",
    "PurgeRunAdmin",
    "ReadOnlyMixin",
    "RegistrationActionsMixin",
    "StaffUserListFilter",
    "VerificationAttemptAdmin",
    "VerificationAttemptInline",
    "WebhookDeliveryAdmin",
    "_numbers",
    "_significant",
    "admin_url",
    "annotate_for_changelist",
    "badge",
    "check_outcome_message",
    "check_summary_text",
    "configuration_message",
    "outcome_badge",
    "refusal_notices",
    "send_summary_text",
    "status_badge",
]
