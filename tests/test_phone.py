# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The number policy: what ``normalize_phone`` refuses (and says), what it reads, and which code
methods a number may use. Example numbers come from phonenumbers' own metadata, so the tests
follow the library's idea of each kind of number rather than a list typed by hand."""

from __future__ import annotations

import unicodedata

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from nxwa_onboarding.phone import allowed_methods, normalize_phone, sms_refusal_text
from tests.helpers.fuzz import examples

PHONE = "8613800138000"
#: Full-width (U+FF10...) and Arabic-Indic (U+0660...) digits: other scripts' 0-9.
FULL_WIDTH = str.maketrans("0123456789+", "".join(chr(0xFF10 + d) for d in range(10)) + "\uff0b")
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))


def example_of(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def non_geographic(country_code: int) -> str:
    number = phonenumbers.example_number_for_non_geo_entity(country_code)
    assert number is not None
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def refusal(typed: str, **kwargs: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        normalize_phone(typed, **kwargs)
    return info.value


# -- kinds of number that are refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "kind", "code", "words"),
    [
        ("GB", PhoneNumberType.PREMIUM_RATE, "premium_rate", "premium-rate"),
        ("US", PhoneNumberType.PREMIUM_RATE, "premium_rate", "premium-rate"),
        ("FR", PhoneNumberType.SHARED_COST, "shared_cost", "shared-cost"),
        ("DE", PhoneNumberType.SHARED_COST, "shared_cost", "shared-cost"),
        ("GB", PhoneNumberType.PERSONAL_NUMBER, "personal_number", "personal (forwarding)"),
        ("US", PhoneNumberType.PERSONAL_NUMBER, "personal_number", "personal (forwarding)"),
        ("GB", PhoneNumberType.PAGER, "pager", "pager"),
        ("HK", PhoneNumberType.PAGER, "pager", "pager"),
        ("GB", PhoneNumberType.UAN, "uan", "universal access number"),
        ("FR", PhoneNumberType.UAN, "uan", "universal access number"),
        ("DE", PhoneNumberType.VOICEMAIL, "voicemail", "voicemail"),
        ("IT", PhoneNumberType.VOICEMAIL, "voicemail", "voicemail"),
    ],
)
def test_each_refused_kind_of_number_is_named(region: str, kind: int, code: str, words: str) -> None:
    typed = example_of(region, kind)
    error = refusal(typed)
    assert error.code == code
    assert words in error.messages[0]
    assert allowed_methods(typed.replace(" ", "").lstrip("+")) == ()


@pytest.mark.parametrize("typed", ["+44 909 879 0000", "+1 900 234 5678"])
def test_premium_rate_numbers_from_the_issue_are_refused(typed: str) -> None:
    assert refusal(typed).code == "premium_rate"


def test_a_number_of_unknown_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """phonenumbers calls no valid number UNKNOWN today; if its metadata ever does, it is refused."""
    monkeypatch.setattr(phonenumbers, "number_type", lambda number: PhoneNumberType.UNKNOWN)
    error = refusal("+86 138 0013 8000")
    assert error.code == "unknown_type"
    assert "cannot tell what kind of number" in error.messages[0]


@pytest.mark.parametrize("country_code", [881, 870, 882, 800, 979])
def test_numbers_of_no_country_are_refused_unless_allowed(country_code: int) -> None:
    typed = non_geographic(country_code)
    error = refusal(typed)
    assert error.code == "non_geographic"
    assert f"+{country_code}" in error.messages[0]
    assert "satellite" in error.messages[0]
    with override_settings(NXWA_ONBOARDING={"ALLOWED_REGIONS": ["001"]}):
        number = phonenumbers.parse(typed)
        if phonenumbers.number_type(number) in (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST):
            assert refusal(typed).code != "non_geographic"  # +979 is still premium-rate
        else:
            assert normalize_phone(typed) == phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]


