"""Verification codes as people type them: normalising, digesting, and the one form field.

A leaf module (no models, no services): the customer form, the admin form, the commands and the
services all read a code the same way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from .choices import RefusalReason
from .redact import Hidden, hide
from .texts import refusal_text

if TYPE_CHECKING:
    from .models import PhoneRegistration

CODE_PATTERN = re.compile(r"[0-9]{4,8}", re.ASCII)
CODE_SEPARATORS = re.compile(r"[\s\-]+")
MAX_CODE_INPUT = 32


def normalize_code(text: object) -> Hidden | None:
    """Digits of a code as a person types it (``123-830``, ``123 830``); None if malformed.

    ``Hidden``: a ``str`` whose ``repr`` (what an error report shows of a frame's locals) is a
    placeholder, wherever the code travels from here (forms' ``cleaned_data``, the services, the
    client)."""
    if not isinstance(text, str) or len(text) > MAX_CODE_INPUT:
        return None
    cleaned = CODE_SEPARATORS.sub("", text.strip())
    return Hidden(cleaned) if CODE_PATTERN.fullmatch(cleaned) else None


def code_digest(registration: PhoneRegistration, code: str) -> str:
    """HMAC-SHA256 of the code, keyed from SECRET_KEY and bound to this registration."""
    return salted_hmac(
        "nxwa_onboarding.VerificationAttempt.code",
        f"{registration.public_id}:{code}",
        algorithm="sha256",
    ).hexdigest()


class CodeInput(forms.TextInput):
    """A text input that never writes a submitted code back into the page."""

    def format_value(self, value: Any) -> str | None:
        return None


class CodeField(forms.CharField):
    """A verification code: cleaned to its digits, or refused with the words the services use."""

    default_error_messages = {"required": _("Enter the code you received.")}

    def __init__(self, *, attrs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        widget_attrs = {
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": MAX_CODE_INPUT,
            "spellcheck": "false",
            "autocapitalize": "off",
            **(attrs or {}),
        }
        kwargs.setdefault("label", _("Verification code"))
        super().__init__(strip=True, widget=CodeInput(attrs=widget_attrs), **kwargs)

    def clean(self, value: Any) -> str:
        text = hide(super().clean(value))
        digits = normalize_code(text)
        if digits is None:
            raise forms.ValidationError(refusal_text(RefusalReason.MALFORMED), code="malformed")
        return digits
