"""Verification codes as people type them: normalising, digesting, and the one form field.

A leaf module (no models, no services): the customer form, the admin form, the commands and the
services all read a code the same way.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from .choices import RefusalReason
from .nxcloud.redact import Hidden, hide
from .texts import refusal_text

if TYPE_CHECKING:
    from .models import PhoneRegistration

CODE_PATTERN = re.compile(r"[0-9]{4,8}", re.ASCII)
#: Spaces and dashes between the digits, as typed or pasted: ASCII, full-width (U+FF0D), the
#: Unicode hyphens and dashes (U+2010..U+2015) and the minus sign (U+2212); ``\s`` covers the
#: ideographic space (U+3000).
CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")
MAX_CODE_INPUT = 32


def ascii_digits(text: str) -> str:
    """Every Unicode decimal digit (full-width U+FF11, Arabic-Indic U+0661, Devanagari U+0967,
    ...) as its ASCII digit; anything else as it is (superscript two and circled one are not
    decimal digits and stay, so a code made of them is malformed). The same rule as
    ``phone.ascii_digits``."""
    return "".join(str(d) if (d := unicodedata.decimal(ch, None)) is not None else ch for ch in text)


def normalize_code(text: object) -> Hidden | None:
    """Digits of a code as a person types it (``123-830``, ``123 830``, in full-width or
    Arabic-Indic digits), as ASCII digits; None if malformed.

    ``Hidden``: a ``str`` whose ``repr`` (what an error report shows of a frame's locals) is a
    placeholder, wherever the code travels from here (forms' ``cleaned_data``, the services, the
    client)."""
    if not isinstance(text, str) or len(text) > MAX_CODE_INPUT:
        return None
    cleaned = ascii_digits(CODE_SEPARATORS.sub("", text.strip()))
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
