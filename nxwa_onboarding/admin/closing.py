"""Closing registrations: a person decides that one stops holding its number, and says why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..choices import CLOSED_STATES, RegistrationStatus
from ..models import PhoneRegistration
from .outcomes import failed_messages
from .presenters import _numbers as numbers_text
from .presenters import failed_text

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    RegistrationAdminBase = object


class CloseForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are they closed?"),
        max_length=255,
        help_text=_("Recorded on each registration with your name, for whoever looks at it next."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CloseActionMixin(RegistrationAdminBase):
    """The "close" action (``close_registration`` permission), with a confirmation page that
    asks why; each closing is recorded with who, when and why."""

    @staticmethod
    def _close_note(registration: PhoneRegistration) -> str:
        if registration.status == RegistrationStatus.FAILED:
            return failed_text(registration)
        if registration.status in CLOSED_STATES:
            return gettext("already closed: will be skipped")
        return gettext("will be closed: the number becomes free to register again")

    def has_close_registration_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.close_registration")

    @admin.action(description=_("Close the registration"), permissions=["close_registration"])
    def close_registrations(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        form = CloseForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            rows = [(registration, self._close_note(registration)) for registration in queryset]
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Close registrations"),
                "question": gettext(
                    "Closed registrations stop holding their numbers, and no code can be sent or "
                    "checked for them any more. Their records stay. Close these?"
                ),
                "button": gettext("Yes, close them"),
                "rows": rows,
                "form": form,
                "queryset": queryset,
                "action": "close_registrations",
                "opts": self.opts,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request, "admin/nxwa_onboarding/phoneregistration/action_confirmation.html", context
            )
        reason = form.cleaned_data["reason"]
        selected = list(queryset)
        closed = [r for r in selected if services.close_registration(r, user=request.user, reason=reason)]
        failed = [r for r in selected if r not in closed and r.status == RegistrationStatus.FAILED]
        if closed:
            self.message_user(
                request,
                ngettext(
                    "Closed %(count)d registration: %(numbers)s.",
                    "Closed %(count)d registrations: %(numbers)s.",
                    len(closed),
                )
                % {"count": len(closed), "numbers": numbers_text(closed)},
                messages.SUCCESS,
            )
        skipped = len(selected) - len(closed) - len(failed)
        for level, text in failed_messages(failed):
            self.message_user(request, text, level)
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d registration was closed already.",
                    "%(count)d registrations were closed already.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
        return None
