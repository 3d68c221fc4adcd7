"""The trainer of first-spike networks: the spec's phases in order, batched (R-)STDP.

The phases run in order on the fixed (unshuffled) training order. A phase trains its
layer's learner (:func:`fastspike.rules.learner`: STDP with doubling or fixed rates, R-STDP
with adaptive rates, testing after every epoch and keeping the best weights when asked, or
any registered rule) or fits the linear readout. A batch runs its forward pass with the
weights at the start of the batch and then applies each sample's update in order, so
``batch_size=1`` is exactly the sequential algorithm. Frozen layers' outputs are computed
once per phase and cached. The trainer drives learners through their methods only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from fastspike import distributed
from fastspike.batching import map_batches
from fastspike.data import encode_dataset, load_dataset
from fastspike.distributed import Shard
from fastspike.metrics import confusion_matrix, format_metrics, metrics_from_confusion
from fastspike.network import Network
from fastspike.readout import fit_linear
from fastspike.rules import learner as make_learner
from fastspike.spec import NetworkSpec, Phase
from fastspike.tblog import TensorBoardLogger
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.training.devices import resolve_device
from fastspike.training.evaluation import evaluate_features, evaluate_from, predict
from fastspike.training.history import write_history
from fastspike.usage import needs, run_started

__all__ = ["Progress", "checkpoint_of", "restore_weights", "run", "schedule"]


@dataclass
class Progress:
    """Where a run is: the phase and epoch, every learner's state, the history and the best epoch."""

    phase: int = 0
    epoch: int = 0
    states: dict[str, dict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)  # every epoch of every phase
    best_accuracy: float = -1.0
    best_epoch: int = -1
    best_layer: str | None = None
    best_weight: Tensor | dict[str, Tensor] | None = None

    def to_dict(self) -> dict:
        w = self.best_weight
        return {
            "phase": self.phase,
            "epoch": self.epoch,
            "states": self.states,
            "history": self.history,
            "log": self.log,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "best_layer": self.best_layer,
            "best_weight": (
                None if w is None else {k: v.cpu() for k, v in w.items()} if isinstance(w, dict) else w.cpu()
            ),
        }

    @classmethod
    def from_dict(cls, p: dict) -> Progress:
        return cls(
            phase=p["phase"],
            epoch=p["epoch"],
            states=p["states"],
            history=p["history"],
            log=p.get("log", []),
            best_accuracy=p["best_accuracy"],
            best_epoch=p["best_epoch"],
            best_layer=p["best_layer"],
            best_weight=p["best_weight"],
        )


def restore_weights(net: Network, layer: str, weights: Tensor | dict) -> None:
    """Put back the weights a phase's learner copied (one tensor, or a dict by conv name)."""
    parts = weights if isinstance(weights, dict) else {layer: weights}
    for name, w in parts.items():
        net.conv(name).weight.copy_(w.to(net.conv(name).weight.device))


def checkpoint_of(model: Network, prog: Progress, config: dict) -> dict:
    """A conv network's checkpoint (:mod:`fastspike.training.checkpoint`)."""
    return {
        "format": checkpoint.FORMAT,
        "version": checkpoint.VERSION,
        "spec": model.spec.to_dict(),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "progress": prog.to_dict(),
        "rng": torch.get_rng_state(),
    }


def _per_phase(values, phases: Sequence[Phase], what: str) -> list:
    """``values``: None, a sequence (one per phase) or a dict (phase layer -> value)."""
    if values is None:
        return [None] * len(phases)
    if isinstance(values, dict):
        names = [p.layer for p in phases]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"{what}: no phase trains {unknown[0]!r} (phases: {names})")
        return [values.get(p.layer) for p in phases]
    values = list(values)
    if len(values) != len(phases):
        raise ValueError(f"{what}: expected {len(phases)} values (one per phase), got {len(values)}")
    return values


def schedule(spec: NetworkSpec, cfg: RunConfig, preset: dict[str, dict[str, int]]) -> NetworkSpec:
    """``spec`` with the phases the run trains: the preset's overrides (phase layer -> its
    ``epochs`` / ``samples``), then the run's own ``epochs`` and ``samples``."""
    phases = list(spec.phases)
    ep = _per_phase(cfg.epochs, phases, "epochs")
    sm = _per_phase(cfg.samples, phases, "samples")
    phases = [
        dataclasses.replace(
            p,
            epochs=e if e is not None else preset.get(p.layer, {}).get("epochs", p.epochs),
            samples=n if cfg.samples is not None else preset.get(p.layer, {}).get("samples", p.samples),
        )
        for p, e, n in zip(phases, ep, sm, strict=True)
    ]
    return spec.replace(phases=tuple(phases))  # validates the phases


