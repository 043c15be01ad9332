"""Forms of the staff admin: add a registration by typing a number, enter a verification code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..codes import CodeField
from ..models import PhoneRegistration
from ..phone import MAX_INPUT_LENGTH, normalize_phone
from ..services import policy

if TYPE_CHECKING:
    RegistrationModelForm = forms.ModelForm[PhoneRegistration]
else:  # ModelForm is not subscriptable at run time
    RegistrationModelForm = forms.ModelForm


def open_registration_exists(digits: str) -> bool:
    """Whether ``digits`` already has a registration that is not ``failed`` (one open per number)."""
    return PhoneRegistration.objects.open_for(digits).exists()


class AddRegistrationForm(RegistrationModelForm):
    """Staff type the number the way the merchant says it; it is stored as digits.

    The admin saves through ``services.create_registration``; this form only checks early so
    that a bad or duplicate number is a form error rather than a surprise after submitting.
    """

    phone_number = forms.CharField(
        label=_("Phone number"),
        max_length=MAX_INPUT_LENGTH,
        help_text=_(
            "With the country code, typed any way: +86 138 0013 8000, 0086-138-0013-8000 or 8613800138000."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel", "autofocus": True}),
    )

    class Meta:
        model = PhoneRegistration
        fields = ("phone_number", "owner")

    def clean(self) -> dict[str, Any]:
        """The number, read with the policy of the application the owner's registration will
        belong to (its ALLOWED_REGIONS and DEFAULT_REGION, else the settings'), and not taken."""
        cleaned = super().clean() or {}
        if "phone_number" not in cleaned:
            return cleaned
        rules = policy.for_owner(cleaned.get("owner"))
        try:
            digits = normalize_phone(
                cleaned["phone_number"],
                region=rules.get("DEFAULT_REGION"),
                allowed=rules.get("ALLOWED_REGIONS"),
            )
            if open_registration_exists(digits):
                raise ValidationError(_("This number is already being onboarded."), code="duplicate")
        except ValidationError as err:
            self.add_error("phone_number", err)
            return cleaned
        cleaned["phone_number"] = digits
        return cleaned

    def validate_unique(self) -> None:
        # The one-open-registration-per-number rule is checked above and, race-proof, by
        # services.create_registration when the admin saves.
        return None


class CheckCodeForm(forms.Form):
    code = CodeField(
        help_text=_("The digits the merchant received, for example 123456 or 123-456."),
        attrs={"autofocus": True},
    )
