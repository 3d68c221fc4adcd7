"""Training of the Mozafari 2018 network: schedules, batched (R-)STDP, checkpoints.

Semantics (ALGORITHMS.md 7-9): layers are trained one after the other on the
fixed (unshuffled) training order; S1 and S2 with STDP and the doubling
learning-rate schedule, S3 with R-STDP and adaptive reward/punishment rates,
evaluating the test set after every S3 epoch and keeping the best weights.
A batch runs its forward pass with the weights at the start of the batch and
then applies each sample's update in order (ALGORITHMS.md 8, option b), so
``batch_size=1`` is exactly the sequential algorithm. Frozen layers' outputs
are computed once and cached.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from fastspike.data import encode_dataset, load_dataset
from fastspike.encoding import Encoder
from fastspike.models import Mozafari2018

__all__ = [
    "PRESETS",
    "RSTDPState",
    "Schedule",
    "evaluate",
    "load_model",
    "stdp_rates",
    "train_mnist",
]

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class Schedule:
    """What to train: epochs per layer and how many training samples an epoch uses."""

    epochs: tuple[int, int, int] = (2, 4, 680)
    samples: tuple[int | None, int | None, int | None] = (None, None, None)  # None = whole training set
    batch_size: int = 64
    rstdp_chunk: int = 1000

    def validate(self) -> None:
        for i, e in enumerate(self.epochs):
            if not isinstance(e, int) or e < 1:
                raise ValueError(f"epochs{i + 1}: expected a positive number of epochs, got {e!r}")
        for i, n in enumerate(self.samples):
            if n is not None and n < 1:
                raise ValueError(f"samples{i + 1}: expected a positive number of samples or None, got {n!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {self.batch_size!r}")


PRESETS: dict[str, Schedule] = {
    # The paper's schedule: S1 2 epochs, S2 4 epochs, S3 680 epochs of 60,000 samples.
    "paper": Schedule(epochs=(2, 4, 680), samples=(None, None, None), batch_size=64),
    # The paper's S1/S2 schedule and 50 R-STDP epochs: about 20 minutes on a 2-core CPU (README).
    "quick": Schedule(epochs=(2, 4, 50), samples=(None, None, None), batch_size=64),
}


def stdp_rates(index: Tensor) -> Tensor:
    """The S1/S2 learning-rate schedule (ALGORITHMS.md 7.2) for 0-based sample indices -> ``[N, 2]`` float32.

    ``a+ = min(0.004 * 2**floor((i+1)/500), 0.15)``, ``a- = -0.75 a+`` after the
    first doubling, ``-0.003`` before it; all in float32 like the incremental rule.
    """
    doublings = torch.div(index + 1, 500, rounding_mode="floor")
    a_plus = torch.minimum(torch.tensor(0.004, dtype=torch.float32) * torch.pow(2.0, doublings.clamp_max(8).float()),
                           torch.tensor(0.15, dtype=torch.float32))
    a_minus = torch.where(doublings > 0, a_plus * torch.tensor(-0.75, dtype=torch.float32),
                          torch.tensor(-0.003, dtype=torch.float32))
    return torch.stack([a_plus, a_minus], dim=1)


@dataclass
class RSTDPState:
    """Adaptive R-STDP rates (ALGORITHMS.md 7.3), carried across epochs."""

    reward: tuple[float, float] = (0.004, -0.003)
    punish: tuple[float, float] = (-0.004, 0.0005)
    chunk_seen: int = 0
    chunk_hits: int = 0
    chunk_misses: int = 0

    def end_chunk(self, chunk: int) -> None:
        h, m = self.chunk_hits / chunk, self.chunk_misses / chunk
        f32 = lambda v: float(torch.tensor(v, dtype=torch.float32))  # noqa: E731
        base = [f32(v) for v in (0.004, -0.003, -0.004, 0.0005)]
        self.reward = (f32(base[0] * m), f32(base[1] * m))
        self.punish = (f32(base[2] * h), f32(base[3] * h))
        self.chunk_seen = self.chunk_hits = self.chunk_misses = 0


@dataclass
class _Progress:
    """Everything needed to resume: where training stands and what it has learnt."""

    layer: int = 1            # layer being trained (4 = done)
    epoch: int = 0            # completed epochs of that layer
    counters: list[int] = field(default_factory=lambda: [0, 0])  # S1/S2 samples seen (schedule)
    rstdp: RSTDPState = field(default_factory=RSTDPState)
    history: list[dict] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_epoch: int = -1
    best_weight: Tensor | None = None


def _batches(n: int, batch_size: int):
    for s in range(0, n, batch_size):
        yield s, min(n, s + batch_size)


def _tqdm(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample", unit_scale=True, disable=not enabled, leave=False,
                dynamic_ncols=True)


@torch.no_grad()
def _map(model: Mozafari2018, layer: int, x: Tensor, batch_size: int, progress: bool, desc: str) -> Tensor:
    """Run frozen layer ``layer`` over all of ``x`` (its padded input) -> the next layer's padded input."""
    out = None
    with _tqdm(x.shape[0], desc, progress) as bar:
        for s, e in _batches(x.shape[0], batch_size):
            y = model.next_input(layer, x[s:e])
            if out is None:
                out = torch.empty((x.shape[0], *y.shape[1:]), dtype=y.dtype, device=y.device)
            out[s:e] = y
            bar.update(e - s)
    return out