# -- letters, extensions, digits of other scripts ---------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138 ABCD 8000",  # once sent a code to +86 138 2223 8000
        "+86 138 abcd 8000",
        "+1 800 FLOWERS",
        "+86 I38 0013 8000",  # a capital i for a one
        "+86 138 0O13 8000",  # a capital o for a zero
        "tel:+86-138-0013-8000",
        "+86 138 0013 8000 ок",
        "+86 138 0013 8000 call me",
    ],
)
def test_letters_are_refused_never_read_as_digits(typed: str) -> None:
    error = refusal(typed)
    assert error.code == "letters"
    assert error.messages == ["Letters are not allowed in a phone number: type the digits."]


@pytest.mark.parametrize(
    "suffix", [" ext 12", " ext. 12", "ext12", " extension 12", " x12", " X 12", "#12", "#", ";ext=12", ",12"]
)
@pytest.mark.parametrize("base", ["+86 138 0013 8000", "+44 121 234 5678"])
def test_an_extension_is_refused_never_dropped(base: str, suffix: str) -> None:
    error = refusal(base + suffix)
    assert error.code == "extension"
    assert "Extensions cannot be used here" in error.messages[0]


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138 0013 8000".translate(FULL_WIDTH),
        "+86 138-0013-8000".translate(FULL_WIDTH),
        "+86 138 0013 8000".translate(ARABIC_INDIC),
        "00" + "8613800138000".translate(ARABIC_INDIC),
        "+86 138 \uff10\uff10\uff11\uff13 8000",  # some digits full-width, some not
        "+\u096e\u096c 138 0013 8000",  # Devanagari 8, 6
    ],
)
def test_digits_of_other_scripts_are_the_same_digits(typed: str) -> None:
    assert normalize_phone(typed) == PHONE


@pytest.mark.parametrize("typed", ["+86 138 0013 8000\u00b2", "+86 138 0013 800\u2460"])
def test_digits_that_are_not_decimal_digits_are_not_read_as_digits(typed: str) -> None:
    """A superscript two or a circled one is not a digit of the number (``unicodedata.decimal``)."""
    assert refusal(typed).code == "invalid"


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138-0013-8000",
        "008613800138000",
        "8613800138000",
        "+8613800138000",
        "  +86 (138) 0013 8000 ",
        "+86.138.0013.8000",
        "0086 138 0013 8000",
        "0086-138-0013-8000",
    ],
)
def test_every_form_accepted_before_is_still_accepted(typed: str) -> None:
    assert normalize_phone(typed) == PHONE


# -- ALLOWED_REGIONS and DEFAULT_REGION --------------------------------------------------------------


@override_settings(NXWA_ONBOARDING={"ALLOWED_REGIONS": ["CN", "HK"]})
def test_allowed_regions_refuse_a_number_from_elsewhere_naming_its_region() -> None:
    assert normalize_phone("+86 138 0013 8000") == PHONE
    assert normalize_phone(example_of("HK", PhoneNumberType.MOBILE)) == "85251234567"
    error = refusal("+44 7400 123456")
    assert error.code == "region_not_allowed"
    assert error.messages == ["Numbers from GB (+44) cannot be used here. Use a number from CN, HK."]
    assert refusal("+1 415 555 0100").messages[0].startswith("Numbers from US (+1) ")
    assert refusal(non_geographic(881)).code == "non_geographic"


def test_allowed_regions_tell_apart_regions_that_share_a_country_code() -> None:
    canada = example_of("CA", PhoneNumberType.MOBILE)
    with override_settings(NXWA_ONBOARDING={"ALLOWED_REGIONS": ["us"]}):
        assert refusal(canada).messages[0].startswith("Numbers from CA (+1) ")
        assert normalize_phone("+1 415 555 0100") == "14155550100"


def test_without_default_region_a_number_without_country_code_is_refused() -> None:
    assert refusal("138 0013 8000").code == "invalid"
    assert refusal("13800138000").code == "invalid"


