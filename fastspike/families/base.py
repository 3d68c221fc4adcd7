"""What a network family is: how the networks of one kind are built, trained, saved and loaded.

A registry entry's spec names its family (``spec.family``); the CLI, :func:`fastspike.train`,
``eval``, ``serve`` and ``plot`` find the family there and call the methods below, never
asking which kind of network they hold. Every family writes the same run folder: the
checkpoint format of :mod:`fastspike.training.checkpoint` (``last.pt``, ``best.pt``, with
their checksum), ``history.json`` / ``history.csv`` and ``metrics.json``.
"""

from __future__ import annotations

from typing import Any

import torch

from fastspike.training.config import RunConfig

__all__ = ["Family"]


class Family:
    """One kind of network. Subclasses set :attr:`name` (the ``spec.family`` they serve and
    the ``kind`` their checkpoints carry) and implement the methods."""

    name: str = ""
    #: RunConfig fields this family has no use for (a run that sets one is an error)
    unused: tuple[str, ...] = ()

    def check(self, spec: Any, cfg: RunConfig) -> None:
        """A ``ValueError`` naming every option of ``cfg`` this family does not use."""
        defaults = RunConfig()
        given = [f for f in self.unused if getattr(cfg, f) != getattr(defaults, f)]
        if given:
            raise ValueError(
                f"{', '.join(given)}: not used by {spec.name} ({type(self).__doc__.splitlines()[0]})"
            )

    def spec_from_dict(self, d: dict) -> Any:
        """The spec a checkpoint or config stores as plain data."""
        raise NotImplementedError

    def build(self, spec: Any, seed: int = 0, compat: bool = False) -> torch.nn.Module:
        """A fresh network of ``spec`` with initial weights from ``seed``."""
        raise NotImplementedError

    def train(self, spec: Any, cfg: RunConfig, preset: dict) -> tuple[torch.nn.Module, list[dict]]:
        """Train, choose, test and save as ``cfg`` says; ``preset``: the network's overrides
        for ``cfg.preset`` (phase layer -> ``epochs`` / ``samples``). Returns ``(model,
        history)``; ``model.test_metrics`` holds the test metrics (``None`` if unfinished)."""
        raise NotImplementedError

    def load(self, ckpt: dict, path: str, device: str | torch.device = "cpu", best: bool = True):
        """The trained network a checkpoint holds (``best``: with its chosen weights)."""
        raise NotImplementedError

    def evaluate(self, model: Any, images, labels) -> dict:
        """Test metrics (:func:`fastspike.metrics.classification_metrics`) of a trained network
        on uint8 images ``[N, H, W]`` and their labels."""
        raise NotImplementedError

    def describe_metrics(self, metrics: dict) -> str:
        """The headline figures of :meth:`evaluate`'s metrics, for the CLI."""
        return (
            f"correct {metrics['accuracy']:.4f} wrong {metrics['wrong']:.4f} silent {metrics['silent']:.4f} "
            f"macro F1 {metrics['macro_f1']:.4f}"
        )

    def summary(self, model: Any) -> str:
        """One line on a finished run's result, for the CLI."""
        raise NotImplementedError

    def device_of(self, model: Any) -> torch.device:
        return next(model.buffers()).device
