import numpy as np
import pytest
import torch
from PIL import Image

from inference.image_limits import ImageLimitError
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


@pytest.mark.parametrize("size", [(16588800, 1), (259200, 64), (64, 600)])
def test_cover_size_refuses_a_side_more_than_eight_times_the_other(size):
    """Else the resize after it has no bound: 16588800x1 asked for 3.2 billion pixels a row."""
    with pytest.raises(ImageLimitError) as refused:
        cover_size(size, (192, 336))
    assert refused.value.code == "unsupported_aspect_ratio"


def test_the_eval_transform_refuses_an_elongated_image_before_any_resize():
    """Even for a caller that skipped the header check (the handler checks it first)."""
    pre = get_spec("tiny").preprocessing
    with pytest.raises(ImageLimitError):
        eval_transform(Image.new("RGB", (20_000, 1)), pre)
    assert cover_size((8000, 1000), (192, 336)) == (192, 1536)  # 8:1 at most: 8 times the target's height
