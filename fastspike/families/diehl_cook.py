"""The Diehl & Cook family: fully connected networks of multi-spike neurons trained image by image.

Build: :class:`fastspike.diehlcook.DiehlCook`. Train: every training image in order
through the fused kernel (trace STDP, adaptive thresholds), then the neurons are labelled
from training images and the test set is read once with both readouts. Run folder,
checkpoint format, history and metrics are the ones every family writes
(:mod:`fastspike.training`).
"""

from __future__ import annotations

import json
import os
import time

import torch
from torch import Tensor

from fastspike.batching import progress_bar
from fastspike.data import load_dataset
from fastspike.diehlcook import KIND, DiehlCook, DiehlCookSpec
from fastspike.families.base import Family
from fastspike.metrics import classification_metrics
from fastspike.tblog import RunLogger
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.training.devices import resolve_device
from fastspike.training.history import write_history
from fastspike.usage import run_started

__all__ = ["DiehlCookFamily", "checkpoint_of", "from_checkpoint", "load_diehl_cook", "train_diehl_cook"]


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def checkpoint_of(model: DiehlCook, position: dict, config: dict) -> dict:
    """A Diehl & Cook network's checkpoint (:mod:`fastspike.training.checkpoint`)."""
    return {
        "format": checkpoint.FORMAT,
        "version": checkpoint.VERSION,
        "kind": KIND,
        "spec": model.spec.to_dict(),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "progress": {**position, "history": model.history},
    }


def load_diehl_cook(path: str, device: str | torch.device = "cpu") -> DiehlCook:
    """A Diehl & Cook network from a checkpoint (plain data only: nothing in it runs)."""
    return from_checkpoint(checkpoint.load(path), path).to(device)


def from_checkpoint(ckpt: dict, path: str) -> DiehlCook:
    """The network a Diehl & Cook checkpoint holds (its weights, labels, history, metrics)."""
    if ckpt.get("kind") != KIND:
        raise ValueError(f"checkpoint {path!r}: not a Diehl & Cook checkpoint (kind {ckpt.get('kind')!r})")
    spec = DiehlCookSpec.from_dict(ckpt["spec"])
    model = DiehlCook(spec)
    state = ckpt["model"]
    if set(state) != set(model.state_dict()):
        raise ValueError(
            f"checkpoint {path!r}: expected buffers {sorted(model.state_dict())}, got {sorted(state)}"
        )
    for k, v in model.state_dict().items():
        if not isinstance(state[k], Tensor) or state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise ValueError(
                f"checkpoint {path!r}: buffer {k!r} is not a {v.dtype} tensor of shape {tuple(v.shape)}"
            )
    model.load_state_dict(state)
    prog = ckpt.get("progress", {})
    model.history = list(prog.get("history", []))
    model.test_metrics = prog.get("test_metrics")
    model.dataset = ckpt.get("config", {}).get("dataset")
    model.seed = int(ckpt.get("config", {}).get("seed", 0))
    return model


def _bar(total: int, desc: str, enabled: bool):
    return progress_bar(total, desc, enabled, unit="img")


