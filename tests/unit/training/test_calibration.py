import numpy as np
import pytest
import torch
from torch.nn import functional as F

from training.calibration import (
    expected_calibration_error,
    fewest_images_to_name,
    fit_temperature,
    risk_controlled_threshold,
    unknown_threshold,
)


def test_temperature_undoes_overconfidence_and_lowers_nll():
    torch.manual_seed(0)
    clean = torch.randn(4000, 7) * 1.5
    # Labels drawn from softmax(clean): those logits are calibrated by construction.
    labels = torch.multinomial(torch.softmax(clean, 1), 1).squeeze(1)
    overconfident = clean * 4.0
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(4.0, rel=0.15)
    assert F.cross_entropy(overconfident / temperature, labels) < F.cross_entropy(overconfident, labels)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_not():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    calibrated = np.tile([0.75, 0.25], (8, 1))
    calibrated[4:] = [0.25, 0.75]
    calibrated_labels = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    assert expected_calibration_error(calibrated, calibrated_labels) == pytest.approx(0.0)
    overconfident = np.tile([0.99, 0.01], (8, 1))
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.49)


def test_unknown_threshold_keeps_most_correct_answers_and_reaches_target_accuracy():
    rng = np.random.default_rng(0)
    confidence_correct = rng.uniform(0.6, 1.0, 900)
    confidence_wrong = rng.uniform(0.2, 0.6, 100)
    probs = np.zeros((1000, 2))
    probs[:, 0] = np.r_[confidence_correct, confidence_wrong]
    probs[:, 1] = 1 - probs[:, 0]
    labels = np.r_[np.zeros(900), np.ones(100)].astype(int)
    labels[900:] = np.where(probs[900:, 0] >= 0.5, 1, 0)  # wrong answers stay wrong
    threshold = unknown_threshold(probs, labels, keep=0.95, target_accuracy=0.95)
    accepted = probs.max(1) >= threshold
    assert (probs.argmax(1)[accepted] == labels[accepted]).mean() >= 0.95
    assert accepted[:900].mean() >= 0.9


def test_temperature_stays_bounded_when_validation_is_perfectly_separable():
    labels = torch.arange(7).repeat(20)
    logits = 10.0 * F.one_hot(labels, 7).float()
    assert 0.5 <= fit_temperature(logits, labels) < 1.0


def test_unknown_threshold_has_a_ceiling_when_every_answer_is_certain():
    probs = np.tile([0.9999, 0.0001], (100, 1))
    labels = np.zeros(100, dtype=int)
    assert unknown_threshold(probs, labels) <= 0.9


def test_the_real_image_threshold_names_all_it_can_with_the_expected_wrong_share_bounded():
    # Ten real screenshots: confidences and whether the model's top answer is right.
    confidence = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.5, 0.45, 0.4])
    right = np.array([1, 1, 0, 1, 1, 0, 1, 0, 1, 0], bool)
    probs = np.stack([confidence, (1 - confidence) / 2, (1 - confidence) / 2], 1)  # class 0 on top
    labels = np.where(right, 0, 1)
    # (named wrong + 1) / 11 <= bound: at 0.2 one wrong answer may be named (0.85), from 0.7 up.
    assert risk_controlled_threshold(probs, labels, max_wrong=0.2) == pytest.approx(0.7)
    assert risk_controlled_threshold(probs, labels, max_wrong=0.3) == pytest.approx(0.6)
    assert risk_controlled_threshold(probs, labels, max_wrong=0.4) == pytest.approx(0.45)
    # At 0.1 none may be: only the two above the first wrong answer are named.
    assert risk_controlled_threshold(probs, labels, max_wrong=0.1) == pytest.approx(0.9)
    # The plain share of these ten would allow one wrong answer at 0.1; the bound on new images does not.
    assert ((confidence >= 0.7) & ~right).mean() <= 0.1


def test_too_few_calibration_images_name_nothing_however_right_they_are():
    probs = np.tile([0.9, 0.1], (fewest_images_to_name(0.1), 1))
    labels = np.zeros(len(probs), dtype=int)
    assert fewest_images_to_name(0.1) == 9
    assert risk_controlled_threshold(probs, labels, 0.1) == pytest.approx(0.9)  # all nine named
    assert risk_controlled_threshold(probs[1:], labels[1:], 0.1) > 0.9  # eight: none
