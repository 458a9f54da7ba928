"""Which serving form export ships (training.form_choice.choose_form)."""

from __future__ import annotations

import pytest

from inference.reviewed import Answers
from training.form_choice import choose_form


def _form(diff: float, per_second: float, f1: float) -> dict[str, float]:
    return {
        "max_abs_diff": diff,
        "median_ms": 1000 / per_second,
        "images_per_second_batch_1": per_second,
        "images_per_second_batch_4": per_second * 1.5,
        "test_macro_f1": f1,
    }


COMPARISON = {
    "eager": _form(0.0, 50, 0.99),
    "onnx": _form(2e-5, 70, 0.99),
    "onnx-int8": _form(1.1, 120, 0.99),
}


def _answers(right: int, wrong: int) -> Answers:
    return Answers(images=12, named_right=right, not_recognised=12 - right - wrong, named_wrong=wrong,
                   named_wrong_strict=0)  # fmt: skip


def test_int8_ships_when_faster_and_as_accurate():
    assert choose_form(COMPARISON, 1e-3, 0.5)[0] == "onnx-int8"
    held_out = {"eager": _answers(4, 2), "onnx": _answers(4, 2), "onnx-int8": _answers(5, 2)}
    assert choose_form(COMPARISON, 1e-3, 0.5, held_out)[0] == "onnx-int8"


@pytest.mark.parametrize(
    ("int8", "why"),
    [(_answers(4, 4), "names more wrong (4 against 2)"), (_answers(3, 2), "names fewer right (3 against 4)")],
)
def test_int8_that_answers_the_reviewed_held_out_screenshots_worse_is_not_shipped(int8, why):
    """What a refreshed run measured on the feedback screenshots: int8's logits lifted two "Not
    recognised" answers over the threshold calibrated on the exact model's, both to a wrong game."""
    held_out = {"eager": _answers(4, 2), "onnx": _answers(4, 2), "onnx-int8": int8}
    form, reason = choose_form(COMPARISON, 1e-3, 0.5, held_out)
    assert form == "onnx"
    assert why in reason


def test_int8_that_loses_macro_f1_is_not_shipped():
    form, reason = choose_form({**COMPARISON, "onnx-int8": _form(1.1, 120, 0.98)}, 1e-3, 0.5)
    assert form == "onnx"
    assert reason.endswith("too inaccurate here")