def hold_out(train_set, validation: int, spec: NetworkSpec):
    """``(training pool, validation split or None)``: the last ``validation`` training images are
    held out; a phase that asks for more images than the pool has is an error."""
    n_all = len(train_set)
    if validation >= n_all:
        raise ValueError(
            f"validation: {validation} held-out images leave none to train on (the training set has {n_all})"
        )
    if validation == 0:
        return train_set, None
    pool = train_set.subset(n_all - validation)
    val = type(train_set)(
        train_set.images[n_all - validation :], train_set.labels[n_all - validation :], train_set.classes
    )
    for p in spec.phases:
        if p.samples is not None and p.samples > len(pool):
            raise ValueError(
                f"samples: phase {p.layer!r} asks for {p.samples} training images, but {len(pool)} are "
                f"left after holding out validation={validation} (ask for fewer, or a smaller validation)"
            )
    return pool, val


def fit_to_data(spec: NetworkSpec, data, dataset: str) -> NetworkSpec:
    """The spec for images of the dataset's size (its layers checked against it), or a
    ``ValueError`` when its decision has another number of classes than the dataset."""
    size = tuple(data.images.shape[-2:])
    if size != tuple(spec.input_size):
        spec = spec.replace(input_size=size)  # validates: a layer that no longer fits is named
    n = len(data.classes)
    if spec.n_classes != n:
        raise ValueError(
            f"dataset {dataset!r} has {n} classes ({', '.join(data.classes[:12])}"
            f"{', ...' if n > 12 else ''}) but network {spec.name!r} decides among {spec.n_classes}: "
            f"train a network built for {n} classes (a config file with n_classes: {n} and a decision "
            f"layer whose features divide by {n})"
        )
    return spec


def _extends(old: NetworkSpec, new: NetworkSpec) -> bool:
    """``new`` is ``old`` with more epochs for its last phase (extending a run)."""
    if len(old.phases) != len(new.phases) or old.replace(phases=new.phases) != new:
        return False
    if old.phases[:-1] != new.phases[:-1]:
        return False
    a, b = old.phases[-1], new.phases[-1]
    return dataclasses.replace(a, epochs=b.epochs) == b and b.epochs >= a.epochs


def check_run_folder(folder: str | None, world) -> None:
    """Fail now (on every rank), not at the first save after a layer has trained."""
    if not folder:
        return
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".write-test" + ("" if world is None else f"-{world.rank}"))
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"checkpoint_dir: cannot write to {folder!r} ({err.strerror})") from None


def run(spec: NetworkSpec, cfg: RunConfig, spec_of_checkpoint) -> tuple[Network, list[dict]]:
    """Train ``spec`` (its phases already scheduled, :func:`schedule`) as ``cfg`` says.

    ``spec_of_checkpoint(ckpt, path) -> (spec, config)`` reads a checkpoint's spec to resume.
    Under ``torchrun`` every rank encodes, caches and runs forward its share of the samples,
    the updates are exchanged and applied in global order, and the result equals one
    process's with the same ``batch_size`` bit for bit; rank 0 alone prints, saves and logs.
    Returns ``(model, history)`` (see :func:`fastspike.train`).
    """
    return _Run(spec, cfg, spec_of_checkpoint).run()


