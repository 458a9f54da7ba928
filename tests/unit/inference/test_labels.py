import json

import pytest

from inference.labels import DISPLAY_NAMES, LABELS, canonical_label, index_to_name


@pytest.mark.parametrize(
    ("folder", "label"),
    [
        ("bloodborne", "bloodborne"),
        ("dark souls", "dark_souls"),
        ("dark souls 2", "dark_souls_2"),
        ("dark souls 3", "dark_souls_3"),
        ("demons souls", "demons_souls"),
        ("elden ring", "elden_ring"),
        ("sekiro", "sekiro"),
        ("Dark Souls III", "dark_souls_3"),
        ("Demon's Souls", "demons_souls"),
        ("dark_souls_2", "dark_souls_2"),
        ("ELDEN-RING", "elden_ring"),
        ("Sekiro Shadows Die Twice", "sekiro"),
    ],
)
def test_kaggle_and_common_folder_names_map_to_canonical_labels(folder, label):
    assert canonical_label(folder) == label


@pytest.mark.parametrize("folder", ["armored core", "dark souls 4", "", "misc"])
def test_unknown_folder_names_map_to_none(folder):
    assert canonical_label(folder) is None


def test_every_label_has_a_display_name_and_index_order_is_label_order():
    mapping = index_to_name()
    assert [mapping[str(i)][0] for i in range(len(LABELS))] == list(LABELS)
    assert all(DISPLAY_NAMES[label] for label in LABELS)
    json.dumps(mapping)  # TorchServe reads it as JSON
