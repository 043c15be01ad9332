"""Customer applications: create one at NXCloud (createApp), add one made elsewhere by its app
key, pick the one a new registration belongs to, list an application's numbers.

createApp is recorded like every other call: the ``Application`` row is committed ``pending``
(with the webhook token its URL needs) before the call, and finished after it with what NXCloud
answered. Its ``app_key`` is only ever returned by that answer, so it is stored in that step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..choices import ApplicationOutcome, Failure
from ..conf import conf
from ..models import Application, PhoneRegistration
from ..nxcloud.exceptions import NXCloudError, OnboardingError
from ..phone import digits_only
from ..texts import application_outcome_text
from . import calls
from .calls import UserLike, clean_code, clean_text, real_user

logger = logging.getLogger("nxwa_onboarding.services")
Outcome = ApplicationOutcome

#: NXCloud's answers about an app key given to phoneList, in plain words.
APP_KEY_REFUSALS = {
    9008: gettext_lazy("NXCloud has no application with this app key."),
    9010: gettext_lazy("This app key belongs to another NXCloud customer."),
}


def application_for_owner(owner: UserLike) -> Application:
    """The default ``APPLICATION_FOR_OWNER``: the owner's only usable application, else the
    installation's default application. Replace it (a dotted path in the setting) to choose
    otherwise, e.g. by the owner's company; it must return a usable ``Application``."""
    user = real_user(owner)
    if user is not None:
        theirs = list(Application.objects.usable().filter(owner=user)[:2])
        if len(theirs) == 1:
            return theirs[0]
    return Application.objects.default()


def assign_application(owner: UserLike) -> Application:
    """The application a new registration of ``owner`` belongs to (``APPLICATION_FOR_OWNER``)."""
    chooser: Callable[[UserLike], Any] = import_string(conf.APPLICATION_FOR_OWNER)
    application = chooser(owner)
    if not isinstance(application, Application) or not application.is_usable:
        raise ImproperlyConfigured(
            f"NXWA_ONBOARDING['APPLICATION_FOR_OWNER'] returned {application!r}, not a usable Application."
        )
    return application


def resolve_application(application: Application | str | None) -> Application:
    """An application, from itself, from an app key (the application that has it, else the
    default application read with that key), or None (the default application)."""
    if isinstance(application, Application):
        return application
    if application:
        found = Application.objects.filter(app_key=application).first()
        if found is not None:
            return found
        default = Application.objects.default()
        default.app_key = application  # read with this key, not saved
        return default
    return Application.objects.default()


def _check_name(name: str) -> str:
    name = clean_text(name, 1000).strip()
    if not name:
        raise ValidationError(_("Give the application a name."), code="name")
    if len(name) > 100:
        raise ValidationError(_("An application's name has at most 100 characters."), code="name")
    return name


def create_application(name: str, *, owner: UserLike = None, user: UserLike = None) -> Application:
    """Create a customer application at NXCloud for ``owner`` (optional) and store it.

    Raises ``ValidationError`` (plain words, nothing called) for an empty name or when
    ``WEBHOOK_BASE_URL`` is not set. Otherwise returns the row, finished: ``created`` (with
    ``app_id`` and ``app_key``), ``rejected`` (NXCloud said no; 9009: the 1,000 applications are
    used up), ``failed`` (never reached NXCloud, or our configuration) or ``unknown`` (may have
    been created: add it by its app key if NXCloud shows it). ``outcome_text`` says which.
    """
    name = _check_name(name)
    if not conf.WEBHOOK_BASE_URL:
        raise ValidationError(
            _(
                "Set NXWA_ONBOARDING['WEBHOOK_BASE_URL'] to this site's address as NXCloud reaches "
                "it: createApp needs the application's webhook URL."
            ),
            code="webhook_base_url",
        )
    row = Application(name=name, owner=real_user(owner), created_by=real_user(user))
    if not row.webhook_path:
        raise ValidationError(
            _(
                "Mount nxwa_onboarding.webhooks.urls in the project's URLs: "
                "the application needs a webhook URL."
            ),
            code="webhook_urls",
        )
    calls.warn_if_in_transaction("default")
    row.save()  # committed pending before the call: a crash leaves the evidence
    result, data = calls.perform(lambda client: client.create_app(name, row.webhook_url), Outcome.CREATED)
    fields: dict[str, Any] = {
        "outcome": result.outcome,
        "failure": result.failure,
        "result_code": clean_code(result.result_code),
        "result_message": clean_text(result.result_message, 500),
        "finished_at": timezone.now(),
    }
    if result.outcome == Outcome.CREATED:
        answer = data if isinstance(data, dict) else {}
        app_key = clean_text(answer.get("app_key") or "", 128)
        if app_key and app_key == conf.APP_KEY:
            # The default application's key: stored here, it would shadow that application.
            fields.update(
                outcome=Outcome.UNKNOWN,
                failure=Failure.MAYBE_SENT,
                result_message="app_key belongs to another application (APP_KEY)",
            )
            logger.error("createApp for application %s answered with APP_KEY: not stored", row.pk)
        elif app_key:
            fields["app_key"] = app_key
            fields["app_id"] = clean_text(answer.get("app_id") or "", 64)
        else:  # success without a key: nothing we can use, and NXCloud will not give it again
            fields.update(outcome=Outcome.UNKNOWN, failure=Failure.MAYBE_SENT, result_message="no app_key")
    try:
        Application.objects.filter(pk=row.pk, outcome=Outcome.PENDING).update(**fields)
    except IntegrityError:  # the app key is already here (added by hand meanwhile)
        fields.update(outcome=Outcome.UNKNOWN, app_key="", result_message="app_key already stored")
        Application.objects.filter(pk=row.pk, outcome=Outcome.PENDING).update(**fields)
    for key, value in fields.items():
        setattr(row, key, value)
    logger.info("createApp for application %s: %s", row.pk, row.outcome)
    calls.reraise_unexpected(result)
    return row


