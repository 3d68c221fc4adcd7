"""The first-spike convolutional family: every integrate-and-fire or Izhikevich conv net of the zoo.

Build: :class:`fastspike.network.Network` from a :class:`~fastspike.spec.NetworkSpec`.
Train: the spec's phases in order (:mod:`fastspike.training.loop`) with the learners of
:mod:`fastspike.rules`. Checkpoints: :func:`fastspike.training.loop.checkpoint_of`.
"""

from __future__ import annotations

import torch

from fastspike.families.base import Family
from fastspike.metrics import classification_metrics
from fastspike.network import Network
from fastspike.registry import mozafari2018
from fastspike.spec import NetworkSpec
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.training.evaluation import predict_images
from fastspike.training.loop import restore_weights, run, schedule

__all__ = ["ConvFamily", "spec_of_checkpoint"]


def spec_of_checkpoint(ckpt: dict, path: str) -> tuple[NetworkSpec, dict]:
    """The spec and run config of a conv checkpoint; version-1 files (Mozafari 2018 only) are converted."""
    version = ckpt.get("version")
    if version == 1 or ("format" not in ckpt and "config" in ckpt):
        cfg = ckpt.get("config", {}) if isinstance(ckpt.get("config"), dict) else {}
        arch = cfg.get("architecture")
        if arch != "mozafari2018":
            raise ValueError(
                f"checkpoint {path!r}: architecture {arch!r} is not 'mozafari2018' (the only "
                "network of version-1 checkpoints)"
            )
        return mozafari2018(T=int(cfg.get("T", 15))), {
            "compat": bool(cfg.get("compat", False)),
            "dataset": cfg.get("dataset", "mnist"),
        }
    if ckpt.get("format") != checkpoint.FORMAT or version not in (2, checkpoint.VERSION):
        raise ValueError(
            f"checkpoint {path!r}: not a fastspike checkpoint of version 1 to {checkpoint.VERSION} "
            f"(format {ckpt.get('format')!r}, version {version!r})"
        )
    return NetworkSpec.from_dict(ckpt["spec"]), ckpt.get("config", {})


class ConvFamily(Family):
    """First-spike convolutional networks (Mozafari 2018, Kheradpisheh 2018, the zoo)."""

    name = "conv"

    def spec_from_dict(self, d: dict) -> NetworkSpec:
        return NetworkSpec.from_dict(d)

    def build(self, spec: NetworkSpec, seed: int = 0, compat: bool = False) -> Network:
        return Network(spec, compat=compat, seed=seed)

    def train(self, spec: NetworkSpec, cfg: RunConfig, preset: dict) -> tuple[Network, list[dict]]:
        if cfg.T is not None and cfg.T != spec.T:
            spec = spec.replace(T=cfg.T)
        return run(schedule(spec, cfg, preset), cfg, spec_of_checkpoint)

    def load(self, ckpt: dict, path: str, device: str | torch.device = "cpu", best: bool = True) -> Network:
        spec, cfg = spec_of_checkpoint(ckpt, path)
        model = Network(spec, compat=bool(cfg.get("compat", False)), seed=None)
        try:
            model.load_state_dict(ckpt["model"])
        except (RuntimeError, KeyError) as err:
            raise ValueError(f"checkpoint {path!r}: weights do not fit {spec.name!r} ({err})") from err
        prog = ckpt.get("progress") or {}
        best_w = prog.get("best_weight")
        if best and best_w is not None:
            restore_weights(model, prog.get("best_layer") or model.layer_names[-1], best_w)
        model.dataset = cfg.get("dataset")
        model.test_metrics = prog.get("test_metrics")  # a best.pt's test metrics, else None
        return model.to(device)

    def evaluate(self, model: Network, images, labels) -> dict:
        return classification_metrics(predict_images(model, images), labels, model.n_classes)

    def summary(self, model: Network) -> str:
        result = f"test accuracy {model.test_metrics['accuracy']:.4f}"
        sel = model.selection
        if sel is not None:
            result += (
                f" (weights of {sel['layer']} epoch {sel['epoch']} of {sel['of']}, chosen on "
                f"{sel['validation']} validation images: {sel['val_correct']:.4f})"
            )
        return result
