"""The app's vocabulary: every set of choices the models, services and pages share.

A leaf module: it imports no models (the sandbox, which plays NXCloud, takes its labels from here
without loading our models), so anything may import it.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Method(models.TextChoices):
    SMS = "sms", _("SMS")
    VOICE = "voice", _("Voice call")


class Channel(models.TextChoices):
    ADMIN = "admin", _("Admin")
    CUSTOMER = "customer", _("Customer page")
    COMMAND = "command", _("Management command")
    API = "api", _("API")


class RefusalReason(models.TextChoices):
    MALFORMED = "malformed", _("The code is not in the expected format")
    NO_CODE = "no_code", _("No code has been sent yet")
    EXPIRED = "expired", _("The code has expired")
    TOO_MANY_ATTEMPTS = "too_many_attempts", _("Too many attempts on this code")
    ALREADY_VERIFIED = "already_verified", _("The number is already verified")
    IN_FLIGHT = "in_flight", _("Another request is in progress")
    IP_LIMIT = "ip_limit", _("Too many attempts from this address")
    COOLDOWN = "cooldown", _("A code was sent moments ago")
    DAILY_CAP = "daily_cap", _("The daily limit of codes is reached")
    CLOSED = "closed", _("The registration is closed")
    OWNER_LIMIT = "owner_limit", _("Too many codes for this customer today")
    IP_SEND_LIMIT = "ip_send_limit", _("Too many codes requested from this address")
    GLOBAL_LIMIT = "global_limit", _("The site's daily limit of codes is reached")
    NO_ADDRESS = "no_address", _("The request's address is unknown")
    LANDLINE_SMS = "landline_sms", _("A landline cannot receive SMS")
    NUMBER_POLICY = "number_policy", _("This kind of number cannot be used")
    SETUP_LIMIT = "setup_limit", _("WhatsApp's limit of setup attempts for this number is reached")
    METHOD_POLICY = "method_policy", _("This way of sending codes is not offered")
    SEND_BUDGET = "send_budget", _("The day's codes for this region or prefix are used up")
    PREFIX_BLOCKED = "prefix_blocked", _("Codes to this range of numbers are held back")
    FAILURE_LIMIT = "failure_limit", _("Too many calls failed")
    PAUSED = "paused", _("Calls to NXCloud are paused")


class RegistrationStatus(models.TextChoices):
    """Where a registration is: ``PhoneRegistration.Status``."""

    NEW = "new", _("New")
    CODE_SENT = "code_sent", _("Code sent")
    VERIFIED = "verified", _("Verified")
    CLIENT_CREATED = "client_created", _("Client created")
    REGISTERED = "registered", _("Registered")
    FAILED = "failed", _("Failed")
    CLOSED = "closed", _("Closed")


#: Registrations that no longer hold their number (every other status holds it: one a number).
CLOSED_STATES = (RegistrationStatus.FAILED, RegistrationStatus.CLOSED)
#: Registrations whose number has not been verified here (yet).
UNVERIFIED_STATES = (RegistrationStatus.NEW, RegistrationStatus.CODE_SENT)


class RegisterStatus(models.IntegerChoices):
    """NXCloud's ``register_status`` in phoneList: ``PhoneRegistration.RegisterStatus``."""

    CREATION_FAILED = 1, _("Local client creation failed")
    REGISTRATION_FAILED = 2, _("Local client registration failed")
    CREATING = 3, _("Creation in progress")
    CREATED = 4, _("Creation succeeded")
    REGISTERED = 5, _("Registration succeeded")


# The outcomes a send and an attempt have in common, and the one success each has of its own.
# (Django's choices enums cannot be extended once they have members, so the shared part is this
# list and each model's Outcome is built from it; a test holds the two to the same values.)
PENDING = "pending", _("Pending")
REJECTED = "rejected", _("Rejected by NXCloud")
REFUSED = "refused", _("Refused")
FAILED = "failed", _("Failed")
UNKNOWN = "unknown", _("Unknown")


class SendOutcome(models.TextChoices):
    """How a getCode ended: ``CodeRequest.Outcome``."""

    PENDING = PENDING
    SENT = "sent", _("Sent")
    REJECTED = REJECTED
    REFUSED = REFUSED
    FAILED = FAILED
    UNKNOWN = UNKNOWN


class AttemptOutcome(models.TextChoices):
    """How a checkCode ended: ``VerificationAttempt.Outcome``."""

    PENDING = PENDING
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = REJECTED
    REFUSED = REFUSED
    FAILED = FAILED
    UNKNOWN = UNKNOWN


class Failure(models.TextChoices):
    """Why a finished call did not succeed, classified once where the call ends.

    Every face (the admin, the customer pages, the commands) reads this field instead of
    guessing from the result code or the message. Blank for a success, a refusal (no call was
    made: ``refusal_reason`` says why) and a plain "no" from NXCloud (``rejected``).
    """

    CONFIGURATION = "configuration", _("Our configuration")
    UNREACHABLE = "unreachable", _("NXCloud unreachable")
    MAYBE_SENT = "maybe_sent", _("May have reached NXCloud")


class ApplicationOutcome(models.TextChoices):
    """How a customer application came to be: ``Application.Outcome``."""

    PENDING = PENDING
    CREATED = "created", _("Created at NXCloud")
    ADDED = "added", _("Added by its app key")
    DEFAULT = "default", _("The installation's default (APP_KEY)")
    REJECTED = REJECTED
    FAILED = FAILED
    UNKNOWN = UNKNOWN


#: Applications whose app key is known: registrations may belong to them, webhooks reach them.
USABLE_APPLICATIONS = (ApplicationOutcome.CREATED, ApplicationOutcome.ADDED, ApplicationOutcome.DEFAULT)


class AccountState(models.TextChoices):
    """What NXCloud's ``account_update`` callbacks last said of a number's WhatsApp account."""

    ACTIVE = "active", _("Active")
    WARNED = "warned", _("Policy violation")
    RESTRICTED = "restricted", _("Restricted")
    BAN_SCHEDULED = "ban_scheduled", _("Ban scheduled")
    BANNED = "banned", _("Banned")
    DELETED = "deleted", _("Deleted")


class DeliveryOutcome(models.TextChoices):
    """What became of one webhook delivery: ``WebhookDelivery.Outcome``."""

    APPLIED = "applied", _("Applied")
    UNMATCHED = "unmatched", _("No registration of this application has the number")
    STALE = "stale", _("Older than what is already shown")
    IGNORED = "ignored", _("Not an event onboarding applies")
    UNPARSEABLE = "unparseable", _("Could not be read")


class NameReview(models.TextChoices):
    """Where Meta's review of a number's display name is (``NumberHealth.name_review``)."""

    PENDING = "pending", _("In review")
    APPROVED = "approved", _("Approved")
    AVAILABLE = "available", _("Usable without review")
    REJECTED = "rejected", _("Rejected")
    DEFERRED = "deferred", _("Deferred")
    EXPIRED = "expired", _("Expired")


class HealthSource(models.TextChoices):
    """Where a part of a number's health was last read from."""

    WEBHOOK = "webhook", _("Webhook")
    GET_PHONE = "getphone", _("getPhone")