@override_settings(NXWA_ONBOARDING={"DEFAULT_REGION": "CN"})
@pytest.mark.parametrize(
    "typed", ["138 0013 8000", "13800138000", "+86 138 0013 8000", "8613800138000", "008613800138000"]
)
def test_default_region_reads_a_national_number_and_keeps_the_international_forms(typed: str) -> None:
    assert normalize_phone(typed) == PHONE


@override_settings(NXWA_ONBOARDING={"DEFAULT_REGION": "CN"})
def test_default_region_does_not_change_numbers_typed_with_a_country_code() -> None:
    assert normalize_phone("+44 7400 123456") == "447400123456"
    assert normalize_phone("447400123456") == "447400123456"  # not a Chinese number: read with +
    error = refusal("138 0013")
    assert error.messages == ["This is not a valid phone number for CN (+86). Check the digits."]


def test_a_region_given_to_the_call_wins_over_the_setting() -> None:
    assert normalize_phone("07400 123456", region="GB") == "447400123456"
    with override_settings(NXWA_ONBOARDING={"DEFAULT_REGION": "CN"}):
        assert normalize_phone("07400 123456", region="GB") == "447400123456"


@pytest.mark.parametrize("typed", ["011 15 2345 6789", "0 11 15 2345 6789"])
def test_a_national_number_that_would_be_rewritten_is_refused(typed: str) -> None:
    """phonenumbers turns Argentina's mobile prefix 15 into a 9 nobody typed: refused, asking
    for the international form."""
    error = refusal(typed, region="AR")
    assert error.code == "rewritten"
    assert normalize_phone("+54 9 11 2345 6789") == "5491123456789"


# -- which methods a number may use ---------------------------------------------------------------


def digits_of(region: str, kind: int) -> str:
    return example_of(region, kind).replace(" ", "").replace("-", "").lstrip("+")


@pytest.mark.parametrize(
    ("digits", "methods"),
    [
        (PHONE, ("sms", "voice")),  # a Chinese mobile
        (digits_of("GB", PhoneNumberType.MOBILE), ("sms", "voice")),
        (digits_of("GB", PhoneNumberType.FIXED_LINE), ("voice",)),
        (digits_of("CN", PhoneNumberType.FIXED_LINE), ("voice",)),
        (digits_of("FR", PhoneNumberType.FIXED_LINE), ("voice",)),
        ("14155550100", ("sms", "voice")),  # US: fixed line or mobile, nobody can tell
        (digits_of("GB", PhoneNumberType.TOLL_FREE), ("voice",)),
        (digits_of("GB", PhoneNumberType.VOIP), ("sms", "voice")),
        (digits_of("GB", PhoneNumberType.PREMIUM_RATE), ()),
        ("86123", ()),
        ("", ()),
        ("not digits", ()),
    ],
)
def test_allowed_methods(digits: str, methods: tuple[str, ...]) -> None:
    assert allowed_methods(digits) == methods


def test_us_numbers_are_fixed_line_or_mobile() -> None:
    number = phonenumbers.parse("+14155550100")
    assert phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE_OR_MOBILE


def test_sms_refusal_says_why_in_both_languages() -> None:
    with translation.override("en"):
        assert sms_refusal_text() == (
            "This looks like a landline: landlines can't receive SMS, so choose a voice call."
        )
    with translation.override("zh-hans"):
        assert sms_refusal_text() == "这看起来是固定电话号码：固定电话无法接收短信，请选择语音电话。"


def test_refusals_are_translated() -> None:
    with translation.override("zh-hans"):
        assert refusal("+44 909 879 0000").messages == [
            "这是增值收费号码，不能在此使用。请输入手机号码或固定电话号码。"
        ]
        assert refusal("+86 138 ABCD 8000").messages == ["电话号码中不能包含字母：请输入数字。"]


# -- never a digit that was not typed ----------------------------------------------------------


