"""Scoring a first-spike network: predictions and correct / wrong / silent fractions."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.batching import map_batches
from fastspike.distributed import World

__all__ = [
    "evaluate",
    "evaluate_features",
    "evaluate_from",
    "evaluate_images",
    "fractions",
    "predict",
    "predict_images",
]


def fractions(pred: Tensor, labels: Tensor, world: World | None = None) -> dict[str, float]:
    """Correct / wrong / silent fractions; across ranks ``pred`` and ``labels`` are this
    rank's samples and the counts are summed over the ranks."""
    y = labels.to(pred.device)
    counts = torch.stack(
        [
            (pred == y).sum(),
            ((pred != y) & (pred >= 0)).sum(),
            (pred < 0).sum(),
            torch.tensor(pred.shape[0], device=pred.device),
        ]
    ).to(torch.int64)
    if world is not None:
        counts = world.all_reduce_sum(counts)
    c, w, sil, n = counts.tolist()
    n = max(1, n)
    return {"correct": c / n, "wrong": w / n, "silent": sil / n}


@torch.no_grad()
def evaluate(
    model, x_last: Tensor, labels: Tensor, batch_size: int = 1000, world: World | None = None
) -> dict[str, float]:
    """Fractions correct / wrong / silent of a decision network on its decision layer's inputs
    (across ranks: this rank's samples and labels, the counts summed over the ranks)."""
    return fractions(map_batches(lambda x: model.decide(x)[0], x_last, batch_size), labels, world)


@torch.no_grad()
def evaluate_features(
    model, features: Tensor, labels: Tensor, world: World | None = None
) -> dict[str, float]:
    """Fractions correct / wrong / silent of a linear-readout network on its features ``[N, D]``."""
    return fractions(model.classify_features(features), labels, world)


@torch.no_grad()
def evaluate_from(model, j_in: int, j: int, x: Tensor, labels: Tensor, batch_size: int = 1000, world=None):
    """:func:`evaluate` from the input of layer ``j_in`` (0-based), below the decision layer ``j``
    (across ranks: this rank's samples and labels, the counts summed over the ranks)."""
    if j_in == j:
        return evaluate(model, x, labels, batch_size, world)

    def decide(xb: Tensor) -> Tensor:
        return model.decide(model.next_inputs(j_in, j, xb))[0]

    return fractions(map_batches(decide, x, batch_size), labels, world)


@torch.no_grad()
def predict(model, times: Tensor, batch_size: int = 1000) -> Tensor:
    """Answers ``[N]`` int64 (class, -1 = silence) of the network on encoded inputs ``times``."""
    return map_batches(model, times, batch_size)


@torch.no_grad()
def predict_images(model, images: Tensor, batch_size: int = 1000, progress: bool = False) -> Tensor:
    """Encode uint8 images ``[N, H, W]`` with the model's own encoder and answer them:
    ``[N]`` int64 classes (-1 = silence), on the model's device."""
    dev = next(model.buffers()).device
    return map_batches(
        lambda img: model(model.encoder(img.to(dev))), images, batch_size, progress, "evaluate"
    )


@torch.no_grad()
def evaluate_images(
    model, images: Tensor, labels: Tensor, batch_size: int = 1000, progress: bool = False
) -> dict[str, float]:
    """Encode uint8 images ``[N, H, W]`` with the model's encoder and evaluate the network on
    them (decision layer or linear readout) -> correct / wrong / silent fractions."""
    return fractions(predict_images(model, images, batch_size, progress), labels)
