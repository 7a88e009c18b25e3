"""NDC normalisation to 11 digits (5-4-2) as text."""

import pytest

from turnover.io.warehouse import normalize_ndc


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0002-1433-80", "00002143380"),  # 4-4-2: pad the labeler
        ("50090-219-01", "50090021901"),  # 5-3-2: pad the product
        ("68180-0513-9", "68180051309"),  # 5-4-1: pad the package
        ("00002-1433-80", "00002143380"),  # 5-4-2 hyphenated: only the hyphens go
        (" 0002-1433-80 ", "00002143380"),  # surrounding blanks are trimmed
        ("00002143380", "00002143380"),  # already 11 digits
        ("LOCAL-ABC-1", "LOCAL-ABC-1"),  # a local code is left alone
        ("0002143380", "0002143380"),  # unhyphenated 10 digits: form unknown, left as is
    ],
)
def test_ten_digit_hyphenated_ndcs_become_eleven_digits_and_other_codes_stay(given, expected):
    assert normalize_ndc([given]) == [expected]


def test_normalised_ndcs_keep_their_leading_zeros_as_text():
    (value,) = normalize_ndc(["0004-0800-85"])
    assert isinstance(value, str) and value == "00004080085"
