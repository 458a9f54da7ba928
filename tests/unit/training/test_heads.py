"""Heads fitted on a frozen backbone's embedding, written into the model's own Linear layer, answer as the
fitted heads do, so every serving form exports unchanged (training.heads)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from inference.architectures import architecture
from inference.labels import LABELS
from training.heads import embed, fit_cosine, fit_head, one_thread, write_head


def _model_and_embeddings() -> tuple[torch.nn.Module, torch.Tensor, np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    model = architecture("tiny").create(len(LABELS)).eval()
    images = torch.randn(70, 3, 72, 128) + torch.arange(70).remainder(7).view(70, 1, 1, 1) * 0.3
    labels = torch.arange(70).remainder(7)
    x, y = embed(model, "tiny", DataLoader(TensorDataset(images, labels), batch_size=16), "test")
    return model, images, x, y


def test_the_embedding_is_what_the_classifier_reads():
    model, images, x, y = _model_and_embeddings()
    with torch.inference_mode():
        logits = model(images).numpy()
    layer = model.fc
    assert x.shape == (70, layer.in_features)
    assert np.allclose(x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy(), logits, atol=1e-5)
    assert list(y) == [i % 7 for i in range(70)]


def test_a_logistic_head_written_into_the_linear_layer_answers_as_scikit_learn_does():
    model, images, x, y = _model_and_embeddings()
    weights = np.linspace(0.5, 2.0, len(y))
    head = fit_head("logreg", x, y, weights, c=0.5, seed=0)
    write_head(model, "tiny", head)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000, random_state=0))
    reference.fit(x, y, standardscaler__sample_weight=weights, logisticregression__sample_weight=weights)
    with torch.inference_mode():
        served = torch.softmax(model(images), 1).numpy()
    assert np.allclose(served, reference.predict_proba(x), atol=1e-4)


def test_a_cosine_head_served_as_a_linear_layer_ranks_every_image_as_the_cosine_classifier():
    model, images, x, y = _model_and_embeddings()
    with one_thread():
        head = fit_cosine(x, y, np.ones(len(y)))
    write_head(model, "tiny", head)
    prototypes = F.normalize(torch.from_numpy(head.weight), dim=1)
    cosine = F.normalize(torch.from_numpy(x), dim=1) @ prototypes.T
    with torch.inference_mode():
        served = model(images)
    assert torch.equal(served.argmax(1), cosine.argmax(1))
    assert (served.argmax(1).numpy() == y).mean() > 0.5  # it learned something of the seven


def test_a_game_without_a_training_image_is_never_the_answer():
    _, _, x, y = _model_and_embeddings()
    present = y != LABELS.index("sekiro")
    head = fit_head("logreg", x[present], y[present], np.ones(int(present.sum())), c=1.0, seed=0)
    assert not (head.logits(x).argmax(1) == LABELS.index("sekiro")).any()
