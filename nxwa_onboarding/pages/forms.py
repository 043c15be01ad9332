"""Forms of the customer pages. They validate only; every state change goes through ``services``.

Validation here is what keeps bad input away from NXCloud: a form that is not valid never
reaches a service, so it never costs a call (or a try).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..choices import Method
from ..codes import CodeField
from ..phone import MAX_INPUT_LENGTH, allowed_methods, normalize_phone, sms_refusal_text


def method_field() -> forms.ChoiceField:
    """SMS or a voice call: the same choice on the start page and for a new code."""
    return forms.ChoiceField(
        label=_("Send the code by"),
        choices=Method.choices,
        initial=Method.SMS,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose SMS or a voice call."),
            "invalid_choice": _("Choose SMS or a voice call."),
        },
    )


class _Form(forms.Form):
    """Labels without a trailing colon: the templates lay labels out above their inputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class StartForm(_Form):
    """A phone number with its country code, typed any way a person would, and how to get the code."""

    phone_number = forms.CharField(
        label=_("WhatsApp business phone number"),
        help_text=_("With the country code, for example +86 138 0013 8000."),
        strip=True,
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "inputmode": "tel",
                "autocomplete": "tel",
                "maxlength": MAX_INPUT_LENGTH,
                "placeholder": "+86 138 0013 8000",
                "spellcheck": "false",
            }
        ),
        error_messages={"required": _("Enter a phone number.")},
    )
    method = method_field()

    def __init__(self, *args: Any, rules: Any = None, **kwargs: Any) -> None:
        """``rules``: the customer's application's ``services.policy.Policy`` (its regions)."""
        super().__init__(*args, **kwargs)
        self.rules = rules

    def clean_phone_number(self) -> str:
        """The digits NXCloud expects (``8613800138000``); the error says what is wrong."""
        if self.rules is None:
            return normalize_phone(self.cleaned_data["phone_number"])
        return normalize_phone(
            self.cleaned_data["phone_number"],
            region=self.rules.get("DEFAULT_REGION"),
            allowed=self.rules.get("ALLOWED_REGIONS"),
        )

    def clean(self) -> dict[str, Any]:
        """A landline gets its code by voice call: SMS is refused on the method, with the reason."""
        cleaned = super().clean() or {}
        digits, method = cleaned.get("phone_number"), cleaned.get("method")
        if digits and method == Method.SMS and Method.SMS not in allowed_methods(digits):
            self.add_error("method", sms_refusal_text())
        return cleaned


class CodeForm(_Form):
    """The verification code as received: ``123456``, ``123 456`` or ``123-456``."""

    code = CodeField(attrs={"placeholder": "123 456", "class": "nxwa-code-input"})


class SendCodeForm(_Form):
    """Ask for a new code, by SMS or a voice call."""

    method = method_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Radio ids must not clash with the code form's on the same page.
        self.auto_id = "id_send_%s"
