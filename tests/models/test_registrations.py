"""Models: phone numbers as typed, one open registration per number (in the database too), the
code never stored, and finished attempts that never change."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, RefusalReason, VerificationAttempt
from nxwa_onboarding.nxcloud.redact import Hidden
from nxwa_onboarding.phone import format_phone, normalize_phone
from tests.helpers.services import CODE, OTHER_PHONE, PHONE, new_registration

pytestmark = pytest.mark.django_db


# -- phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138-0013-8000",
        "008613800138000",
        "8613800138000",
        "+8613800138000",
        "  +86 (138) 0013 8000 ",
        "+86.138.0013.8000",
    ],
)
def test_a_number_as_people_type_it_becomes_digits_with_the_country_code(typed: str) -> None:
    assert normalize_phone(typed) == PHONE


@pytest.mark.parametrize(
    ("typed", "code", "words"),
    [
        ("", "required", "Enter a phone number"),
        ("   ", "required", "Enter a phone number"),
        ("1" * 41, "too_long", "too long"),
        ("not a number", "invalid", "country code"),
        ("+86 123", "invalid", "not a valid phone number for CN"),
        ("+999 1234 5678", "invalid", "with its country code"),
        ("13800138000", "invalid", ""),  # a Chinese mobile without +86 is not read as one
    ],
)
def test_a_bad_number_is_a_clear_validation_error(typed: str, code: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(typed)
    assert info.value.code == code
    assert words in " ".join(info.value.messages)


def test_format_phone_for_people() -> None:
    assert format_phone(PHONE) == "+86 138 0013 8000"
    assert format_phone("") == ""


def test_create_registration_stores_digits_and_a_random_public_id() -> None:
    registration = services.create_registration("+86 138-0013-8000")
    registration.refresh_from_db()
    assert registration.phone_number == PHONE
    assert registration.status == PhoneRegistration.Status.NEW
    assert isinstance(registration.public_id, uuid.UUID)
    assert str(registration) == "+86 138 0013 8000"
    assert str(registration.public_id) in registration.get_absolute_url()
    assert str(registration.pk) not in registration.get_absolute_url().replace(
        str(registration.public_id), ""
    )


def test_create_registration_refuses_a_bad_number() -> None:
    with pytest.raises(ValidationError):
        services.create_registration("+86 123")
    assert not PhoneRegistration.objects.exists()


def test_model_clean_normalises_or_names_the_field() -> None:
    registration = PhoneRegistration(phone_number="+86 138-0013-8000")
    registration.full_clean()
    assert registration.phone_number == PHONE
    with pytest.raises(ValidationError) as info:
        PhoneRegistration(phone_number="+86 123").full_clean()
    assert "phone_number" in info.value.message_dict


# -- one open registration per number --------------------------------------------------------------


def test_a_second_open_registration_is_a_clear_validation_error() -> None:
    services.create_registration(PHONE)
    with pytest.raises(ValidationError) as info:
        services.create_registration("+86 138 0013 8000")
    assert info.value.code == "duplicate"
    assert "already being onboarded" in info.value.messages[0]
    assert PhoneRegistration.objects.count() == 1


def test_the_model_validation_says_so_too() -> None:
    services.create_registration(PHONE)
    with pytest.raises(ValidationError) as info:
        PhoneRegistration(phone_number=PHONE).full_clean()
    assert "already being onboarded" in str(info.value)


def test_the_database_enforces_it_on_a_raw_insert() -> None:
    new_registration()
    table = PhoneRegistration._meta.db_table
    now = timezone.now()
    sql = (
        f"INSERT INTO {table} (public_id, phone_number, status, last_code_method, created_at, "  # noqa: S608
        "updated_at, number_status, quality_rating, verified_name, waba_id, waba_name) "
        "VALUES (%s, %s, %s, '', %s, %s, '', '', '', '', '')"
    )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [uuid.uuid4().hex, PHONE, "code_sent", now, now])


def test_the_database_enforces_it_through_the_orm_too() -> None:
    new_registration()
    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneRegistration.objects.create(phone_number=PHONE, status=PhoneRegistration.Status.VERIFIED)


def test_a_failed_registration_does_not_block_a_new_one() -> None:
    first = new_registration()
    PhoneRegistration.objects.filter(pk=first.pk).update(status=PhoneRegistration.Status.FAILED)
    second = services.create_registration(PHONE)
    assert second.pk != first.pk
    assert PhoneRegistration.objects.filter(phone_number=PHONE).count() == 2
    # and several failed ones may pile up
    PhoneRegistration.objects.filter(pk=second.pk).update(status=PhoneRegistration.Status.FAILED)
    services.create_registration(PHONE)
    assert PhoneRegistration.objects.filter(phone_number=PHONE).count() == 3


def test_other_numbers_are_independent() -> None:
    new_registration(PHONE)
    new_registration(OTHER_PHONE)
    assert PhoneRegistration.objects.count() == 2


# -- one pending call per registration, in the database --------------------------------------------


def test_one_pending_attempt_per_registration_is_enforced_by_the_database() -> None:
    registration = new_registration()
    VerificationAttempt.objects.create(registration=registration, channel="api", code_digest="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        VerificationAttempt.objects.create(registration=registration, channel="api", code_digest="y")
    # finished ones are not limited
    for outcome in ("rejected", "refused", "failed"):
        VerificationAttempt.objects.create(
            registration=registration,
            channel="api",
            code_digest="z",
            outcome=outcome,
            finished_at=timezone.now(),
        )


def test_one_pending_code_request_per_registration_is_enforced_by_the_database() -> None:
    registration = new_registration()
    CodeRequest.objects.create(registration=registration, channel="api", method="sms")
    with pytest.raises(IntegrityError), transaction.atomic():
        CodeRequest.objects.create(registration=registration, channel="api", method="voice")


# -- the code is never stored ----------------------------------------------------------------------


def test_code_digest_is_an_hmac_bound_to_the_registration() -> None:
    first = new_registration(PHONE)
    second = new_registration(OTHER_PHONE)
    digest = services.code_digest(first, CODE)
    assert len(digest) == 64
    assert CODE not in digest
    assert digest == services.code_digest(first, CODE)
    assert digest != services.code_digest(second, CODE)
    assert digest != services.code_digest(first, "864208")


def test_code_digest_is_keyed_from_the_secret_key(settings: object) -> None:
    registration = new_registration()
    before = services.code_digest(registration, CODE)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"  # type: ignore[attr-defined]
    assert services.code_digest(registration, CODE) != before


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("864209", "864209"),
        ("864-209", "864209"),
        ("864 209", "864209"),
        (" 864209 ", "864209"),
        ("1234", "1234"),
        ("12345678", "12345678"),
        ("12a4", None),
        ("", None),
        ("   ", None),
        ("123", None),
        ("123456789", None),
        ("1" * 40, None),
        # What people type on other keyboards is the same code, in ASCII digits.
        ("\u0661\u0662\u0663\u0664", "1234"),  # Arabic-Indic digits: ١٢٣٤
        ("\u06f1\u06f2\u06f3\u06f4", "1234"),  # Extended Arabic-Indic (Persian, Urdu): ۱۲۳۴
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "123456"),  # full-width digits
        ("\uff11\uff12\uff13\uff0d\uff14\uff15\uff16", "123456"),  # full-width digits and dash
        ("\uff11\uff12\uff13\u3000\uff14\uff15\uff16", "123456"),  # ideographic space
        ("123\u2013456", "123456"),  # an en dash, as a phone's keyboard may put it
        ("\u0967\u0968\u0969\u096a", "1234"),  # Devanagari: १२३४
        ("12\uff13\uff14", "1234"),  # mixed
        ("\u00b9\u00b2\u00b3\u2074", None),  # superscripts are not decimal digits
        ("\u2460\u2461\u2462\u2463", None),  # circled digits neither
        ("\uff11\uff12\uff13", None),  # three digits, however written
        ("12.34", None),
        (None, None),
        (123456, None),
    ],
)
def test_normalize_code(typed: object, digits: str | None) -> None:
    normalized = services.normalize_code(typed)
    assert normalized == digits
    if digits is not None:
        # Hidden: what an error report shows of it is a placeholder, whatever digits it came from.
        assert isinstance(normalized, Hidden)
        assert repr(normalized) == "<hidden>"
        assert normalized.isascii()


# -- append-only -----------------------------------------------------------------------------------


def test_a_finished_attempt_loaded_from_the_database_cannot_be_saved() -> None:
    registration = new_registration()
    attempt = VerificationAttempt.objects.create(
        registration=registration,
        channel="api",
        code_digest="x",
        outcome="rejected",
        finished_at=timezone.now(),
    )
    loaded = VerificationAttempt.objects.get(pk=attempt.pk)
    loaded.outcome = VerificationAttempt.Outcome.ACCEPTED
    with pytest.raises(ValidationError, match="audit trail"):
        loaded.save()
    assert VerificationAttempt.objects.get(pk=attempt.pk).outcome == "rejected"


def test_a_finished_attempt_just_created_cannot_be_saved_again() -> None:
    registration = new_registration()
    attempt = services.check_code(registration, "12a4")  # refused: written finished
    assert attempt.finished_at is not None
    attempt.outcome = VerificationAttempt.Outcome.ACCEPTED
    with pytest.raises(ValidationError):
        attempt.save()
    assert VerificationAttempt.objects.get(pk=attempt.pk).outcome == "refused"


def test_a_pending_attempt_refreshed_after_it_finished_cannot_be_saved() -> None:
    registration = new_registration()
    attempt = VerificationAttempt.objects.create(registration=registration, channel="api", code_digest="x")
    attempt.save()  # still pending: allowed
    VerificationAttempt.objects.filter(pk=attempt.pk).update(outcome="unknown", finished_at=timezone.now())
    attempt.refresh_from_db()
    with pytest.raises(ValidationError):
        attempt.save()


def test_a_finished_attempt_loaded_with_deferred_fields_cannot_be_saved() -> None:
    registration = new_registration()
    attempt = VerificationAttempt.objects.create(
        registration=registration,
        channel="api",
        code_digest="x",
        outcome="rejected",
        finished_at=timezone.now(),
    )
    loaded = VerificationAttempt.objects.only("pk", "outcome").get(pk=attempt.pk)
    with pytest.raises(ValidationError):
        loaded.save()


def test_a_finished_code_request_cannot_be_saved_again() -> None:
    registration = new_registration()
    CodeRequest.objects.create(
        registration=registration, channel="api", method="sms", outcome="sent", finished_at=timezone.now()
    )
    loaded = CodeRequest.objects.get()
    with pytest.raises(ValidationError):
        loaded.save()


def test_refusal_message_on_the_row() -> None:
    registration = new_registration()
    until = timezone.now() + timedelta(seconds=90)
    attempt = VerificationAttempt.objects.create(
        registration=registration,
        channel="api",
        code_digest="x",
        outcome="refused",
        refusal_reason=RefusalReason.COOLDOWN,
        retry_after=until,
        finished_at=timezone.now(),
    )
    assert "moments ago" in attempt.refusal_message
    assert "in 2 minutes" in attempt.refusal_message
    ok = VerificationAttempt(outcome="accepted")
    assert ok.refusal_message == ""
