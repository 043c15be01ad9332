"""The registration list's actions: send a code (SMS, voice), create the client, refresh.

Each asks first where it acts at NXCloud (Django's delete-confirmation pattern), acts through
the services, and reports one message per outcome group, not one per row. ``send_code`` guards
the sends and "create the WhatsApp client" (it acts on NXCloud on the merchant's behalf and
cannot be undone); "refresh status from NXCloud" only reads NXCloud and updates our copy, so the
ordinary change permission guards it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..addresses import client_ip
from ..choices import Failure
from ..models import Channel, CodeRequest, Method, PhoneRegistration
from ..nxcloud.exceptions import InvalidStateError, SetupLimitError
from .outcomes import CALL_ERRORS, Outcomes, failed_messages
from .presenters import LISTED_NUMBERS, METHOD_WORDS, _numbers, configuration_message, failed_text, result_of

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    RegistrationAdminBase = object

Status = PhoneRegistration.Status
Send = CodeRequest.Outcome


class RegistrationActionsMixin(RegistrationAdminBase):
    """The actions of ``PhoneRegistrationAdmin`` and the confirmation page they share."""

    def has_send_code_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.send_code")

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[PhoneRegistration],
        *,
        action: str,
        title: str,
        question: str,
        button: str,
        note: Callable[[PhoneRegistration], str],
        acts: Callable[[PhoneRegistration], bool] | None = None,
        nothing: str = "",
    ) -> TemplateResponse | None:
        """Django's delete-confirmation pattern: None once confirmed, else the confirmation page.

        ``acts``: whether the action would do anything for a row; when it would for none, the page
        says ``nothing`` and offers only "Back" (no button that can only be refused)."""
        if request.POST.get("post") == "yes":
            return None
        rows = [(registration, note(registration)) for registration in queryset]
        idle = acts is not None and not any(acts(registration) for registration in queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "question": nothing if idle else question,
            "button": "" if idle else button,
            "rows": rows,
            "queryset": queryset,
            "action": action,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/nxwa_onboarding/phoneregistration/action_confirmation.html", context
        )

    def _report(self, request: HttpRequest, outcomes: Outcomes, **words: str) -> None:
        for level, text in outcomes.as_messages(**words):
            self.message_user(request, text, level)

    # -- send a code -----------------------------------------------------------------------------

    def _send_refusal(self, registration: PhoneRegistration) -> services.Refusal | None:
        return services.get_state(registration, channel=Channel.ADMIN).send.refusal

    def _would_send(self, registration: PhoneRegistration) -> bool:
        return registration.status != Status.FAILED and self._send_refusal(registration) is None

    def _send_note(self, registration: PhoneRegistration) -> str:
        if registration.status == Status.FAILED:
            return failed_text(registration)
        refusal = self._send_refusal(registration)
        if refusal is None:
            return gettext("will be sent")
        return gettext("will be refused: %(why)s") % {"why": refusal.message}

    def _send(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration], method: str) -> Any:
        label = str(METHOD_WORDS[Method(method)])
        confirmation = self._confirm(
            request,
            queryset,
            action=f"send_code_{method}",
            title=gettext("Send a code by %(method)s") % {"method": label},
            question=gettext(
                "NXCloud charges for every code it sends, and WhatsApp limits how many a number may "
                "receive. Send a verification code by %(method)s to these numbers?"
            )
            % {"method": label},
            button=gettext("Yes, send the codes"),
            note=self._send_note,
            acts=self._would_send,
            nothing=gettext(
                "No code would be sent: every number below would be refused, for the reason given."
            ),
        )
        if confirmation is not None:
            return confirmation
        outcomes = Outcomes()
        registrations = list(queryset.order_by("phone_number"))
        for index, registration in enumerate(registrations):
            code_request = services.request_code(
                registration, method, user=request.user, ip=client_ip(request), channel=Channel.ADMIN
            )
            if code_request.outcome == Send.SENT:
                outcomes.done.append(registration)
            elif code_request.outcome == Send.REFUSED and registration.status == Status.FAILED:
                outcomes.failed.append(registration)  # refused as closed: say what happened to it
            elif code_request.outcome == Send.REFUSED:
                outcomes.refused[code_request.refusal_reason].append((registration, code_request.retry_after))
            elif outcomes.fail(registration, code_request.failure, code_request):
                outcomes.not_tried = registrations[index + 1 :]
                break
        done = ngettext(
            "Code sent by %(method)s to %(count)d number: %(numbers)s.",
            "Code sent by %(method)s to %(count)d numbers: %(numbers)s.",
            len(outcomes.done),
        )
        unknown = ngettext(
            "NXCloud's answer did not arrive for %(count)d number (%(numbers)s): the code may have been "
            "sent. Wait for it before sending another.",
            "NXCloud's answer did not arrive for %(count)d numbers (%(numbers)s): the codes may have been "
            "sent. Wait for them before sending others.",
            len(outcomes.unknown),
        )
        self._report(request, outcomes, done=done, method=label, unknown=unknown)
        return None

    @admin.action(description=_("Send a code by SMS"), permissions=["send_code"])
    def send_code_sms(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        return self._send(request, queryset, Method.SMS)

    @admin.action(description=_("Send a code by voice call"), permissions=["send_code"])
    def send_code_voice(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        return self._send(request, queryset, Method.VOICE)

    # -- create the WhatsApp client ----------------------------------------------------------------

    def _client_note(self, registration: PhoneRegistration) -> str:
        if registration.status == Status.FAILED:
            return failed_text(registration)
        if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
            return gettext("already has its client: nothing to do")
        if registration.status != Status.VERIFIED:
            return gettext("not verified yet: will be skipped")
        if registration.client_requested_at is not None:
            if registration.client_requested_at >= timezone.now() - services.stale_after():
                return gettext("being created right now: will be skipped")
            return gettext(
                "an earlier request got no answer, so it may have been created: it will be requested again"
            )
        return gettext("will be created")

    @admin.action(description=_("Create the WhatsApp client"), permissions=["send_code"])
    def create_whatsapp_client(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        confirmation = self._confirm(
            request,
            queryset,
            action="create_whatsapp_client",
            title=gettext("Create the WhatsApp client"),
            question=gettext(
                "NXCloud will create and register the WhatsApp client of each verified number. "
                "This cannot be undone from here. Go ahead?"
            ),
            button=gettext("Yes, create the clients"),
            note=self._client_note,
        )
        if confirmation is not None:
            return confirmation
        outcomes = Outcomes()
        registrations = list(queryset.order_by("phone_number"))
        for index, registration in enumerate(registrations):
            before = registration.status
            try:
                services.create_client(registration, user=request.user, resend_unknown=True)
            except SetupLimitError as err:
                # Meta's registration budget: nothing was sent; say until when, number by number.
                self.message_user(request, f"{registration.formatted_phone}: {err}", messages.WARNING)
                continue
            except InvalidStateError:
                failed = registration.status == Status.FAILED
                (outcomes.failed if failed else outcomes.skipped).append(registration)
                continue
            except CALL_ERRORS as err:
                if outcomes.fail(registration, services.failure_of(err), err):
                    outcomes.not_tried = registrations[index + 1 :]
                    break
                continue
            if before in (Status.CLIENT_CREATED, Status.REGISTERED):
                outcomes.already.append(registration)
            else:
                outcomes.done.append(registration)
        done = ngettext(
            "WhatsApp client created for %(count)d number: %(numbers)s.",
            "WhatsApp clients created for %(count)d numbers: %(numbers)s.",
            len(outcomes.done),
        )
        unknown = ngettext(
            "NXCloud's answer did not arrive for %(count)d number (%(numbers)s): its client may have been "
            "created. Refresh the status from NXCloud before trying again.",
            "NXCloud's answer did not arrive for %(count)d numbers (%(numbers)s): their clients may have "
            "been created. Refresh the status from NXCloud before trying again.",
            len(outcomes.unknown),
        )
        self._report(request, outcomes, done=done, unknown=unknown)
        return None

    # -- refresh from NXCloud --------------------------------------------------------------------

    @admin.action(description=_("Refresh status from NXCloud"), permissions=["change"])
    def refresh_from_nxcloud(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> None:
        # One phoneList read per application of the selected rows (each registration is listed
        # under its own application's app key) updates every open registration of it NXCloud
        # lists: cheaper than a read per row, changes nothing at NXCloud, so no confirmation step.
        rows = list(queryset.select_related("application"))
        selected = {r.pk: r.status for r in rows}
        applications = {r.application_id: r.application for r in rows}
        started = timezone.now()
        try:
            for application in applications.values():
                services.sync_statuses(application)
        except CALL_ERRORS as err:
            failure = services.failure_of(err)
            if failure == Failure.CONFIGURATION:
                text = configuration_message(err)
            elif failure:  # unreachable or no usable answer: a read, so nothing was refreshed either way
                text = gettext("NXCloud could not be reached: nothing was refreshed.")
            else:
                code, message = result_of(err)
                text = gettext("NXCloud refused to list the numbers (result %(code)s: %(message)s).") % {
                    "code": code,
                    "message": message,
                }
            self.message_user(request, text, messages.ERROR)
            return
        fresh = list(PhoneRegistration.objects.filter(pk__in=selected).order_by("phone_number"))
        listed = [r for r in fresh if r.last_synced_at is not None and r.last_synced_at >= started]
        unlisted = [r for r in fresh if r not in listed]
        changed = [r for r in listed if r.status != selected[r.pk]]
        text = ngettext(
            "Refreshed from NXCloud: %(listed)d of the %(count)d selected number is listed.",
            "Refreshed from NXCloud: %(listed)d of the %(count)d selected numbers are listed.",
            len(fresh),
        ) % {"listed": len(listed), "count": len(fresh)}
        if changed:
            text += " " + gettext("Status changed for %(numbers)s.") % {
                "numbers": ", ".join(
                    f"{r.formatted_phone} ({Status(selected[r.pk]).label} → {r.get_status_display()})"
                    for r in changed[:LISTED_NUMBERS]
                )
            }
        self.message_user(request, text, messages.SUCCESS)
        for level, said in failed_messages([r for r in fresh if r.status == Status.FAILED]):
            self.message_user(request, said, level)
        if unlisted:
            self.message_user(
                request,
                gettext("NXCloud does not list %(numbers)s (not created there yet, or closed).")
                % {"numbers": _numbers(unlisted)},
                messages.WARNING,
            )
