import pytest
import torch

from training.backbones import WeightsUnavailableError, available, build_model, get_spec


def test_the_reference_backbones_are_available():
    assert {"resnet50", "efficientnet_lite0", "tiny"} <= set(available())


@pytest.mark.parametrize("arch", ["tiny", "efficientnet_lite0"])
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
