"""The query parameter the gateway validates itself: top_k, 1 to 7, 3 by default."""

import pytest

from gateway.errors import ApiError
from gateway.validation import parse_top_k


@pytest.mark.parametrize(("raw", "expected"), [(None, 3), ("1", 1), ("7", 7), ("05", 5)])
def test_top_k_from_one_to_seven_is_accepted_and_three_is_the_default(raw, expected):
    assert parse_top_k(raw) == expected


@pytest.mark.parametrize("raw", ["0", "8", "-1", "", "3.5", "three", "٣", "9" * 5000])
def test_any_other_top_k_is_a_422_in_the_error_shape(raw):
    with pytest.raises(ApiError) as caught:
        parse_top_k(raw)
    assert (caught.value.status, caught.value.code) == (422, "invalid_request")
    assert "1 to 7" in caught.value.message
