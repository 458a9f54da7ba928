import numpy as np
import pytest
import torch
from PIL import Image

from inference.preprocessing import Preprocessing, cover_size, eval_transform
from training.backbones import available, get_spec
from training.data import ManifestDataset, Row
from training.presets import eval_preset, train_preset


@pytest.fixture
def frame(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "frame.png"
    Image.fromarray(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("arch", available())
def test_evaluation_data_path_equals_the_backbones_eval_transform(arch, frame):
    pre = get_spec(arch).preprocessing
    dataset = ManifestDataset([Row(frame, "sekiro", 0, "test")], eval_preset(pre))
    tensor, label = dataset[0]
    with Image.open(frame) as img:
        expected = torch.from_numpy(eval_transform(img.convert("RGB"), pre))
    assert torch.equal(tensor, expected)
    assert tensor.shape == (3, *pre.crop_size)
    assert label == 6


@pytest.mark.parametrize("arch", available())
def test_train_preset_outputs_the_eval_shape(arch, frame):
    pre = get_spec(arch).preprocessing
    with Image.open(frame) as img:
        assert train_preset(pre)(img.convert("RGB")).shape == (3, *pre.crop_size)


def test_preprocessing_round_trips_through_plain_dicts():
    pre = get_spec("efficientnet_lite0").preprocessing
    assert Preprocessing.from_dict(pre.to_dict()) == pre


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [
        ((640, 360), (180, 320), (180, 320)),
        ((1000, 1000), (180, 320), (320, 320)),
        ((3840, 2160), (192, 336), (192, 341)),
    ],
)
def test_cover_size_keeps_aspect_and_covers_the_target(size, target, expected):
    assert cover_size(size, target) == expected
