"""What users call: train, load and evaluate any registered or described network.

Every function here finds the network's family (:mod:`fastspike.families`) from its spec
or checkpoint and lets the family do the work.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from fastspike.families import family_of, family_of_checkpoint
from fastspike.registry import get_spec, load_config, preset_of
from fastspike.spec import NetworkSpec
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.training.evaluation import evaluate, evaluate_images, predict_images
from fastspike.usage import arg

__all__ = [
    "RunConfig",
    "evaluate",
    "evaluate_images",
    "load_model",
    "predict_images",
    "resolve_spec",
    "train",
    "train_mnist",
]


def resolve_spec(model: Any, T: int | None = None):
    """A spec from a registered name, a JSON/YAML config file or a spec (``T`` overrides its
    time steps; a Diehl & Cook network has none)."""
    if isinstance(model, str) and model.endswith((".json", ".yaml", ".yml")):
        spec = load_config(model)
    elif isinstance(model, str):
        spec = get_spec(model)
    elif hasattr(model, "family"):
        spec = model
    else:
        raise TypeError(f"model: expected a registered name, a config file or a NetworkSpec, got {model!r}")
    if T is None:
        return spec
    if not hasattr(spec, "T"):
        raise ValueError(f"T: a {spec.name} network has no T (its steps come from dt and t_present)")
    return spec if T == spec.T else spec.replace(T=T)


def train(
    model: str | NetworkSpec = "mozafari2018",
    dataset: str = "mnist",
    root: str = "data",
    *,
    config: RunConfig | None = None,
    **options: Any,
) -> tuple[torch.nn.Module, list[dict]]:
    """Train any network: a registered name (``python -m fastspike models``), a JSON/YAML
    config file, or a spec.

    ``options`` are the fields of :class:`~fastspike.training.config.RunConfig` (``device``,
    ``preset``, ``epochs``, ``samples``, ``test_samples``, ``validation``, ``batch_size``,
    ``seed``, ``T``, ``checkpoint_dir``, ``resume``, ``progress``, ``compat``, ``download``,
    ``cache_dir``, ``stop_after_epochs``, ``tensorboard``, ``image_size``), or pass a whole
    ``config``.

    Under ``torchrun`` (``torch.distributed`` initialised with several ranks; see
    :mod:`fastspike.distributed`) every rank encodes, caches and runs forward its share of
    the samples, the updates are exchanged and applied in global order, and the result
    (weights, history, metrics) equals one process's with the same ``batch_size`` bit for
    bit. Rank 0 alone prints, saves and logs.

    Returns:
        ``(model, history)``: the network (with the chosen weights of a ``keep_best`` phase)
        and one record per evaluated epoch (layer, epoch, train and validation correct /
        wrong / silent fractions, seconds, wall time). ``model.test_metrics`` holds the
        test-set metrics of the returned weights (:func:`fastspike.metrics.classification_metrics`).
    """
    unknown = sorted(set(options) - set(RunConfig.fields()))
    if unknown:
        raise TypeError(f"train: unknown option {unknown[0]!r} (expected some of {RunConfig.fields()})")
    cfg = (config or RunConfig()).replace(dataset=dataset, root=root, **options)
    T = cfg.T
    spec = resolve_spec(model)
    family = family_of(spec)
    if T is not None and not hasattr(spec, "T"):
        raise ValueError(f"T: a {spec.name} network has no T (its steps come from dt and t_present)")
    return family.train(spec, cfg, preset_of(spec, cfg.preset))


def phase_epochs(spec, epochs=None, epochs1=None, epochs2=None, epochs3=None):
    """``epochs`` (one per phase) from the per-phase overrides ``epochs1``..``epochs3`` of the
    first three phases (the others: the preset's), or ``epochs`` itself when none is given."""
    overrides = (epochs1, epochs2, epochs3)
    for i, e in enumerate(overrides):
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 1):
            raise ValueError(f"{arg(f'epochs{i + 1}')}: expected a positive number of epochs, got {e!r}")
    if all(e is None for e in overrides):
        return epochs
    if epochs is not None:
        raise ValueError(f"{arg('epochs')}: give either {arg('epochs')} or {arg('epochs1')}/2/3, not both")
    n_phases = len(getattr(spec, "phases", ()))
    extra = [i + 1 for i, e in enumerate(overrides) if e is not None and i >= n_phases]
    if extra:
        raise ValueError(f"{arg(f'epochs{extra[0]}')}: {spec.name!r} has only {n_phases} phases")
    return [overrides[i] if i < 3 else None for i in range(n_phases)]


def train_mnist(
    root: str = "data",
    *,
    model: str | NetworkSpec = "mozafari2018",
    dataset: str = "mnist",
    epochs: Sequence[int | None] | dict[str, int] | None = None,
    samples: Sequence[int | None] | dict[str, int | None] | None = None,
    **options: Any,
) -> tuple[torch.nn.Module, list[dict]]:
    """:func:`train` with ``root`` first (default Mozafari 2018 on MNIST), taking the same
    arguments; ``samples`` may be shorter than the phases (the rest: all samples).

    ``preset="quick"`` (default) trains Mozafari 2018 with the paper's S1/S2 schedule and 50
    R-STDP epochs; ``"paper"`` with 2/4/680 epochs. ``epochs1``, ``epochs2``, ``epochs3``
    (the epochs of the first three phases) still work but are deprecated: pass
    ``epochs=[e1, e2, e3]`` (``None``: the preset's), as :func:`train` takes.
    """
    old = {k: options.pop(k) for k in ("epochs1", "epochs2", "epochs3") if k in options}
    if old:
        warnings.warn(
            f"train_mnist: {', '.join(old)} {'is' if len(old) == 1 else 'are'} deprecated; pass "
            "epochs=[...] (one per phase, None = the preset's), as train() takes",
            DeprecationWarning,
            stacklevel=2,
        )
    spec = resolve_spec(model, None)
    n_phases = len(getattr(spec, "phases", ()))
    epochs = phase_epochs(spec, epochs, **old)
    if epochs is not None:
        options["epochs"] = epochs
    if samples is not None and not isinstance(samples, dict):
        samples = list(samples)
        for i, n in enumerate(samples):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise ValueError(f"samples{i + 1}: expected a positive number of samples or None, got {n!r}")
        if hasattr(spec, "phases"):  # one value per phase; the rest train on every sample
            samples = (samples + [None] * n_phases)[:n_phases]
    if samples is not None:
        options["samples"] = samples
    return train(spec, dataset, root, **options)


def load_model(path: str, device: str | torch.device = "cpu", best: bool = True):
    """Load a trained network of any family from a checkpoint file (with its best-epoch
    weights when ``best``). The file is read as plain data (``weights_only=True``); its spec
    rebuilds the network, so any registered or custom network loads."""
    ckpt = checkpoint.load(path)
    return family_of_checkpoint(ckpt, path).load(ckpt, path, device, best)