class _Run:
    def __init__(self, spec: NetworkSpec, cfg: RunConfig, spec_of_checkpoint):
        if cfg.tensorboard:
            try:
                import tensorboard as _tb  # noqa: F401
            except ImportError:
                raise ValueError(
                    "tensorboard: " + needs("logging to TensorBoard needs", "tensorboard", "tensorboard")
                ) from None
        self.cfg, self.spec_of_checkpoint = cfg, spec_of_checkpoint
        self.bs = 64 if cfg.batch_size is None else cfg.batch_size
        validation = cfg.validation
        if validation is None:
            validation = 10000 if any(p.keep_best for p in spec.phases) else 0
        self.validation = validation
        self.world = world = distributed.world()
        self.main = world is None or world.is_main
        self.progress = cfg.progress and self.main
        check_run_folder(cfg.checkpoint_dir, world)
        self.device = resolve_device(cfg.device)
        self.t_start = time.perf_counter()
        train_set, test_set = load_dataset(
            cfg.dataset, cfg.root, download=cfg.download, image_size=cfg.image_size
        )
        self.spec = spec = fit_to_data(spec, train_set, cfg.dataset)
        self.net = Network(spec, compat=cfg.compat, seed=cfg.seed)
        self.config = {
            "model": spec.name,
            "dataset": cfg.dataset,
            "seed": cfg.seed,
            "compat": cfg.compat,
            "batch_size": self.bs,
            "test_samples": cfg.test_samples,
            "validation": validation,
        }
        self.prog = Progress()
        folder = cfg.checkpoint_dir
        self.last = os.path.join(folder, "last.pt") if folder else None
        self.test_set = test_set.subset(cfg.test_samples)
        self.train_set, val_set = hold_out(train_set, validation, spec)
        self.sizes = [len(self.train_set.subset(p.samples)) for p in spec.phases]
        run_started()  # the data is there and fits the network
        if cfg.resume:
            self.resume()
        self.net.to(self.device)
        self.net.dataset = cfg.dataset
        # across ranks each rank encodes and caches the samples it owns (i % size == rank)
        self.mine = (lambda t: t) if world is None else world.shard
        self.owned = (lambda m: m) if world is None else world.count
        self.x_train = self.encode(self.train_set.images[: max(self.sizes)])
        self.x_val = self.val_labels = None
        if val_set is not None:
            self.x_val = self.encode(val_set.images)
            self.val_labels = self.mine(val_set.labels)
        self.map_bs = max(self.bs, 256)
        self.tb = None
        if cfg.tensorboard and self.main:
            probe = self.x_val if self.x_val is not None else self.x_train
            self.tb = TensorBoardLogger(os.path.join(folder, "tensorboard"), self.net, probe[:64])
        self.cache: tuple[int, Tensor] | None = None  # (conv index, its training-mode inputs)
        self.done_now = 0

    def encode(self, images: Tensor) -> Tensor:
        return encode_dataset(
            self.mine(images),
            self.net.encoder,
            self.device,
            cache_dir=self.cfg.cache_dir,
            progress=self.progress,
        )

    # ------------------------------------------------------------------ resume and saving
    def resume(self) -> None:
        spec = self.spec
        last, ckpt = checkpoint.for_resume(self.cfg.checkpoint_dir)
        ck_spec, ck_cfg = self.spec_of_checkpoint(ckpt, last)
        # the free-text description changes no result (checkpoint.same_network)
        ck_spec = dataclasses.replace(ck_spec, description=spec.description)
        extend = ck_cfg == self.config and _extends(ck_spec, spec)
        if not extend and (ck_spec != spec or ck_cfg != self.config):
            raise checkpoint.other_run(
                last,
                f"{ck_cfg}, network {ck_spec.name!r}",
                f"{self.config}, network {spec.name!r}"
                + (", other layers or phases" if ck_spec.name == spec.name else ""),
            )
        self.net.load_state_dict(ckpt["model"])
        prog = self.prog = Progress.from_dict(ckpt["progress"])
        torch.set_rng_state(ckpt["rng"])
        if extend and ck_spec != spec and prog.phase == len(spec.phases):
            # a finished run with more epochs for its last phase: go on where it ended
            prog.phase, prog.epoch = len(spec.phases) - 1, ck_spec.phases[-1].epochs
        if self.progress:
            where = (
                "finished"
                if prog.phase == len(spec.phases)
                else f"phase {prog.phase + 1}/{len(spec.phases)} ({spec.phases[prog.phase].layer}), "
                f"{prog.epoch} epochs done"
            )
            print(f"resuming {spec.name} from {last}: {where}", flush=True)

    def save(self) -> None:
        if self.last and self.main:
            checkpoint.save(self.last, checkpoint_of(self.net, self.prog, self.config))
            write_history(self.cfg.checkpoint_dir, self.prog.log)

    def log_epoch(self, layer: str, t0: float, samples: int, train_res, val_res, at_bounds=None) -> None:
        prog = self.prog
        sec = time.perf_counter() - t0
        rec = {
            "phase": prog.phase,
            "layer": layer,
            "epoch": prog.epoch if layer != "readout" else 1,
            "samples": samples,
            "seconds": round(sec, 4),
            "samples_per_s": round(samples / sec, 1) if sec > 0 else None,
            "wall": round(time.perf_counter() - self.t_start, 3),
        }
        if at_bounds is not None:
            rec["at_bounds"] = round(at_bounds, 6)
        for key, res in (("train", train_res), ("val", val_res)):
            for k, v in (res or {}).items():
                rec[f"{key}_{k}"] = v
        prog.log.append(rec)
        if self.tb is not None:
            self.tb.epoch(rec, len(prog.log))

    def record(self, layer: str, epoch: int, tr: dict, va: dict | None, t0: float) -> None:
        self.prog.history.append(
            {
                "phase": self.prog.phase,
                "layer": layer,
                "epoch": epoch,
                "train": tr,
                **({"val": va} if va is not None else {}),
                "seconds": time.perf_counter() - t0,
                "wall": time.perf_counter() - self.t_start,
            }
        )

    # ------------------------------------------------------------------ inputs
    def inputs(self, j: int, n: int) -> Tensor:
        """Conv ``j``'s training-mode inputs of the first ``n`` samples (this rank's rows),
        computed once for every later phase at or above ``j``."""
        net, prog, spec = self.net, self.prog, self.spec
        need = max(
            [n]
            + [
                s
                for p, s in zip(spec.phases[prog.phase :], self.sizes[prog.phase :], strict=False)
                if p.layer != "readout" and net.index(p.layer) >= j
            ]
        )
        need = self.owned(need)
        if self.cache is None or self.cache[0] > j or self.cache[1].shape[0] < need:
            self.cache = (0, net.layer_input(1, self.x_train[:need], training=True))
        if self.cache[0] < j:
            x = self.cache[1][:need]
            for k in range(self.cache[0], j):
                x = map_batches(
                    lambda xb, k=k: net.next_input(k + 1, xb, training=True),
                    x,
                    self.map_bs,
                    self.progress,
                    f"{net.layer_names[k]} features",
                )
            self.cache = (j, x)
        return self.cache[1][: self.owned(n)]

    # ------------------------------------------------------------------ phases
    def readout(self, n: int) -> None:
        net, spec, world, prog = self.net, self.spec, self.world, self.prog
        t0 = time.perf_counter()
        ro = spec.readout
        f_train = map_batches(
            net.features, self.x_train[: self.owned(n)], self.map_bs, self.progress, "features (train)"
        )
        y_train = self.train_set.labels[:n].to(self.device)
        if world is not None:  # every rank's features, in sample order; rank 0 fits
            f_train = world.gather(f_train, 0, n)
        if self.main:
            W, b = fit_linear(
                f_train, y_train, spec.n_classes, ro.method, ro.C, ro.max_iter, progress=self.progress
            )
            net.readout_weight.copy_(W)
            net.readout_bias.copy_(b)
        if world is not None:
            world.broadcast(net.readout_weight)
            world.broadcast(net.readout_bias)
        net.readout_fitted.fill_(True)
        tr = evaluate_features(net, f_train, y_train)
        del f_train
        va = None
        if self.x_val is not None:
            f_val = map_batches(net.features, self.x_val, self.map_bs, self.progress, "features (validation)")
            va = evaluate_features(net, f_val, self.val_labels, world)
        self.record("readout", 1, tr, va, t0)
        if self.progress:
            print(
                f"readout ({ro.method}, C={ro.C:g}): train {tr['correct']:.4f}"
                + (
                    f" | validation correct {va['correct']:.4f} wrong {va['wrong']:.4f} "
                    f"silent {va['silent']:.4f}"
                    if va is not None
                    else ""
                ),
                flush=True,
            )
        self.log_epoch("readout", t0, n, tr, va)
        self.done_now += 1
        prog.phase, prog.epoch = prog.phase + 1, 0
        self.save()

    def learn(self, phase: Phase, n: int) -> bool:
        """The epochs of a learning phase; False when stopped (``stop_after_epochs``)."""
        net, prog, world, cfg = self.net, self.prog, self.world, self.cfg
        learner = make_learner(net, phase.layer, phase)
        if phase.layer in prog.states:
            learner.load_state_dict(prog.states[phase.layer])
        j = net.index(phase.layer)
        j_in = net.index(learner.input_layer)  # the lowest layer that learns
        pbs = phase.batch_size or self.bs
        x = labels = x_eval = None
        while prog.epoch < phase.epochs:
            if cfg.stop_after_epochs is not None and self.done_now >= cfg.stop_after_epochs:
                return False
            if x is None:
                x = self.inputs(j_in, n)
                if world is not None:
                    x = Shard(x, n, world)
                labels = self.train_set.labels[:n]
            if phase.evaluate and self.x_val is not None and x_eval is None:
                x_eval = map_batches(lambda xb, j=j_in: net.layer_input(j + 1, xb), self.x_val, self.map_bs)
            t0 = time.perf_counter()
            tr = learner.train_epoch(
                x,
                labels=labels,
                batch_size=pbs,
                progress=self.progress,
                desc=f"{phase.layer} {learner.label} epoch {prog.epoch + 1}/{phase.epochs}",
                epoch=prog.epoch,
            )
            prog.epoch += 1
            self.done_now += 1
            prog.states[phase.layer] = learner.state_dict()
            va = None
            if phase.evaluate:
                va = (
                    evaluate_from(net, j_in, j, x_eval, self.val_labels, world=world)
                    if x_eval is not None
                    else None
                )
                self.record(phase.layer, prog.epoch, tr, va, t0)
                if phase.keep_best and va is not None and va["correct"] > prog.best_accuracy:
                    prog.best_accuracy, prog.best_epoch, prog.best_layer = (
                        va["correct"],
                        prog.epoch,
                        phase.layer,
                    )
                    prog.best_weight = learner.weights()
                if self.progress:
                    print(
                        f"{phase.layer} epoch {prog.epoch}: train {tr['correct']:.4f}"
                        + (
                            f" | validation correct {va['correct']:.4f} wrong {va['wrong']:.4f} "
                            f"silent {va['silent']:.4f} | best {prog.best_accuracy:.4f} "
                            f"(epoch {prog.best_epoch})"
                            if va is not None
                            else ""
                        ),
                        flush=True,
                    )
            self.log_epoch(phase.layer, t0, n, tr, va, learner.fraction_at_bounds())
            if self.progress and not phase.evaluate:  # one line per epoch (its bar is gone)
                rec = prog.log[-1]
                bounds = rec.get("at_bounds")
                print(
                    f"{phase.layer} epoch {prog.epoch}/{phase.epochs} ({learner.label}): {n} samples in "
                    f"{rec['seconds']:.1f} s"
                    + (f", {bounds:.1%} of the weights at their bounds" if bounds is not None else ""),
                    flush=True,
                )
            finished = prog.epoch == phase.epochs
            if finished:
                prog.phase, prog.epoch = prog.phase + 1, 0
                if self.cache is not None and self.cache[0] > j_in:
                    self.cache = None  # inputs above the trained layer are stale now
            self.save()
            if finished:
                break
        return True

    def test(self) -> None:
        """The test set, once, with the chosen weights: accuracy, silence, confusion, F1."""
        net, spec, world, cfg = self.net, self.spec, self.world, self.cfg
        x_test = self.encode(self.test_set.images)
        confusion = confusion_matrix(
            predict(net, x_test, self.map_bs), self.mine(self.test_set.labels), spec.n_classes
        )
        if world is not None:  # each rank's test images; the matrices add up
            confusion = world.all_reduce_sum(confusion)
        net.test_metrics = metrics_from_confusion(confusion)
        if self.progress:
            print(format_metrics(net.test_metrics), flush=True)
        if cfg.checkpoint_dir and self.main:
            best = checkpoint_of(net, self.prog, self.config)
            # the test metrics travel with the weights (the web demo shows them)
            best["progress"]["test_metrics"] = net.test_metrics
            checkpoint.save(os.path.join(cfg.checkpoint_dir, "best.pt"), best)
            with open(os.path.join(cfg.checkpoint_dir, "metrics.json"), "w") as f:
                json.dump(
                    {
                        "model": spec.name,
                        "dataset": cfg.dataset,
                        "test_images": len(self.test_set),
                        "validation_images": self.validation,
                        "selected": net.selection,
                        **net.test_metrics,
                    },
                    f,
                    indent=1,
                )

    def run(self) -> tuple[Network, list[dict]]:
        spec, prog, net, cfg = self.spec, self.prog, self.net, self.cfg
        while prog.phase < len(spec.phases):
            phase = spec.phases[prog.phase]
            n = self.sizes[prog.phase]
            if phase.layer == "readout":
                if cfg.stop_after_epochs is not None and self.done_now >= cfg.stop_after_epochs:
                    break
                self.readout(n)
            elif not self.learn(phase, n):
                break  # as if interrupted (stop_after_epochs)
        if self.tb is not None:
            self.tb.close()
        if prog.best_weight is not None:
            restore_weights(net, prog.best_layer, prog.best_weight)
        net.test_metrics = None
        net.selection = None
        if prog.best_weight is not None:
            net.selection = {
                "layer": prog.best_layer,
                "epoch": prog.best_epoch,
                "of": spec.phases[[p.layer for p in spec.phases].index(prog.best_layer)].epochs,
                "val_correct": prog.best_accuracy,
                "validation": self.validation,
            }
        if prog.phase == len(spec.phases):
            self.test()
        return net, prog.history