def train_diehl_cook(
    model: DiehlCookSpec,
    dataset: str = "mnist",
    root: str = "data",
    *,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    samples: int | None = None,
    label_samples: int | None = None,
    test_samples: int | None = None,
    seed: int = 0,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    chunk: int = 1000,
    download: bool = True,
    stop_after_chunks: int | None = None,
    tensorboard: bool = False,
) -> tuple[DiehlCook, list[dict]]:
    """Train, label and test a Diehl & Cook network.

    Args:
        model: the network's spec (``fastspike.get_spec("diehlcook2015")``, ...).
        epochs: passes over the training images (default: the spec's, 1).
        samples: train on the first ``samples`` training images (default all).
        label_samples: assign the labels from the first ``label_samples`` training images
            (default: those trained on). Labels never come from the test set.
        test_samples: test on the first ``test_samples`` test images (default all).
        seed: initial weights and the Poisson draws; a run repeats bit for bit from it.
        checkpoint_dir: ``last.pt`` after every ``chunk`` training images, ``best.pt`` (the
            labelled network) and ``history.json`` at the end.
        resume: continue from ``checkpoint_dir/last.pt``; the result equals an
            uninterrupted run's.
        stop_after_chunks: stop (as if interrupted) after this many chunks in this call.
        tensorboard: also log every chunk's history row and the weight and threshold
            histograms to ``checkpoint_dir/tensorboard``.

    Returns ``(model, history)``; ``model.test_metrics`` holds both readouts' test metrics
    (``accuracy`` is the all-activity readout's).
    """
    spec = model
    if getattr(spec, "family", None) != KIND:
        raise ValueError(f"model: expected a Diehl & Cook network spec, got {type(spec).__name__}")
    if epochs is not None:
        spec = spec.replace(epochs=epochs)
    for name, v in (("samples", samples), ("label_samples", label_samples), ("test_samples", test_samples)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name}: expected a positive number of images, got {v!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive number of images, got {chunk!r}")
    dev = resolve_device(device)
    train_set, test_set = load_dataset(dataset, root, download=download)
    if tuple(train_set.images.shape[-2:]) != spec.input_size or len(train_set.classes) != spec.n_classes:
        raise ValueError(
            f"dataset: {dataset} has {tuple(train_set.images.shape[-2:])} images of {len(train_set.classes)} "
            f"classes; {spec.name} takes {spec.input_size} images of {spec.n_classes} classes"
        )
    train_set = train_set.subset(samples)
    label_set = train_set.subset(label_samples)
    test_set = test_set.subset(test_samples)
    n = len(train_set)
    config = {"dataset": dataset, "samples": n, "label_samples": len(label_set),
              "test_samples": len(test_set), "seed": seed, "epochs": spec.epochs, "chunk": chunk}  # fmt: skip
    last = os.path.join(checkpoint_dir, "last.pt") if checkpoint_dir else None
    net = DiehlCook(spec, seed=seed).to(dev)
    net.dataset = dataset
    position = {"epoch": 0, "done": 0, "seconds": 0.0}
    if resume:
        last, ckpt = checkpoint.for_resume(checkpoint_dir)
        saved = ckpt.get("spec") if isinstance(ckpt.get("spec"), dict) else {}
        if (
            ckpt.get("kind") != KIND
            or not checkpoint.same_network(saved, spec.to_dict())
            or (ckpt.get("config") != config)
        ):
            raise checkpoint.other_run(
                last,
                f"{ckpt.get('config')}, network {saved.get('name')!r}",
                f"{config}, network {spec.name!r}",
            )
        net = from_checkpoint(ckpt, last).to(dev)
        net.dataset = dataset
        position = {k: ckpt["progress"][k] for k in position}
    if tensorboard and not checkpoint_dir:
        raise ValueError("tensorboard: needs checkpoint_dir (the logs go into the run folder)")
    run_started()  # the data is there and fits the network
    tb = None
    if tensorboard:
        tensors = {"weights/excitatory": net.weight, "theta": net.theta}
        tb = RunLogger(os.path.join(checkpoint_dir, "tensorboard"), tensors)
    images = train_set.images.reshape(n, -1)
    chunks = 0
    t_start = time.perf_counter() - position["seconds"]
    with _bar(spec.epochs * n, f"{spec.name} STDP", progress) as bar:
        bar.update(position["epoch"] * n + position["done"])
        while position["epoch"] < spec.epochs:
            e = position["epoch"]
            while position["done"] < n:
                s = position["done"]
                t0 = time.perf_counter()
                _, attempts = net.learn(images[s : s + chunk], seed)
                k = min(chunk, n - s)
                bar.update(k)
                position["done"] = s + k
                position["seconds"] = time.perf_counter() - t_start
                net.history.append({
                    "epoch": e + 1, "samples": s + k, "seconds": round(time.perf_counter() - t0, 4),
                    "samples_per_s": round(k / max(time.perf_counter() - t0, 1e-9), 1),
                    "presentations": int(attempts.sum()), "wall": _now(),
                    "theta_mean": round(float(net.theta.mean()), 4),
                })  # fmt: skip
                chunks += 1
                if tb is not None:
                    tb.row(spec.name, net.history[-1], e * n + s + k, skip=("epoch", "samples", "seconds"))
                if last:
                    checkpoint.save(last, checkpoint_of(net, position, config))
                    write_history(checkpoint_dir, net.history)
                if stop_after_chunks is not None and chunks >= stop_after_chunks:
                    if tb is not None:
                        tb.close()
                    return net, net.history
            position["epoch"] += 1
            position["done"] = 0
            if progress:  # one line per epoch, on a terminal and in a log file alike
                bar.write(
                    f"{spec.name} epoch {position['epoch']}/{spec.epochs}: {n} images, "
                    f"{position['seconds']:.1f} s, mean theta {float(net.theta.mean()):.4f}"
                )
    train_seconds = position["seconds"]
    if tb is not None:
        tb.close()
    # labelling (frozen, training images), then the test set
    t0 = time.perf_counter()
    with _bar(len(label_set), f"{spec.name} labelling", progress) as bar:
        counts = net.responses(label_set.images, seed=seed + 1, progress=bar.update)
    net.label(counts, label_set.labels)
    label_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    with _bar(len(test_set), f"{spec.name} test", progress) as bar:
        test_counts = net.responses(test_set.images, seed=seed + 2, progress=bar.update)
    test_seconds = time.perf_counter() - t0
    metrics = {}
    for readout in ("all_activity", "proportion"):
        metrics[readout] = classification_metrics(
            net.predict(test_counts, readout), test_set.labels, spec.n_classes
        )
    net.test_metrics = {
        **metrics["all_activity"],
        "proportion_accuracy": metrics["proportion"]["accuracy"],
        "readouts": metrics,
        "train_seconds": round(train_seconds, 2),
        "train_images_per_s": round(spec.epochs * n / max(train_seconds, 1e-9), 1),
        "label_seconds": round(label_seconds, 2),
        "test_seconds": round(test_seconds, 2),
        "inference_images_per_s": round(len(test_set) / max(test_seconds, 1e-9), 1),
    }
    if checkpoint_dir:
        ck = checkpoint_of(net, position, config)
        ck["progress"]["test_metrics"] = net.test_metrics
        checkpoint.save(os.path.join(checkpoint_dir, "best.pt"), ck)
        checkpoint.save(last, ck)
        write_history(checkpoint_dir, net.history)
        with open(os.path.join(checkpoint_dir, "metrics.json"), "w") as f:
            json.dump(
                {"model": spec.name, "dataset": dataset, "test_images": len(test_set), **net.test_metrics},
                f,
                indent=1,
            )
    return net, net.history


class DiehlCookFamily(Family):
    """Diehl & Cook 2015 and its sizes (``diehlcook2015``, ``-400``, ``-6400``)."""

    name = KIND
    #: RunConfig fields a Diehl & Cook run has no use for (it trains image by image)
    unused = ("batch_size", "validation", "cache_dir", "compat", "T", "stop_after_epochs")

    def spec_from_dict(self, d: dict) -> DiehlCookSpec:
        return DiehlCookSpec.from_dict(d)

    def build(self, spec: DiehlCookSpec, seed: int = 0, compat: bool = False) -> DiehlCook:
        return DiehlCook(spec, seed=seed)

    def train(self, spec: DiehlCookSpec, cfg: RunConfig, preset: dict) -> tuple[DiehlCook, list[dict]]:
        self.check(spec, cfg)

        def one(v, what: str):
            if isinstance(v, dict):
                v = list(v.values())
            if isinstance(v, (list, tuple)):
                if len(v) != 1:
                    raise ValueError(f"{what}: expected one value for {spec.name} (one phase), got {v}")
                v = v[0]
            return v

        return train_diehl_cook(
            spec, cfg.dataset, cfg.root, device=cfg.device, epochs=one(cfg.epochs, "epochs"),
            samples=one(cfg.samples, "samples"), test_samples=cfg.test_samples, seed=cfg.seed,
            checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume, progress=cfg.progress,
            download=cfg.download, tensorboard=cfg.tensorboard,
        )  # fmt: skip

    def load(self, ckpt: dict, path: str, device="cpu", best: bool = True) -> DiehlCook:
        return from_checkpoint(ckpt, path).to(device)

    def evaluate(self, model: DiehlCook, images, labels) -> dict:
        if bool((model.assignments < 0).all()):
            raise ValueError("model: its neurons carry no labels yet (a run that did not finish)")
        counts = model.responses(images, seed=model.seed + 2)  # the test draws of its training run
        metrics = classification_metrics(model.predict(counts), labels, model.n_classes)
        prop = classification_metrics(model.predict(counts, "proportion"), labels, model.n_classes)
        return {**metrics, "proportion_accuracy": prop["accuracy"]}

    def describe_metrics(self, metrics: dict) -> str:
        return (
            f"correct {metrics['accuracy']:.4f} (all activity; proportion weighting "
            f"{metrics['proportion_accuracy']:.4f})"
        )

    def summary(self, model: DiehlCook) -> str:
        m = model.test_metrics
        return (
            f"test accuracy {m['accuracy']:.4f} (all activity; proportion weighting "
            f"{m['proportion_accuracy']:.4f}); training {m['train_images_per_s']:.0f} images/s, "
            f"inference {m['inference_images_per_s']:.0f} images/s"
        )

    def device_of(self, model: DiehlCook) -> torch.device:
        return model.weight.device
