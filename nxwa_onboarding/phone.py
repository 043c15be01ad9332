"""Phone numbers as people type them, and as NXCloud wants them (digits with country code)."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_INPUT_LENGTH = 40


def normalize_phone(text: str) -> str:
    """Parse what a person typed (``+86 138-0013-8000``, ``008613800138000``, ``8613800138000``)
    and return the digits NXCloud expects (``8613800138000``). Raises ``ValidationError``
    with a message that says what is wrong.
    """
    raw = (text or "").strip()
    if not raw:
        raise ValidationError(_("Enter a phone number."), code="required")
    if len(raw) > MAX_INPUT_LENGTH:
        raise ValidationError(_("That is too long to be a phone number."), code="too_long")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif not raw.startswith("+"):
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("Enter the number with its country code, for example +86 138 0013 8000."),
            code="invalid",
        ) from None
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number)
        if region and region != "ZZ":
            raise ValidationError(
                _("This is not a valid phone number for %(region)s (+%(cc)s). Check the digits.")
                % {"region": region, "cc": number.country_code},
                code="invalid",
            )
        raise ValidationError(
            _("Unknown country code. Start with + and the country code, for example +86."),
            code="invalid",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def format_phone(digits: str) -> str:
    """``8613800138000`` -> ``+86 138 0013 8000`` for people; the input unchanged if unparseable."""
    if not digits:
        return ""
    try:
        number = phonenumbers.parse("+" + digits.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def digits_only(text: str) -> str:
    """Keep ASCII digits only: how NXCloud's ``display_phone_number`` is compared with ours."""
    return "".join(ch for ch in text if "0" <= ch <= "9")