@torch.no_grad()
def evaluate(model: Mozafari2018, x3: Tensor, labels: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Fractions correct / wrong / silent of decisions on S3 inputs ``x3`` (ALGORITHMS.md 9)."""
    correct = wrong = silent = 0
    for s, e in _batches(x3.shape[0], batch_size):
        d = model.decide(x3[s:e])[0]
        y = labels[s:e].to(d.device)
        correct += int((d == y).sum())
        silent += int((d < 0).sum())
        wrong += int(((d != y) & (d >= 0)).sum())
    n = max(1, x3.shape[0])
    return {"correct": correct / n, "wrong": wrong / n, "silent": silent / n}


@torch.no_grad()
def _train_stdp_epoch(model, layer: int, x: Tensor, prog: _Progress, batch_size: int, progress: bool, desc: str):
    conv = model.spiking_layers[layer - 1]
    T = model.T
    with _tqdm(x.shape[0], desc, progress) as bar:
        for s, e in _batches(x.shape[0], batch_size):
            xb = x[s:e]
            times, values = conv(xb, T)
            winners = conv.winners(times, values, T)
            i0 = prog.counters[layer - 1]
            lr = stdp_rates(torch.arange(i0, i0 + (e - s)))
            conv.stdp(xb, times, winners, lr, T)
            prog.counters[layer - 1] += e - s
            bar.update(e - s)


@torch.no_grad()
def _train_rstdp_epoch(model, x: Tensor, labels: Tensor, prog: _Progress, schedule: Schedule, progress: bool,
                       desc: str) -> dict[str, float]:
    conv, T, st = model.conv3, model.T, prog.rstdp
    chunk = schedule.rstdp_chunk
    hits = misses = silent = 0
    n = x.shape[0]
    labels = labels.to(x.device)
    s = 0
    with _tqdm(n, desc, progress) as bar:
        while s < n:
            # Rates change only between chunks: never let a batch straddle a chunk boundary.
            e = min(n, s + schedule.batch_size, s + chunk - st.chunk_seen)
            xb, yb = x[s:e], labels[s:e]
            classes, winners, times = model.decide(xb)
            hit = classes == yb
            miss = (classes != yb) & (classes >= 0)
            reward = torch.tensor(st.reward, dtype=torch.float32, device=x.device)
            punish = torch.tensor(st.punish, dtype=torch.float32, device=x.device)
            lr = torch.where(hit.unsqueeze(1), reward, punish)  # silent samples have no winner: no update
            if conv.compat:  # the reference makes no update call at all for silence (no whole-tensor clamp)
                keep = winners[:, 0, 0] >= 0
                xb, times, winners, lr = xb[keep], times[keep], winners[keep], lr[keep]
            conv.stdp(xb, times, winners, lr, T)
            h, m = int(hit.sum()), int(miss.sum())
            hits, misses, silent = hits + h, misses + m, silent + (e - s - h - m)
            st.chunk_hits, st.chunk_misses, st.chunk_seen = st.chunk_hits + h, st.chunk_misses + m, st.chunk_seen + e - s
            if st.chunk_seen == chunk:
                st.end_chunk(chunk)
            bar.update(e - s)
            s = e
    return {"correct": hits / n, "wrong": misses / n, "silent": silent / n}


def _config_dict(schedule: Schedule, dataset: str, seed: int, compat: bool, T: int) -> dict:
    return {"architecture": Mozafari2018.architecture, "schedule": dataclasses.asdict(schedule),
            "dataset": dataset, "seed": seed, "compat": compat, "T": T}


def _save(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def _checkpoint(model, prog: _Progress, config: dict) -> dict:
    return {
        "version": CHECKPOINT_VERSION,
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "progress": {
            "layer": prog.layer, "epoch": prog.epoch, "counters": list(prog.counters),
            "rstdp": dataclasses.asdict(prog.rstdp), "history": copy.deepcopy(prog.history),
            "best_accuracy": prog.best_accuracy, "best_epoch": prog.best_epoch,
            "best_weight": None if prog.best_weight is None else prog.best_weight.cpu(),
        },
        "rng": torch.get_rng_state(),
    }


def _check_checkpoint(ckpt: dict, path: str) -> None:
    cfg = ckpt.get("config", {}) if isinstance(ckpt, dict) else {}
    arch = cfg.get("architecture")
    if arch != Mozafari2018.architecture:
        raise ValueError(f"checkpoint {path!r}: architecture {arch!r} is not {Mozafari2018.architecture!r}")


def load_model(path: str, device: str | torch.device = "cpu", best: bool = True) -> Mozafari2018:
    """Load a trained :class:`Mozafari2018` from a checkpoint file (the best S3 weights when ``best``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint: no file {path!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    _check_checkpoint(ckpt, path)
    cfg = ckpt["config"]
    model = Mozafari2018(T=cfg["T"], compat=cfg["compat"], seed=None)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path!r}: weights do not fit Mozafari2018 ({err})") from err
    best_w = ckpt["progress"].get("best_weight")
    if best and best_w is not None:
        model.conv3.weight.copy_(best_w)
    return model.to(device)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_mnist(
    root: str = "data",
    *,
    dataset: str = "mnist",
    device: str | torch.device | None = None,
    preset: str = "quick",
    epochs1: int | None = None,
    epochs2: int | None = None,
    epochs3: int | None = None,
    samples: tuple[int | None, int | None, int | None] | None = None,
    test_samples: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    compat: bool = False,
    download: bool = True,
    cache_dir: str | None = None,
    stop_after_epochs: int | None = None,
) -> tuple[Mozafari2018, list[dict]]:
    """Train the Mozafari 2018 network on MNIST (or Fashion-MNIST) end to end.

    Args:
        root: dataset folder (``root/MNIST/raw/*.gz``; downloaded when missing and ``download``).
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        device: default CUDA when available, else CPU.
        preset: ``"quick"`` (about 20 minutes on a 2-core CPU) or ``"paper"`` (2/4/680 epochs).
        epochs1, epochs2, epochs3: per-layer epochs overriding the preset.
        samples: training samples per epoch for each layer (``None`` = all), overriding the preset.
        test_samples: evaluate on the first ``test_samples`` test images only.
        batch_size: samples per batched update (1 = the exact sequential algorithm).
        seed: seeds the initial weights; results are reproducible from it on the same device.
        checkpoint_dir: save ``last.pt`` after each layer and each S3 epoch, and ``best.pt``.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        progress: tqdm progress bars.
        compat: reproduce the reference's quirks (float32 k-WTA score, whole-tensor clamp).
        cache_dir: cache the encoded dataset on disk.
        stop_after_epochs: stop (as if interrupted) after this many S3 epochs in this call.

    Returns:
        ``(model, history)``: the model with the best S3 weights, and one dict per
        S3 epoch with train/test correct, wrong and silent fractions and times.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    base = PRESETS[preset]
    epochs = tuple(o if o is not None else d for o, d in zip((epochs1, epochs2, epochs3), base.epochs))
    schedule = dataclasses.replace(
        base, epochs=epochs, samples=tuple(samples) if samples is not None else base.samples,
        batch_size=base.batch_size if batch_size is None else batch_size)
    schedule.validate()
    if resume and not checkpoint_dir:
        raise ValueError("resume: needs checkpoint_dir")
    device = _default_device() if device is None else torch.device(device)
    t_start = time.perf_counter()

    model = Mozafari2018(compat=compat, seed=seed)
    config = _config_dict(schedule, dataset, seed, compat, model.T)
    prog = _Progress()
    last = os.path.join(checkpoint_dir, "last.pt") if checkpoint_dir else None
    if resume and last and os.path.exists(last):
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        _check_checkpoint(ckpt, last)
        if ckpt["config"] != config:
            raise ValueError(f"resume: checkpoint {last!r} was made with another configuration "
                             f"({ckpt['config']}) than this run ({config})")
        model.load_state_dict(ckpt["model"])
        p = ckpt["progress"]
        prog = _Progress(layer=p["layer"], epoch=p["epoch"], counters=list(p["counters"]),
                         rstdp=RSTDPState(**p["rstdp"]), history=p["history"],
                         best_accuracy=p["best_accuracy"], best_epoch=p["best_epoch"], best_weight=p["best_weight"])
        torch.set_rng_state(ckpt["rng"])
    model.to(device)

    def save():
        if last:
            _save(last, _checkpoint(model, prog, config))

    train, test = load_dataset(dataset, root, download=download)
    train_n = [train.subset(n) for n in schedule.samples]
    n_max = max(len(s) for s in train_n)
    test = test.subset(test_samples)
    encoder = Encoder(T=model.T)
    x_train = encode_dataset(train.images[:n_max], encoder, device, cache_dir=cache_dir, progress=progress)
    x_test = encode_dataset(test.images, encoder, device, cache_dir=cache_dir, progress=progress)
    bs = schedule.batch_size
    map_bs = max(bs, 256)

    # S1 and S2: STDP.
    x = model.pad0(x_train, model.T)
    for layer in (1, 2):
        n = len(train_n[layer - 1])
        if prog.layer == layer:
            while prog.epoch < schedule.epochs[layer - 1]:
                _train_stdp_epoch(model, layer, x[:n], prog, bs, progress,
                                  f"S{layer} STDP epoch {prog.epoch + 1}/{schedule.epochs[layer - 1]}")
                prog.epoch += 1
            prog.layer, prog.epoch = layer + 1, 0
            save()
        x = _map(model, layer, x[: max(len(s) for s in train_n[layer:])], map_bs, progress, f"S{layer} features")

    # S3: R-STDP, test after every epoch, keep the best.
    x3_test = _map(model, 2, _map(model, 1, model.pad0(x_test, model.T), map_bs, False, ""), map_bs, False, "")
    n3 = len(train_n[2])
    x3, y3 = x[:n3], train_n[2].labels
    done_now = 0
    while prog.layer == 3 and prog.epoch < schedule.epochs[2]:
        if stop_after_epochs is not None and done_now >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        tr = _train_rstdp_epoch(model, x3, y3, prog, schedule, progress,
                                f"S3 R-STDP epoch {prog.epoch + 1}/{schedule.epochs[2]}")
        te = evaluate(model, x3_test, test.labels)
        prog.epoch += 1
        done_now += 1
        rec = {"epoch": prog.epoch, "train": tr, "test": te, "seconds": time.perf_counter() - t0,
               "wall": time.perf_counter() - t_start}
        prog.history.append(rec)
        if te["correct"] > prog.best_accuracy:
            prog.best_accuracy, prog.best_epoch = te["correct"], prog.epoch
            prog.best_weight = model.conv3.weight.detach().cpu().clone()
        if progress:
            print(f"S3 epoch {prog.epoch}: train {tr['correct']:.4f} | test correct {te['correct']:.4f} "
                  f"wrong {te['wrong']:.4f} silent {te['silent']:.4f} | best {prog.best_accuracy:.4f} "
                  f"(epoch {prog.best_epoch})", flush=True)
        if prog.epoch == schedule.epochs[2]:
            prog.layer, prog.epoch = 4, 0
        save()
    if prog.best_weight is not None:
        model.conv3.weight.copy_(prog.best_weight.to(device))
    if checkpoint_dir and prog.layer == 4:
        _save(os.path.join(checkpoint_dir, "best.pt"), _checkpoint(model, prog, config))
    return model, prog.history