REGIONS = [None, "CN", "GB", "US", "DE", "AR", "IN"]
BASES = [
    example_of(region, kind)
    for region in ("CN", "GB", "US", "DE", "HK", "IN", "FR", "JP")
    for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
] + ["+86 138 0013 8000", "0086 138 0013 8000", "8613800138000", "138 0013 8000", "07400 123456"]
OTHER_DIGITS = "".join(chr(c) for c in range(0x80, 0x20000) if unicodedata.decimal(chr(c), None) is not None)


@st.composite
def near_numbers(draw: st.DrawFn) -> str:
    """A real number, then one or more of: a letter, an extension, digits of another script,
    punctuation, all in random places."""
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["letter", "extension", "script", "punctuation", "digit"]))
        at = draw(st.integers(0, len(text)))
        if change == "letter":
            insert = draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyzOoIl\u0430\u00e9\uff21"))
        elif change == "extension":
            insert = draw(st.sampled_from([" ext 12", "x9", "#1", ";ext=3", ",5", " ext.", "~7", "#"]))
            at = draw(st.sampled_from([at, len(text)]))
        elif change == "script":
            insert = draw(st.sampled_from(OTHER_DIGITS))
        elif change == "punctuation":
            insert = draw(st.sampled_from(" -.()+/*\u2013\u00a0\u3000\uff0d\x00"))
        else:
            insert = draw(st.sampled_from("0123456789\u00b2\u2460"))
        text = text[:at] + insert + text[at:]
    return text


typed_text = st.one_of(
    st.text(max_size=45),
    st.text(alphabet="0123456789 +-().#;,xXeEtT=" + OTHER_DIGITS[:20], max_size=30),
    near_numbers(),
)


def decimal_digits(text: str) -> str:
    return "".join(str(d) for ch in text if (d := unicodedata.decimal(ch, None)) is not None)


def normalize_or_refusal(typed: str) -> str | ValidationError:
    try:
        return normalize_phone(typed)
    except ValidationError as error:
        return error


def is_subsequence(short: str, long: str) -> bool:
    remaining = iter(long)
    return all(ch in remaining for ch in short)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed=typed_text, region=st.sampled_from(REGIONS))
@example(typed="+86 138 ABCD 8000", region=None)
@example(typed="+86 138 0013 8000 ext 12", region=None)
@example(typed="0 11 15 2345 6789", region="AR")
def test_never_a_digit_that_was_not_typed(typed: str, region: str | None) -> None:
    """Whatever is typed, the result is made of the typed decimal digits, in order (after the
    default region's country code for a number typed without one); letters and extensions are
    always refused; what is accepted can get a code one way or another."""
    with override_settings(NXWA_ONBOARDING={"DEFAULT_REGION": region}):
        result = normalize_or_refusal(typed)
    if isinstance(result, ValidationError):
        assert result.code
        assert all(result.messages)
        return
    prefix = str(phonenumbers.country_code_for_region(region)) if region else ""
    assert result.isascii()
    assert result.isdigit()
    assert is_subsequence(result, prefix + decimal_digits(typed)), (typed, result)
    assert not any(ch.isalpha() for ch in typed)
    assert allowed_methods(result) != ()
    # The same number typed in full-width digits is the same number.
    with override_settings(NXWA_ONBOARDING={"DEFAULT_REGION": region}):
        assert normalize_phone(typed.translate(FULL_WIDTH)) == result


@pytest.mark.parametrize("typed", ["+44 7700 900001", "+44 7700 900123"])
def test_a_number_the_library_cannot_place_says_so_not_unknown_country_code(typed: str) -> None:
    # +44 is a country code; phonenumbers simply knows no number of the UK like this one (Ofcom's
    # drama range): the words must describe that, not a country code problem.
    with pytest.raises(ValidationError) as caught:
        normalize_phone(typed)
    message = " ".join(caught.value.messages)
    assert "country code" not in message.lower()
    assert "not a number we can send codes to" in message
    assert "+44" in message
    assert caught.value.error_list[0].code == "invalid"


def test_a_country_code_that_does_not_exist_asks_for_one() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_phone("+999 1234 5678")
    assert "with its country code" in " ".join(caught.value.messages)
