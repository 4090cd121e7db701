"""Phone numbers: one E.164 spelling per mobile, refused with a stable reason otherwise, shown masked."""

from __future__ import annotations

import re

import pytest

from twostep.domain.phone import PhoneNumberProblem, mask_phone, normalize_phone, region_choices

BELGIAN_MOBILE = "+32470123456"


@pytest.mark.parametrize(
    "raw",
    [
        "+32 470 12 34 56",
        "+32470123456",
        "0032 470 12 34 56",
        "00 32 470 12 34 56",
        "+32 (0)470/12.34.56",
        " +32-470-12-34-56 ",
        "＋３２ ４７０ １２ ３４ ５６",  # full-width, as some phone keyboards type it
    ],
)
def test_belgian_mobile_in_international_spellings_is_stored_identically(raw: str) -> None:
    assert normalize_phone(raw, default_region=None) == BELGIAN_MOBILE


def test_national_spelling_with_default_region_matches_international_spelling() -> None:
    national = normalize_phone("0470 12 34 56", default_region="BE")
    international = normalize_phone("+32 470 12 34 56", default_region="BE")

    assert national == international == BELGIAN_MOBILE


def test_default_region_is_case_insensitive() -> None:
    assert normalize_phone("0470123456", default_region="be") == BELGIAN_MOBILE


def test_international_number_ignores_the_default_region() -> None:
    assert normalize_phone("+48 512 345 678", default_region="BE") == "+48512345678"


@pytest.mark.parametrize("region", [None, "", "XX"])
def test_national_spelling_without_usable_region_needs_the_country(region: str | None) -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone("0470 12 34 56", default_region=region)

    assert caught.value.reason == "needs_country"


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_input_is_refused_as_empty(raw: str) -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone(raw, default_region="BE")

    assert caught.value.reason == "empty"


@pytest.mark.parametrize(
    "raw",
    [
        "+32 470 12 34 567",  # one digit too many for Belgium
        "+32 12",
        "+999 123 456 789",  # unassigned country code
        "+1 800 FLOWERS",  # letters are not guessed
        "+32 470 12 34 56 ext. 12",
        "call me",
        "+32 470 12+34 56",
    ],
)
def test_invalid_number_is_refused_as_invalid(raw: str) -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone(raw, default_region="BE")

    assert caught.value.reason == "invalid"


def test_sixteen_digits_are_refused() -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone("+1234567890123456", default_region=None)

    assert caught.value.reason == "invalid"


def test_belgian_fixed_line_is_refused_as_not_mobile() -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone("+32 2 555 12 12", default_region=None)

    assert caught.value.reason == "not_mobile"


def test_fixed_line_or_mobile_numbers_are_accepted() -> None:
    # North American numbers cannot be told apart: libphonenumber says FIXED_LINE_OR_MOBILE.
    assert normalize_phone("+1 650 253 0000", default_region=None) == "+16502530000"


def test_country_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(PhoneNumberProblem) as caught:
        normalize_phone("+48 512 345 678", default_region=None, allowed_countries=frozenset({"BE", "NL"}))

    assert caught.value.reason == "country_not_allowed"


def test_country_in_the_allow_list_is_accepted() -> None:
    allowed = frozenset({"be", "NL"})

    assert normalize_phone("0470 12 34 56", default_region="BE", allowed_countries=allowed) == BELGIAN_MOBILE


def test_problem_is_a_value_error_with_a_readable_message() -> None:
    problem = PhoneNumberProblem("not_mobile")

    assert isinstance(problem, ValueError)
    assert "mobile" in str(problem)


@pytest.mark.parametrize(
    ("raw", "region"),
    [("+32 470 12 34 56", None), ("06 12 34 56 78", "NL"), ("070-123 45 67", "SE"), ("512 345 678", "PL")],
)
def test_result_is_always_e164(raw: str, region: str | None) -> None:
    assert re.fullmatch(r"\+[1-9]\d{1,14}", normalize_phone(raw, default_region=region))


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+32470123456", "+32 ••• •• •• 56"),
        ("+16502530000", "+1 ••• ••• •• 00"),
        ("+31612345678", "+31 • •••••• 78"),
        ("+48512345678", "+48 ••• ••• • 78"),
    ],
)
def test_mask_shows_country_code_and_last_two_digits_only(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_mask_hides_every_other_digit() -> None:
    masked = mask_phone(BELGIAN_MOBILE)

    assert masked.startswith("+32 ")
    assert masked.endswith(" 56")
    assert re.sub(r"[^0-9]", "", masked) == "3256"
    assert masked.count("•") == 7  # nine national digits, the last two shown


def test_mask_refuses_what_is_not_e164() -> None:
    with pytest.raises(ValueError):
        mask_phone("0470 12 34 56")


def test_region_choices_pair_regions_with_their_calling_code_sorted() -> None:
    choices = region_choices()

    assert ("BE", "+32") in choices
    assert ("US", "+1") in choices
    assert [region for region, _ in choices] == sorted(region for region, _ in choices)
    assert all(
        re.fullmatch(r"[A-Z]{2}", region) and re.fullmatch(r"\+\d{1,3}", code) for region, code in choices
    )
