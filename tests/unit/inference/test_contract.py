"""The shared core: the calibrated scoring evaluation and serving both use, the preprocessing version
that keys the cache, the architectures and their eager form, and the one direction imports run in."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from handler.gradcam import grad_cam
from inference.architectures import ARCHITECTURES, architecture
from inference.labels import DISPLAY_NAMES, LABELS, UNKNOWN_LABEL
from inference.preprocessing import Preprocessing
from inference.runtime import load_eager
from inference.scoring import answer, calibrated, known

REPO = Path(__file__).resolve().parents[3]


def test_calibrated_probabilities_are_the_temperature_scaled_softmax():
    logits = np.random.default_rng(0).normal(0, 4, (64, 7)).astype(np.float32)
    for temperature in (0.5, 1.0, 2.3):
        expected = torch.softmax(torch.from_numpy(logits) / temperature, dim=1).numpy()
        assert np.allclose(calibrated(logits, temperature), expected, atol=1e-6)
    assert np.allclose(calibrated(np.array([[1000.0, 0.0]])).sum(), 1.0)  # no overflow


def test_an_answer_names_a_game_exactly_when_known_says_so():
    """evaluate chooses the threshold with ``known``; the handler answers with ``answer``: they agree."""
    probs = calibrated(np.random.default_rng(1).normal(0, 2, (200, 7)), 1.5)
    threshold = float(np.median(probs.max(axis=1)))
    names = known(probs, threshold)
    answers = [answer(p, list(LABELS), DISPLAY_NAMES, threshold) for p in probs]
    assert [a["label"] != UNKNOWN_LABEL for a in answers] == list(names)
    assert 0 < names.sum() < len(probs)
    for a, p in zip(answers, probs, strict=True):
        assert a["confidence"] == pytest.approx(p.max(), abs=1e-6)
        assert [r["probability"] for r in a["probabilities"]] == sorted(
            (r["probability"] for r in a["probabilities"]), reverse=True
        )


def test_the_preprocessing_version_is_stable_and_moves_with_what_the_model_sees():
    # Pinned: a change means every cached answer is asked again. Make it knowingly (REVISION).
    assert {name: a.preprocessing.version for name, a in ARCHITECTURES.items()} == {
        "resnet50": "011fbfbe58d1",
        "efficientnet_lite0": "6d76b403b046",
        "efficientnet_lite0_stages": "6d76b403b046",  # the same input as efficientnet_lite0
        "tiny": "652747872b1b",
        "tiny_stages": "652747872b1b",  # the same input as tiny
    }
    pre = architecture("tiny").preprocessing
    assert replace(pre, crop_size=(64, 128)).version != pre.version
    assert Preprocessing.from_dict(pre.to_dict()).version == pre.version


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_builds_seven_outputs_and_names_its_gradcam_layer(name):
    arch = architecture(name)
    model = arch.create(len(LABELS)).eval()
    layer = model.get_submodule(arch.gradcam_layer)
    assert any(n.startswith(arch.classifier) for n, _ in model.named_parameters())
    # the large ones are checked the same way by the handler tests' exported model
    if name.startswith("tiny"):
        torch.manual_seed(0)
        image = torch.randn(3, *arch.preprocessing.crop_size)
        with torch.inference_mode():
            assert model(image.unsqueeze(0)).shape == (1, len(LABELS))
        heatmap, _ = grad_cam(model, layer, image, (9, 16))  # the named layer runs in the forward
        assert heatmap.shape == (9, 16)
        assert heatmap.max() == 1


def test_the_eager_form_loads_from_its_weights_file(tmp_path):
    torch.manual_seed(0)
    original = architecture("tiny").create(len(LABELS)).eval()
    torch.save(original.state_dict(), tmp_path / "weights.pt")
    loaded = load_eager(tmp_path / "weights.pt", "tiny", len(LABELS))
    x = torch.randn(2, 3, 72, 128)
    with torch.inference_mode():
        assert torch.equal(loaded(x), original(x))


# The project's own top-level packages.
PACKAGES = (
    "inference",
    "training",
    "handler",
    "gateway",
    "ops",
    "client",
    "commandline",
    "launchers",
    "nginx",
    "tests",
    "benchmarks",
)


def imported_modules(package: str) -> set[tuple[str, str]]:
    """(file, module) for every import in ``package``, those inside functions included."""
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(path.name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path.name, node.module))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("inference", ("training", "handler", "gateway", "ops", "store", "launchers", "tests", "benchmarks")),
        ("handler", ("training", "gateway", "ops", "store", "tests", "benchmarks")),
        # the formats it shares with the operator's tools (the replica's report, the canary's counters)
        # live in inference/ like the other wire contracts: of ops/ it takes nothing
        ("gateway", ("training", "handler", "ops", "tests", "benchmarks")),
        ("ops", ("training", "handler", "gateway", "launchers", "tests", "benchmarks")),
        ("training", ("handler", "gateway", "store", "tests", "benchmarks")),
        # the system of record: the labels from inference/, nothing else of the project
        ("store", ("training", "handler", "gateway", "ops", "client", "launchers", "tests", "benchmarks")),
        ("benchmarks", ("tests",)),
        ("launchers", ("tests", "benchmarks")),
        ("client", ("gateway", "handler", "training", "ops", "launchers", "nginx", "tests", "benchmarks")),
        ("commandline", PACKAGES),
    ],
)
def test_imports_run_one_way(package, forbidden):
    wrong = sorted(
        (name, module) for name, module in imported_modules(package) if module.split(".")[0] in forbidden
    )
    assert wrong == [], f"{package} must not import {', '.join(forbidden)}"


def test_the_folder_cli_takes_only_the_format_rules_labels_and_answer_shape_from_the_project():
    """client/ talks to the stack over its public API; of the project it shares what files are sent, the
    labels it sorts copies by (a label outside them is refused as a folder name), the answer's shape it
    reads (inference.answers, the one the gateway answers with), and the parser every typed command
    shares."""
    project = set(PACKAGES) - {"client"}
    used = {module for _, module in imported_modules("client") if module.split(".")[0] in project}
    assert used == {"inference.formats", "inference.labels", "inference.answers", "commandline"}


def test_the_operator_tools_do_not_load_torch():
    """The reconciler runs beside TorchServe in a small container; torch alone takes several times that."""
    code = "import sys, ops.reconciler, ops.models, ops.torchserve; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_the_eval_transform_is_torchvisions_bit_for_bit_without_torch():
    """The serving path leaves torch out (its thread pool slowed inference); the numbers stay the same."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    from inference.preprocessing import cover_size, eval_transform

    rng = np.random.default_rng(3)
    for size in ((640, 360), (1920, 1080), (333, 501)):
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        for name in ARCHITECTURES:
            pre = architecture(name).preprocessing
            resized = F.resize(
                image, list(cover_size(image.size, pre.resize_size)), InterpolationMode.BILINEAR
            )
            cropped = F.center_crop(resized, list(pre.crop_size))
            expected = F.normalize(F.pil_to_tensor(cropped).float().div_(255.0), pre.mean, pre.std)
            assert np.array_equal(eval_transform(image, pre), expected.numpy()), (size, name)


def test_the_answer_mix_is_shares_of_labels_and_of_confidence_tenths():
    """What export writes as a model's reference and what the gateway counts in service, in one terms."""
    from inference.answer_mix import CONFIDENCE_BANDS, answer_mix, confidence_band

    assert [confidence_band(c) for c in (0.0, 0.05, 0.1, 0.55, 0.999, 1.0)] == [
        "0.0",
        "0.0",
        "0.1",
        "0.5",
        "0.9",
        "0.9",
    ]
    mix = answer_mix(["sekiro", "sekiro", UNKNOWN_LABEL, "elden_ring"], [0.95, 0.91, 0.4, 0.72], LABELS)
    assert mix["label_share"]["sekiro"] == 0.5
    assert mix["label_share"][UNKNOWN_LABEL] == mix["unknown_share"] == 0.25
    assert set(mix["label_share"]) == {*LABELS, UNKNOWN_LABEL}
    assert list(mix["confidence_share"]) == list(CONFIDENCE_BANDS)
    assert (mix["confidence_share"]["0.9"], mix["confidence_share"]["0.4"], mix["answers"]) == (0.5, 0.25, 4)
