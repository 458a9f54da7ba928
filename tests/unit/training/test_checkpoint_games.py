"""A run belongs to the games table it was trained on."""

from __future__ import annotations

import pytest

from inference.games_table import GamesTableError
from inference.labels import LABELS
from training.backbones import build_model
from training.checkpoint import load_for_inference, save_checkpoint


def test_a_run_trained_on_other_games_is_refused_before_its_outputs_get_wrong_names(tmp_path):
    """export and evaluate write the table's labels beside the model's outputs: a run trained on seven
    games, exported with an eight-game table, would serve eight names for seven outputs."""
    trained = [*LABELS[:3]]
    path = tmp_path / "best.pt"
    save_checkpoint(
        path, {"arch": "tiny", "class_names": trained, "model": build_model("tiny", 3, "none").state_dict()}
    )
    with pytest.raises(
        GamesTableError, match=r"was trained on 3 games \(bloodborne, dark_souls, dark_souls_2\)"
    ):
        load_for_inference(path)
