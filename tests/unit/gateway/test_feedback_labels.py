"""A vote's label is checked against the served model's labels (gateway.model_state), not the gateway's
own table: a model trained with an eighth game takes votes naming it, and one without a game refuses
them, whatever the gateway's table holds."""

from __future__ import annotations

import pytest

from gateway.errors import ApiError
from gateway.feedback import ballot_label
from gateway.feedback_form import FeedbackForm, check_fields
from gateway.validation import Upload

SHA = "a" * 64
SERVED = ("sekiro", "elden_ring", "armored_core")  # a model trained on an operator's table


def form(verdict: str, label: str | None) -> FeedbackForm:
    return FeedbackForm(SHA, verdict, label, Upload(b"", "image/png", 1), share=False)


def test_a_vote_may_name_a_game_of_the_served_model_the_gateways_table_lacks():
    check_fields(SHA, "wrong", "armored_core", SERVED)
    assert ballot_label(form("wrong", "armored_core"), {"label": "sekiro"}, SERVED) == "armored_core"
    assert ballot_label(form("right", None), {"label": "armored_core"}, SERVED) == "armored_core"


def test_a_vote_naming_a_game_the_served_model_does_not_know_is_refused_with_its_games():
    with pytest.raises(ApiError) as refused:
        check_fields(SHA, "wrong", "dark_souls", SERVED)  # in the gateway's table, not in the model
    assert (refused.value.status, refused.value.code) == (422, "invalid_request")
    assert refused.value.message == "label: must be one of sekiro, elden_ring, armored_core"


def test_right_on_an_unknown_answer_names_no_game():
    assert ballot_label(form("right", None), {"label": "unknown"}, SERVED) is None
