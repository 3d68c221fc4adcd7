"""One run's configuration: what :func:`fastspike.train` and ``python -m fastspike train`` take."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["RunConfig"]


def _positive_or_none(name: str, v: Any) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        raise ValueError(f"{name}: expected a positive integer or None, got {v!r}")


@dataclass
class RunConfig:
    """How to train a network: data, schedule overrides, device, run folder.

    Args:
        dataset, root: a dataset of :func:`fastspike.data.load_dataset` (``"mnist"``,
            ``"fashion-mnist"``, ``"kmnist"``, ``"emnist"``, ``"cifar10"``, ``"folder"``) under
            ``root``. The network takes the dataset's image size (its layers are checked
            against it); its number of classes must be the dataset's.
        device: default CUDA when available, else CPU.
        preset: ``"paper"`` (the spec's phases as they are), ``"quick"`` or ``"tiny"``: the
            network's own presets (:func:`fastspike.registry.presets_of`).
        epochs, samples: per phase (a sequence in phase order, or a dict phase layer -> value),
            overriding the preset; ``samples`` ``None`` = the whole training set.
        test_samples: evaluate on the first ``test_samples`` test images only.
        validation: the last ``validation`` training images are held out (never trained on)
            and every evaluated epoch is scored on them; a ``keep_best`` phase keeps the
            weights of its best epoch on this split. The test set is evaluated once, at the
            end, with the chosen weights. Default (``None``): 10,000 when a phase keeps its
            best epoch, else 0 (nothing is chosen, so every image trains).
        batch_size: samples per batched update (1 = the exact sequential algorithm); a
            phase's own ``batch_size`` wins. Default 64.
        seed: initial weights; a run is reproducible from its seed on the same device.
        T: time steps, overriding the spec's.
        checkpoint_dir: the run folder: ``last.pt`` after every epoch, ``best.pt``,
            ``metrics.json`` and ``history.json`` / ``history.csv``.
        resume: continue from ``checkpoint_dir/last.pt`` (exactly as an uninterrupted run
            would go on).
        progress: one line per epoch, and progress bars when stderr is a terminal (none in a
            log file).
        compat: reproduce the reference's quirks.
        download: fetch a missing dataset (torchvision's download).
        cache_dir: cache the encoded dataset on disk.
        stop_after_epochs: stop (as if interrupted) after this many epochs in this call.
        tensorboard: also log every epoch to ``checkpoint_dir/tensorboard``.
        image_size: ``(height, width)`` that ``dataset="folder"`` images are resized to.
    """

    dataset: str = "mnist"
    root: str = "data"
    device: str | torch.device | None = None
    preset: str = "quick"
    epochs: Sequence[int | None] | dict[str, int] | None = None
    samples: Sequence[int | None] | dict[str, int | None] | None = None
    test_samples: int | None = None
    validation: int | None = None
    batch_size: int | None = None
    seed: int = 0
    T: int | None = None
    checkpoint_dir: str | None = None
    resume: bool = False
    progress: bool = True
    compat: bool = False
    download: bool = True
    cache_dir: str | None = None
    stop_after_epochs: int | None = None
    tensorboard: bool = False
    image_size: tuple[int, int] = (28, 28)

    def __post_init__(self) -> None:
        _positive_or_none("batch_size", self.batch_size)
        if self.test_samples is not None and (
            isinstance(self.test_samples, bool)
            or not isinstance(self.test_samples, int)
            or self.test_samples < 1
        ):
            raise ValueError(
                f"test_samples: expected a positive number of test images or None, got {self.test_samples!r}"
            )
        if self.validation is not None and (
            isinstance(self.validation, bool) or not isinstance(self.validation, int) or self.validation < 0
        ):
            raise ValueError(
                f"validation: expected a number of held-out training images >= 0, got {self.validation!r}"
            )
        if self.resume and not self.checkpoint_dir:
            raise ValueError("resume: needs checkpoint_dir")
        if self.tensorboard and not self.checkpoint_dir:
            raise ValueError("tensorboard: needs checkpoint_dir (the logs go into the run folder)")

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]
