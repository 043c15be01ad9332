"""The fraud guard in the admin: prefixes blocked (or reported) with their figures, lifting one
with a reason, the allow-list, and the banner that tells staff what the guard did today."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import AllowedPrefix, BlockedPrefix, GuardNotice
from ..services import fraud

if TYPE_CHECKING:
    BlockedAdminBase = admin.ModelAdmin[BlockedPrefix]
    AllowedAdminBase = admin.ModelAdmin[AllowedPrefix]
    BlockedForm = forms.ModelForm[BlockedPrefix]
    AllowedForm = forms.ModelForm[AllowedPrefix]
else:
    BlockedAdminBase = AllowedAdminBase = admin.ModelAdmin
    BlockedForm = AllowedForm = forms.ModelForm


def notice_text(notice: GuardNotice) -> str:
    """What the banner says of one thing the guard did today (for staff)."""
    if notice.kind == fraud.BUDGET:
        shown = notice.key if notice.key.isalpha() else f"+{notice.key}"
        return _(
            "SEND_BUDGETS: today's codes for %(key)s are used up, so sends there are refused. "
            "Raise its budget if these are real merchants."
        ) % {"key": shown}
    return _(
        "AUTO_BLOCK: numbers under +%(key)s had many codes and almost none were used. See the "
        "blocked prefixes; lift it with a reason if they are real merchants."
    ) % {"key": notice.key}


def tell_staff(request: HttpRequest) -> None:
    """The banner: what the guard refused or reported today (each told once a day)."""
    for notice in fraud.notices_today():
        messages.warning(request, notice_text(notice))


class GuardBannerMixin:
    """On a changelist (the registrations'): the banner of what the guard did today."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "GET":
            tell_staff(request)
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


class LiftForm(BlockedForm):
    lift_reason = forms.CharField(
        label=gettext_lazy("Why lift it"),
        max_length=255,
        required=True,
        help_text=gettext_lazy("Recorded with your name. Sends to this prefix go again at once."),
    )

    class Meta:
        model = BlockedPrefix
        fields = ("lift_reason",)


@admin.display(description=gettext_lazy("verified"))
def conversion(obj: BlockedPrefix) -> str:
    return f"{obj.verified} / {obj.numbers} ({obj.conversion:.0%})"


class BlockedPrefixAdmin(BlockedAdminBase):
    """Listed with the figures AUTO_BLOCK saw; a standing one is lifted by giving a reason."""

    list_display = (
        "__str__",
        "mode",
        "sends",
        conversion,
        "window_hours",
        "blocked_at",
        "lifted_at",
        "lifted_by",
    )
    list_filter = ("mode", ("lifted_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix",)
    form = LiftForm
    readonly = ("prefix", "mode", "sends", "numbers", "verified", "window_hours", "blocked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: BlockedPrefix | None = None) -> Any:
        if obj is not None and obj.lifted_at is not None:
            return (*self.readonly, "lifted_at", "lifted_by", "lift_reason")
        return self.readonly

    def get_fields(self, request: HttpRequest, obj: BlockedPrefix | None = None) -> Any:
        if obj is not None and obj.lifted_at is not None:
            return (*self.readonly, "lifted_at", "lifted_by", "lift_reason")
        return (*self.readonly, "lift_reason")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BlockedPrefix, form: Any, change: bool) -> None:
        """Lifting goes through the service (who, when, why); nothing else is saved here."""
        reason = form.cleaned_data.get("lift_reason", "")
        obj.refresh_from_db()
        try:
            if fraud.lift_block(obj, user=request.user, reason=reason):
                messages.success(request, _("+%(prefix)s is lifted.") % {"prefix": obj.prefix})
        except ValidationError as err:
            messages.error(request, " ".join(err.messages))


class AllowedPrefixForm(AllowedForm):
    class Meta:
        model = AllowedPrefix
        fields = ("prefix", "note")

    def clean_prefix(self) -> str:
        value = "".join(self.cleaned_data.get("prefix", "").split()).lstrip("+")
        if not value.isdigit() or not 2 <= len(value) <= 15:
            raise ValidationError(
                _("Enter a number or prefix with its country code, for example +447911."), code="prefix"
            )
        return value


class AllowedPrefixAdmin(AllowedAdminBase):
    list_display = ("__str__", "note", "added_by", "added_at")
    search_fields = ("prefix", "note")
    form = AllowedPrefixForm

    def save_model(self, request: HttpRequest, obj: AllowedPrefix, form: Any, change: bool) -> None:
        if not change:
            obj.added_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
