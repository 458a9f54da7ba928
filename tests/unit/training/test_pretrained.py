import pytest
import timm
import torch
from PIL import Image
from skimage import data

from inference.preprocessing import Preprocessing, eval_transform
from training.pretrained import lite0_key, load_lite0_imagenet, packaged_weights_path, remap_lite0_state_dict

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def source_state():
    return torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)


def test_every_packaged_tensor_maps_to_a_timm_tensor_of_the_same_shape(source_state):
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    mapped = remap_lite0_state_dict(source_state, target)
    assert len(source_state) == len(target) == len(mapped) == 296
    assert all(mapped[k].shape == target[k].shape for k in target)
    # The map follows both models' order one to one.
    assert [lite0_key(k) for k in source_state] == list(target)


def test_key_map_rejects_a_shape_mismatch(source_state):
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    target["classifier.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ValueError, match=r"classifier\.weight"):
        remap_lite0_state_dict(source_state, target)


def test_pretrained_lite0_sees_a_cat_in_chelsea():
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    load_lite0_imagenet(model)
    model.eval()
    image = Image.fromarray(data.chelsea())
    x = torch.from_numpy(eval_transform(image, Preprocessing((256, 256), (224, 224))))[None]
    with torch.inference_mode():
        top1 = int(model(x).argmax(1))
    assert top1 in IMAGENET_CATS
