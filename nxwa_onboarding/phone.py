"""Phone numbers as people type them, and as NXCloud wants them (digits with country code).

The number policy (phonenumbers metadata): only numbers a person can be reached on and verify.
Premium-rate, shared-cost, personal, pager, UAN, voicemail and unknown kinds are refused, and so
are non-geographic numbers (satellite +881, Inmarsat +870, ...) unless ``ALLOWED_REGIONS`` lists
``"001"``. Letters and extensions are refused, never turned into digits or dropped; Unicode
decimal digits (full-width, Arabic-Indic, ...) are the digits they stand for. A fixed line gets a code by
voice call only (``allowed_methods``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumber, PhoneNumberType

from .choices import Method
from .conf import conf

MAX_INPUT_LENGTH = 40

#: phonenumbers' "region" for numbers that belong to no country (+800, +870, +881, +882, ...).
NON_GEOGRAPHIC = "001"

#: An extension as people write it: ``ext 12``, ``ext.12``, ``extension 12``, ``x12``, ``;ext=12``.
#: Looked for before letters, so the message names the extension rather than the letters.
_EXTENSION = re.compile(r"(;\s*ext\s*=|(?<![^\W\d_])(?:ext(?:ension|n)?|x)\.?\s*:?\s*\d)", re.IGNORECASE)

#: What a code can reach: SMS needs a phone that receives texts, a voice call any phone.
_SMS_AND_VOICE: tuple[str, ...] = (Method.SMS.value, Method.VOICE.value)
_VOICE_ONLY: tuple[str, ...] = (Method.VOICE.value,)
_METHODS: dict[int, tuple[str, ...]] = {
    PhoneNumberType.MOBILE: _SMS_AND_VOICE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: _SMS_AND_VOICE,
    PhoneNumberType.VOIP: _SMS_AND_VOICE,
    PhoneNumberType.FIXED_LINE: _VOICE_ONLY,
    PhoneNumberType.TOLL_FREE: _VOICE_ONLY,
}


def _refused_type_message(number_type: int) -> tuple[str, str] | None:
    """(message, code) for a kind of number that is refused; ``None`` for one that is accepted."""
    if number_type == PhoneNumberType.PREMIUM_RATE:
        return _(
            "This is a premium-rate number, which cannot be used here. Enter a mobile or landline number."
        ), "premium_rate"
    if number_type == PhoneNumberType.SHARED_COST:
        return _(
            "This is a shared-cost number, which cannot be used here. Enter a mobile or landline number."
        ), "shared_cost"
    if number_type == PhoneNumberType.PERSONAL_NUMBER:
        return _(
            "This is a personal (forwarding) number, which cannot be used here. "
            "Enter the mobile or landline number it forwards to."
        ), "personal_number"
    if number_type == PhoneNumberType.PAGER:
        return _(
            "This is a pager number, which cannot be used here. Enter a mobile or landline number."
        ), "pager"
    if number_type == PhoneNumberType.UAN:
        return _(
            "This is a universal access number (one number for a whole company), which cannot be "
            "used here. Enter a mobile or landline number."
        ), "uan"
    if number_type == PhoneNumberType.VOICEMAIL:
        return _(
            "This is a voicemail access number, which cannot be used here. Enter a mobile or landline number."
        ), "voicemail"
    if number_type == PhoneNumberType.UNKNOWN:
        return _(
            "We cannot tell what kind of number this is, so it cannot be used here. "
            "Enter a mobile or landline number."
        ), "unknown_type"
    return None


def ascii_digits(text: str) -> str:
    """Every Unicode decimal digit (full-width U+FF11, Arabic-Indic U+0661, ...) as its ASCII
    digit; everything else as it is. Digits in other senses (superscript two, circled one) stay."""
    return "".join(str(d) if (d := unicodedata.decimal(ch, None)) is not None else ch for ch in text)


def _decimal_digits(text: str) -> str:
    return "".join(str(d) for ch in text if (d := unicodedata.decimal(ch, None)) is not None)


def _invalid() -> ValidationError:
    return ValidationError(
        _("Enter the number with its country code, for example +86 138 0013 8000."),
        code="invalid",
    )


def _parse(raw: str, region: str | None) -> tuple[PhoneNumber, bool]:
    """The number, and whether it was read in ``region``'s national format (no + or 00 typed).

    Without a region, digits without + are read as if they started with + (``8613800138000``);
    with one, they are read as a national number of the region first (``138 0013 8000``), and as
    international only when that is not a valid number there.
    """
    international = raw.startswith(("+", "00"))
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif not international:
        raw = "+" + raw
    readings: list[tuple[PhoneNumber | None, bool]] = []
    if not international and region:
        readings.append((_try_parse(raw[1:], region), True))
    readings.append((_try_parse(raw, None), False))
    parsed = [(number, national) for number, national in readings if number is not None]
    for number, national in parsed:
        if phonenumbers.is_valid_number(number):
            return number, national
    if not parsed:
        raise _invalid()
    # Nothing valid: explain the first reading (the region's, where there is one).
    return parsed[0]


def _try_parse(raw: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def _check_digits_were_typed(number: PhoneNumber, typed_digits: str, national: bool) -> None:
    """phonenumbers may rewrite a national number (Argentina's mobile ``15`` becomes ``9``) or cut
    off what follows it: the result must be the digits typed, less a leading prefix (``00``, a
    trunk ``0``), after the country code (typed, or the region's for a national number)."""
    significant = phonenumbers.national_significant_number(number)
    expected_tail = significant if national else f"{number.country_code}{significant}"
    if not typed_digits.endswith(expected_tail):
        raise ValidationError(
            _(
                "This number cannot be read as typed. Type it with + and the country code, "
                "for example +86 138 0013 8000."
            ),
            code="rewritten",
        )


#: ``normalize_phone(allowed=...)`` left out: the ALLOWED_REGIONS setting holds.
FROM_SETTINGS: Any = object()


def _check_region(number: PhoneNumber, valid: bool, allowed: tuple[str, ...] | None) -> None:
    region = phonenumbers.region_code_for_number(number)
    if region == NON_GEOGRAPHIC and (allowed is None or NON_GEOGRAPHIC not in allowed):
        raise ValidationError(
            _(
                "Numbers that belong to no country (+%(cc)s, such as satellite phones) cannot be "
                "used here. Enter a mobile or landline number."
            )
            % {"cc": number.country_code},
            code="non_geographic",
        )
    if not valid:
        if region and region != "ZZ":
            raise ValidationError(
                _("This is not a valid phone number for %(region)s (+%(cc)s). Check the digits.")
                % {"region": region, "cc": number.country_code},
                code="invalid",
            )
        if number.country_code and phonenumbers.region_codes_for_country_code(number.country_code):
            # A country code, but no number phonenumbers knows there (+44 7700 900001): say that.
            raise ValidationError(
                _("This is not a number we can send codes to (+%(cc)s). Check the digits.")
                % {"cc": number.country_code},
                code="invalid",
            )
        raise ValidationError(
            _("Unknown country code. Start with + and the country code, for example +86."),
            code="invalid",
        )
    if allowed is not None and region not in allowed:
        raise ValidationError(
            _("Numbers from %(region)s (+%(cc)s) cannot be used here. Use a number from %(allowed)s.")
            % {"region": region, "cc": number.country_code, "allowed": ", ".join(allowed)},
            code="region_not_allowed",
        )


def normalize_phone(text: str, *, region: str | None = None, allowed: Any = FROM_SETTINGS) -> str:
    """Parse what a person typed (``+86 138-0013-8000``, ``008613800138000``, ``8613800138000``,
    and ``138 0013 8000`` where ``region`` or ``DEFAULT_REGION`` is ``"CN"``) and return the
    digits NXCloud expects (``8613800138000``).

    Raises ``ValidationError`` with a message that says what is wrong and a code for each kind of
    refusal: ``required``, ``too_long``, ``extension``, ``letters``, ``invalid``, ``rewritten``,
    ``non_geographic``, ``region_not_allowed``, and one per refused kind of number
    (``premium_rate``, ``shared_cost``, ``personal_number``, ``pager``, ``uan``, ``voicemail``,
    ``unknown_type``). ``allowed``: the regions allowed (an application's policy), else
    ALLOWED_REGIONS.
    """
    raw = (text or "").strip()
    if not raw:
        raise ValidationError(_("Enter a phone number."), code="required")
    if len(raw) > MAX_INPUT_LENGTH:
        raise ValidationError(_("That is too long to be a phone number."), code="too_long")
    raw = ascii_digits(raw).replace("\uff0b", "+")  # a full-width plus is a plus
    typed_digits = _decimal_digits(raw)
    if not typed_digits:
        raise _invalid()
    if _EXTENSION.search(raw):
        raise _extension_error()
    if any(ch.isalpha() for ch in raw):
        raise ValidationError(
            _("Letters are not allowed in a phone number: type the digits."), code="letters"
        )
    number, national = _parse(raw, region if region is not None else conf.DEFAULT_REGION)
    if number.extension:
        raise _extension_error()
    _check_digits_were_typed(number, typed_digits, national)
    if allowed is FROM_SETTINGS:
        allowed = conf.ALLOWED_REGIONS
    _check_region(number, phonenumbers.is_valid_number(number), allowed)
    refused = _refused_type_message(phonenumbers.number_type(number))
    if refused is not None:
        raise ValidationError(refused[0], code=refused[1])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def _extension_error() -> ValidationError:
    return ValidationError(
        _(
            "Extensions cannot be used here: enter the number alone, without “ext”, “x” or “#” "
            "and the digits after it."
        ),
        code="extension",
    )


@functools.lru_cache(maxsize=4096)  # a number's kind never changes; parsing costs a send ~0.1 ms
def allowed_methods(digits: str) -> tuple[str, ...]:
    """The ways a code may be sent to ``digits`` (as ``normalize_phone`` returns them):
    ``("sms", "voice")`` for a mobile (or a number that may be one), ``("voice",)`` for a fixed
    line or a toll-free number, ``()`` for anything ``normalize_phone`` refuses or cannot read."""
    try:
        number = phonenumbers.parse("+" + digits.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return ()
    if not phonenumbers.is_valid_number(number):
        return ()
    return _METHODS.get(phonenumbers.number_type(number), ())


def sms_refusal_text() -> str:
    """Why a landline is offered a voice call only."""
    return _("This looks like a landline: landlines can't receive SMS, so choose a voice call.")


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
