import numpy as np
import pytest
import torch

from training.backbones import (
    WeightsUnavailableError,
    available,
    build_model,
    get_spec,
    with_stage_statistics,
)
from training.export import build_forms
from training.heads import classifier


def test_the_reference_backbones_are_available():
    assert {"resnet50", "efficientnet_lite0", "tiny"} <= set(available())


@pytest.mark.parametrize("arch", ["tiny", "tiny_stages", "efficientnet_lite0", "efficientnet_lite0_stages"])
def test_models_output_seven_logits_on_16_9_input(arch):
    pre = get_spec(arch).preprocessing
    model = build_model(arch, weights="none").eval()
    with torch.inference_mode():
        assert model(torch.zeros(2, 3, *pre.crop_size)).shape == (2, 7)


def test_head_and_upper_stage_prefixes_name_real_parameters():
    for arch in available():
        names = [n for n, _ in build_model(arch, weights="none").named_parameters()]
        spec = get_spec(arch)
        assert any(n.startswith(spec.head) for n in names), arch
        assert any(n.startswith(spec.upper) for n in names), arch


def test_resnet50_without_cached_weights_fails_with_a_helpful_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="--weights none"):
        build_model("resnet50", weights="default")


def test_unknown_arch_names_the_choices():
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        get_spec("vgg11")


@pytest.mark.parametrize("arch", ["tiny", "efficientnet_lite0", "resnet50"])
def test_the_new_head_starts_with_pytorchs_linear_init(arch):
    """timm's own init of the head is 13x wider; with it the demo recipe lost 12 points of macro-F1."""
    head = build_model(arch, weights="none").get_submodule(get_spec(arch).architecture.classifier.rstrip("."))
    bound = 1 / head.in_features**0.5  # nn.Linear's default: uniform within 1/sqrt(fan_in)
    assert head.weight.abs().max() <= bound
    assert head.bias.abs().max() <= bound


@pytest.mark.parametrize(
    ("parent_arch", "pooled", "stages"),
    [
        ("efficientnet_lite0", 1280, (16, 24, 40, 80, 112, 192, 320)),
        ("tiny", 96, (16, 32, 64, 96)),  # what make test's refreshes take
    ],
)
def test_the_stage_statistics_variant_keeps_the_backbone_and_reads_its_pooled_embedding_first(
    parent_arch, pooled, stages
):
    """refresh's default embedding: the parent's weights unchanged, the classifier's input the parent's
    pooled embedding followed by each stage's mean and spread."""
    torch.manual_seed(0)
    parent = build_model(parent_arch, weights="none").eval()
    wider, arch = with_stage_statistics(parent, parent_arch)
    assert arch == f"{parent_arch}_stages"
    head = get_spec(arch).architecture.classifier
    shared = {k: v for k, v in parent.state_dict().items() if not k.startswith(head)}
    assert all(torch.equal(v, wider.state_dict()[k]) for k, v in shared.items())
    images = torch.randn(2, 3, *get_spec(arch).preprocessing.crop_size)
    seen: dict[str, torch.Tensor] = {}
    for name, model, model_arch in (("parent", parent, parent_arch), ("wider", wider, arch)):
        classifier(model, model_arch).register_forward_hook(
            lambda _m, args, _out, name=name: seen.__setitem__(name, args[0])
        )
        with torch.inference_mode():
            model(images)
    assert seen["wider"].shape == (2, pooled + 2 * sum(stages))
    assert torch.allclose(seen["wider"][:, :pooled], seen["parent"], atol=1e-5)
    assert (seen["wider"][:, pooled:] > 0).any()


def test_a_backbone_without_a_stage_statistics_variant_is_left_as_it_is():
    model = build_model("resnet50", weights="none")
    assert with_stage_statistics(model, "resnet50") == (model, "resnet50")


def test_the_stage_statistics_variant_exports_to_every_serving_form(tmp_path):
    """A refreshed run's archive ships one of these forms: each must take the stages' statistics."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0_stages", weights="none").eval()
    pre = get_spec("efficientnet_lite0_stages").preprocessing
    images = torch.randn(2, 3, *pre.crop_size)
    calibration = np.random.default_rng(0).normal(0, 1, (2, 3, *pre.crop_size)).astype(np.float32)
    forms = build_forms(model, images, tmp_path, threads=1, calibration=calibration)
    with torch.inference_mode():
        expected = model(images).numpy()
    assert set(forms) == {"eager", "torchscript", "onnx", "onnx-int8"}
    for name in ("torchscript", "onnx"):
        assert np.abs(forms[name][1](images.numpy()) - expected).max() < 1e-4, name
    assert forms["onnx-int8"][1](images.numpy()).shape == (2, 7)
