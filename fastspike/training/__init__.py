"""Training: the run configuration, the conv trainer's loop, evaluation, checkpoints, history.

* :mod:`~fastspike.training.config`: :class:`RunConfig`, one run's options;
* :mod:`~fastspike.training.loop`: the phases of a first-spike network, in order;
* :mod:`~fastspike.training.evaluation`: predictions and correct / wrong / silent fractions;
* :mod:`~fastspike.training.checkpoint`: the checkpoint format every family writes;
* :mod:`~fastspike.training.history`: a run folder's per-epoch history;
* :mod:`~fastspike.training.devices`: the device a run uses.

The learning rules themselves are objects of :mod:`fastspike.rules`; this package drives
them through their methods.
"""

from __future__ import annotations

from torch import Tensor

from fastspike.distributed import Shard
from fastspike.rules import Learner, learner
from fastspike.spec import Phase
from fastspike.training.config import RunConfig
from fastspike.training.evaluation import (
    evaluate,
    evaluate_features,
    evaluate_images,
    fractions,
    predict,
    predict_images,
)

__all__ = [
    "RunConfig",
    "evaluate",
    "evaluate_features",
    "evaluate_images",
    "fractions",
    "learner",
    "predict",
    "predict_images",
    "train_epoch",
]


def train_epoch(
    model,
    layer: int | str,
    x: Tensor | Shard,
    learner: Learner,
    labels: Tensor | None = None,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "",
    epoch: int = 0,
    phase: Phase | None = None,
) -> dict[str, float]:
    """One epoch of ``layer``'s ``learner`` (made by :func:`learner` for this model and layer)
    over ``x``: see :meth:`fastspike.rules.base.Learner.train_epoch`."""
    if not isinstance(learner, Learner) or learner.model is not model:
        raise TypeError(f"learner: expected fastspike.training.learner(model, {layer!r}), got {learner!r}")
    if model.index(layer) != model.index(learner.layer):
        raise ValueError(f"learner: trains {learner.layer!r}, not {layer!r}")
    if phase is not None and phase != learner.phase:
        raise ValueError(f"phase: {phase} is not the learner's phase {learner.phase}")
    return learner.train_epoch(
        x, labels=labels, batch_size=batch_size, progress=progress, desc=desc, epoch=epoch
    )