def outcome_text(application: Application) -> str:
    """What became of the application's createApp, in plain words."""
    return application_outcome_text(
        application.outcome,
        failure=application.failure,
        result_code=application.result_code,
        result_message=application.result_message,
    )


def add_application(
    app_key: str,
    *,
    name: str,
    app_id: str = "",
    owner: UserLike = None,
    user: UserLike = None,
    signs_callbacks: bool = False,
    check: bool = True,
) -> Application:
    """Store an application made outside this app (NXCloud has no call that lists them).

    With ``check`` the key is tried with phoneList first: 9008 (no such application) and 9010
    (another customer's) are refused in plain words, as is a key already stored.
    Raises ``ValidationError``; NXCloud unreachable or our configuration raise the client's errors.
    """
    name = _check_name(name)
    app_key = clean_text(app_key, 200).strip()
    if not app_key or len(app_key) > 128 or any(ch.isspace() for ch in app_key):
        raise ValidationError(_("Enter the application's app key as NXCloud gave it."), code="app_key")
    if app_key == conf.APP_KEY or Application.objects.filter(app_key=app_key).exists():
        raise ValidationError(_("An application with this app key is already here."), code="duplicate")
    if check:
        try:
            calls.get_client().phone_list(app_key)
        except NXCloudError as err:
            if err.code in APP_KEY_REFUSALS:
                raise ValidationError(str(APP_KEY_REFUSALS[err.code]), code="app_key") from None
            raise
    try:
        with transaction.atomic():
            return Application.objects.create(
                name=name,
                app_key=app_key,
                app_id=clean_text(app_id, 64).strip(),
                owner=real_user(owner),
                created_by=real_user(user),
                signs_callbacks=signs_callbacks,
                outcome=Outcome.ADDED,
                finished_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationError(
            _("An application with this app key is already here."), code="duplicate"
        ) from None


@dataclass(frozen=True)
class ListedNumber:
    """One number of an application as phoneList shows it, and its registration here if any."""

    digits: str
    item: dict[str, Any]
    registration: PhoneRegistration | None

    def value(self, key: str) -> str:
        return clean_text(self.item.get(key, ""), 255)


def application_numbers(application: Application) -> list[ListedNumber]:
    """Read phoneList once for ``application``: every number it lists (also those with no
    registration here), each with the open registration of this application that has it.
    Raises the client's errors (``OnboardingError``)."""
    if not application.effective_app_key:
        raise OnboardingError("this application has no app key")
    numbers = calls.get_client().phone_list(application.effective_app_key)
    listed = [
        (digits_only(str(item.get("display_phone_number", ""))), item)
        for item in numbers
        if isinstance(item, dict)
    ]
    mine = {
        r.phone_number: r
        for r in PhoneRegistration.objects.open().filter(
            application=application, phone_number__in=[digits for digits, _item in listed]
        )
    }
    return [ListedNumber(digits, item, mine.get(digits)) for digits, item in listed if digits]
