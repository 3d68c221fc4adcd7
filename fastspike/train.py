"""One trainer for every network: phases from the spec, batched (R-)STDP, plain-data checkpoints.

Semantics (ALGORITHMS.md 7-10): the spec's phases run in order on the fixed
(unshuffled) training order. A phase trains one conv with its rule (STDP with
doubling or fixed rates; R-STDP with adaptive reward/punishment rates, testing after
every epoch and keeping the best weights when asked) or fits the linear readout. A
batch runs its forward pass with the weights at the start of the batch and then
applies each sample's update in order (ALGORITHMS.md 8, option b), so
``batch_size=1`` is exactly the sequential algorithm. Frozen layers' outputs are
computed once per phase and cached.

Checkpoints are plain data (tensors, numbers, strings, lists, dicts): the spec,
the run's configuration, the weights, each rule's state and the progress. They are
read with ``torch.load(weights_only=True)``: a file that pickles code is refused
without running it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from fastspike import distributed
from fastspike.data import encode_dataset, load_dataset
from fastspike.distributed import Shard, World, exchange
from fastspike.metrics import confusion_matrix, format_metrics, metrics_from_confusion
from fastspike.network import Network
from fastspike.readout import fit_linear
from fastspike.registry import get_spec, mozafari2018
from fastspike.spec import (
    STDP,
    AdaptiveRates,
    DoublingRates,
    FixedRates,
    NetworkSpec,
    Parallel,
    Phase,
    load_spec,
)

__all__ = [
    "PRESETS",
    "MultiRSTDPState",
    "RSTDPState",
    "STDPState",
    "evaluate",
    "evaluate_features",
    "evaluate_images",
    "load_model",
    "new_state",
    "phase_input_layer",
    "predict",
    "predict_images",
    "resolve_spec",
    "stdp_rates",
    "train",
    "train_epoch",
    "train_mnist",
]

CHECKPOINT_FORMAT = "fastspike-checkpoint"
CHECKPOINT_VERSION = 3  # 3: with a checksum; 2 (no checksum) and 1 (Mozafari 2018 only) still load

#: Per preset and network: phase layer -> overrides of its ``epochs`` and ``samples``; "paper"
#: runs the spec's phases as they are. A network a preset does not name runs its spec's
#: phases, except under "tiny" (10,000 samples and at most 2 epochs per phase).
PRESETS: dict[str, dict[str, dict[str, dict[str, int]]]] = {
    "paper": {},
    # Mozafari 2018: the paper's S1/S2 schedule and 50 R-STDP epochs (about 10 minutes on a 2-core CPU).
    "quick": {"mozafari2018": {"S3": {"epochs": 50}}},
    # about a minute on a 2-core CPU: the first thing to try
    "tiny": {
        "mozafari2018": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 1, "samples": 20000},
            "S3": {"epochs": 4, "samples": 20000},
        },
        "mozafari2018-linear": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 1, "samples": 20000},
            "readout": {"samples": 20000},
        },
        "kheradpisheh2018": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 2, "samples": 20000},
            "readout": {"samples": 20000},
        },
    },
}


def _preset_overrides(preset: str, spec: NetworkSpec) -> dict[str, dict[str, int]]:
    table = PRESETS[preset]
    if spec.name in table:
        return table[spec.name]
    if preset == "tiny":
        return {p.layer: {"epochs": min(p.epochs, 2), "samples": 10000} for p in spec.phases}
    return {}


# ----------------------------------------------------------------------------- rule state
def stdp_rates(index: Tensor, rates: DoublingRates | None = None) -> Tensor:
    """The doubling schedule (ALGORITHMS.md 7.2) for 0-based sample indices -> ``[N, 2]`` float32.

    ``a+ = min(a_plus * factor**floor((i+1)/period), cap)``, ``a- = ratio * a+`` from
    the first doubling on, ``a_minus`` before it; all in float32 like the incremental rule.
    """
    r = DoublingRates() if rates is None else rates
    f32 = torch.float32
    doublings = torch.div(index + 1, r.period, rounding_mode="floor")
    a_plus = torch.minimum(
        torch.tensor(r.a_plus, dtype=f32) * torch.pow(r.factor, doublings.clamp_max(64).float()),
        torch.tensor(r.cap, dtype=f32),
    )
    a_minus = torch.where(
        doublings > 0, a_plus * torch.tensor(r.ratio, dtype=f32), torch.tensor(r.a_minus, dtype=f32)
    )
    return torch.stack([a_plus, a_minus], dim=1)


@dataclass
class STDPState:
    """An STDP layer's training samples so far (drives the rate schedule across epochs)."""

    samples: int = 0


@dataclass
class RSTDPState:
    """Adaptive R-STDP rates (ALGORITHMS.md 7.3), carried across epochs."""

    reward: tuple[float, float] = AdaptiveRates().reward
    punish: tuple[float, float] = AdaptiveRates().punish
    chunk_seen: int = 0
    chunk_hits: int = 0
    chunk_misses: int = 0

    @classmethod
    def initial(cls, rates: AdaptiveRates) -> RSTDPState:
        return cls(reward=tuple(rates.reward), punish=tuple(rates.punish))

    def end_chunk(self, chunk: int, rates: AdaptiveRates | None = None) -> None:
        """Rescale the base rates by the chunk's miss (reward) and hit (punishment) fractions."""
        r = AdaptiveRates() if rates is None else rates
        h, m = self.chunk_hits / chunk, self.chunk_misses / chunk
        f32 = lambda v: float(torch.tensor(v, dtype=torch.float32))  # noqa: E731
        base = [f32(v) for v in (*r.reward, *r.punish)]
        self.reward = (f32(base[0] * m), f32(base[1] * m))
        self.punish = (f32(base[2] * h), f32(base[3] * h))
        self.chunk_seen = self.chunk_hits = self.chunk_misses = 0


@dataclass
class MultiRSTDPState:
    """A decision phase with several R-STDP learners: the heads of a vote, or a decision
    layer with its ``joint`` layers. ``layers``: each learner's adaptive rates (and, for
    heads, its own hits and misses in the chunk); ``chunks``: chunks completed in the phase
    (drives the ``alternate_chunks`` and ``repo_compat`` schedules); ``chunk_*``: the
    network's decisions in the current chunk."""

    layers: dict[str, RSTDPState]
    chunks: int = 0
    chunk_seen: int = 0
    chunk_hits: int = 0
    chunk_misses: int = 0


def _learners(model: Network, phase: Phase) -> list[tuple[str, AdaptiveRates]]:
    """``(conv name, its adaptive rates)`` of every R-STDP learner of a multi-learner phase."""
    unit = model.layer_spec(phase.layer)
    if isinstance(unit, Parallel):
        return [(c.name, c.rule.rates) for c in unit.convs]
    joint = [(n, model.layer_spec(n).reward_rule.rates) for n in phase.joint]
    return joint + [(phase.layer, unit.rule.rates)]


def _is_multi(model: Network, phase: Phase | None, layer: int | str) -> bool:
    return isinstance(model.layer_spec(layer), Parallel) or (phase is not None and bool(phase.joint))


def phase_input_layer(spec: NetworkSpec, phase: Phase) -> str:
    """The layer whose input a phase trains from: its lowest joint layer, or the phase's layer."""
    return phase.joint[0] if phase.joint else phase.layer


def new_state(
    model: Network, layer: int | str, phase: Phase | None = None
) -> STDPState | RSTDPState | MultiRSTDPState:
    """The initial rule state of ``layer`` (its sample counter, or its adaptive R-STDP rates);
    of a phase's learners for a block of heads or a ``phase`` with joint layers."""
    if _is_multi(model, phase, layer):
        phase = phase or Phase(layer=layer if isinstance(layer, str) else model.layer_names[layer - 1])
        return MultiRSTDPState({n: RSTDPState.initial(r) for n, r in _learners(model, phase)})
    rule = model.rule(layer)
    if rule is None:
        raise ValueError(f"layer {layer!r}: has no learning rule")
    return STDPState() if isinstance(rule, STDP) else RSTDPState.initial(rule.rates)


def _state_from(d: dict) -> STDPState | RSTDPState | MultiRSTDPState:
    if d.get("kind") == "stdp":
        return STDPState(samples=int(d["samples"]))
    if d.get("kind") == "multi":
        return MultiRSTDPState(
            {n: _state_from(v) for n, v in d["layers"].items()},
            chunks=int(d["chunks"]),
            chunk_seen=int(d["chunk_seen"]),
            chunk_hits=int(d["chunk_hits"]),
            chunk_misses=int(d["chunk_misses"]),
        )
    return RSTDPState(
        reward=tuple(d["reward"]),
        punish=tuple(d["punish"]),
        chunk_seen=int(d["chunk_seen"]),
        chunk_hits=int(d["chunk_hits"]),
        chunk_misses=int(d["chunk_misses"]),
    )


def _state_dict(st: STDPState | RSTDPState | MultiRSTDPState) -> dict:
    if isinstance(st, MultiRSTDPState):
        return {
            "kind": "multi",
            "layers": {n: _state_dict(v) for n, v in st.layers.items()},
            "chunks": st.chunks,
            "chunk_seen": st.chunk_seen,
            "chunk_hits": st.chunk_hits,
            "chunk_misses": st.chunk_misses,
        }
    kind = "stdp" if isinstance(st, STDPState) else "rstdp"
    return {
        "kind": kind,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(st).items()},
    }


# ----------------------------------------------------------------------------- epochs
def _batches(n: int, batch_size: int):
    for s in range(0, n, batch_size):
        yield s, min(n, s + batch_size)


def _map_batches(fn, x: Tensor, batch_size: int, progress: bool = False, desc: str = "") -> Tensor:
    """``fn`` applied to ``x`` in batches along dim 0, the results written into one tensor."""
    if x.shape[0] == 0:
        return fn(x)
    out = None
    with _tqdm(x.shape[0], desc, progress) as bar:
        for s, e in _batches(x.shape[0], batch_size):
            y = fn(x[s:e])
            if out is None:
                out = torch.empty((x.shape[0], *y.shape[1:]), dtype=y.dtype, device=y.device)
            out[s:e] = y
            bar.update(e - s)
    return out


def _tqdm(total: int, desc: str, enabled: bool, unit: str = "sample"):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=not enabled,
        leave=False,
        dynamic_ncols=True,
    )


def _unshard(x: Tensor | Shard) -> tuple[Tensor, int, World | None]:
    """``(this rank's rows, the number of global samples, the world or None)``."""
    if isinstance(x, Shard):
        if x.world.count(x.n) != x.x.shape[0]:
            raise ValueError(
                f"x: rank {x.world.rank} of {x.world.size} owns {x.world.count(x.n)} of {x.n} samples, "
                f"got {x.x.shape[0]} rows"
            )
        return x.x, x.n, x.world
    return x, x.shape[0], None


def _rows(x: Tensor, world: World | None, s: int, e: int) -> Tensor:
    """This rank's rows of the global samples ``[s, e)``."""
    if world is None:
        return x[s:e]
    lo, hi = world.local(s, e)
    return x[lo:hi]


@torch.no_grad()
def train_epoch(
    model: Network,
    layer: int | str,
    x: Tensor | Shard,
    state: STDPState | RSTDPState,
    labels: Tensor | None = None,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "",
    phase: Phase | None = None,
    epoch: int = 0,
) -> dict[str, float]:
    """One epoch of ``layer``'s rule over ``x``, its padded input ``[N, C, Hp, Wp]``.

    A block of heads, or a decision ``phase`` with joint layers, trains every learner
    (:func:`_rstdp_multi_epoch`; ``x`` is then the input of :func:`phase_input_layer` and
    ``epoch`` the 0-based epoch within the phase).

    STDP: winners by pointwise inhibition and k-WTA, rates from the layer's schedule and
    ``state.samples``. R-STDP (decision layer, needs ``labels``): reward right decisions,
    punish wrong ones, nothing for silence; rates adapt every chunk of samples (a batch
    never straddles a chunk boundary). Returns the epoch's correct / wrong / silent
    fractions (R-STDP) or ``{}`` (STDP). ``state`` is updated in place.

    Across ranks (``torchrun``; :mod:`fastspike.distributed`) ``x`` is a
    :class:`~fastspike.distributed.Shard`: this rank's samples of the epoch's ``n``, with
    every label; ``batch_size`` is the global batch. The weights, the state and the result
    are those of one process with the same batch size, bit for bit, on every rank.
    """
    i = model.index(layer)
    x, n, world = _unshard(x)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if _is_multi(model, phase, layer):
        name = layer if isinstance(layer, str) else model.layer_names[i]
        phase = phase or Phase(layer=name)
        if phase.layer != name:
            raise ValueError(f"phase: trains {phase.layer!r}, not {name!r}")
        if not isinstance(state, MultiRSTDPState):
            raise TypeError(f"state: expected a MultiRSTDPState for {name!r}, got {type(state).__name__}")
        return _rstdp_multi_epoch(model, phase, x, n, world, state, labels, batch_size, epoch, progress, desc)
    conv, rule, T = model.conv(layer), model.rule(layer), model.T
    if rule is None:
        raise ValueError(f"layer {layer!r}: has no learning rule")
    kh, kw = conv.weight.shape[2:]
    if isinstance(rule, STDP):
        if not isinstance(state, STDPState):
            raise TypeError(f"state: expected an STDPState for layer {layer!r}, got {type(state).__name__}")
        # the whole epoch's rates, built on the host and copied once (no copy, and so no
        # host synchronisation, per batch on a GPU)
        if isinstance(rule.rates, FixedRates):
            lr_all = torch.tensor([rule.rates.a_plus, rule.rates.a_minus], dtype=torch.float32).expand(n, 2)
        else:
            lr_all = stdp_rates(torch.arange(state.samples, state.samples + n), rule.rates)
        lr_all = lr_all.to(conv.weight.device)
        with _tqdm(n, desc, progress) as bar:
            for s, e in _batches(n, batch_size):
                xb = _rows(x, world, s, e)
                times, values = conv(xb, T)
                winners = conv.winners(times, values, T, pointwise=conv.pointwise)
                [(xg, tg, wg)], _ = exchange(world, [(xb, times, winners, kh, kw)], None, s, e, T)
                conv.stdp(xg, tg, wg, lr_all[s:e], T)
                state.samples += e - s
                bar.update(e - s)
        return {}
    if not isinstance(state, RSTDPState):
        raise TypeError(f"state: expected an RSTDPState for layer {layer!r}, got {type(state).__name__}")
    _check_labels(labels, n)
    if i != len(model.layer_names) - 1:
        raise ValueError(f"layer {layer!r}: R-STDP trains the decision layer only")
    chunk = rule.rates.chunk
    dev = x.device
    labels = labels.to(dev)

    # Counts stay on the device and the rates are copied there once per chunk: on a GPU
    # the loop synchronises with the host once per chunk of samples, not per batch.
    # (compat mode selects the non-silent samples with a mask: one sync per batch.)
    def device_rates() -> Tensor:
        return torch.tensor([state.reward, state.punish], dtype=torch.float32, device=dev)

    rates = device_rates()
    pending = torch.zeros(2, dtype=torch.int64, device=dev)  # hits, misses not yet read
    hits = misses = 0

    def read_pending() -> None:  # the one host sync: at a chunk's end and the epoch's
        nonlocal hits, misses
        h, m = pending.tolist()
        pending.zero_()
        hits, misses = hits + h, misses + m
        state.chunk_hits += h
        state.chunk_misses += m

    s = 0
    with _tqdm(n, desc, progress) as bar:
        while s < n:
            e = min(n, s + batch_size, s + chunk - state.chunk_seen)
            xb, yb = _rows(x, world, s, e), labels[s:e]
            classes, winners, times = model.decide(xb)
            [(xb, times, winners)], ex = exchange(
                world, [(xb, times, winners, kh, kw)], classes.view(-1, 1), s, e, T
            )
            classes = ex[:, 0].long()
            hit = classes == yb
            miss = (classes != yb) & (classes >= 0)
            lr = torch.where(hit.unsqueeze(1), rates[0], rates[1])  # silent samples have no winner: no update
            _update(conv, xb, times, winners, lr, T)
            pending[0] += hit.sum()
            pending[1] += miss.sum()
            state.chunk_seen += e - s
            if state.chunk_seen == chunk:
                read_pending()
                state.end_chunk(chunk, rule.rates)
                rates = device_rates()
            bar.update(e - s)
            s = e
    read_pending()
    return {"correct": hits / n, "wrong": misses / n, "silent": (n - hits - misses) / n}


def _check_labels(labels: Tensor | None, n: int) -> None:
    if labels is None or labels.shape[0] != n:
        raise ValueError(
            f"labels: R-STDP needs one label per sample ({n}), got "
            f"{None if labels is None else tuple(labels.shape)}"
        )


def _update(conv, xb: Tensor, times: Tensor, winners: Tensor, lr: Tensor, T: int, rule=None) -> None:
    """An R-STDP update of a batch. In compat mode a sample without a winner makes no call at all
    (no whole-tensor clamp), as the reference makes no update call for silence."""
    if conv.compat:
        keep = winners[:, 0, 0] >= 0
        xb, times, winners, lr = xb[keep], times[keep], winners[keep], lr[keep]
    conv.stdp(xb, times, winners, lr, T, rule)


@torch.no_grad()
def _rstdp_multi_epoch(
    model: Network,
    phase: Phase,
    x: Tensor,
    n: int,
    world: World | None,
    state: MultiRSTDPState,
    labels: Tensor | None,
    batch_size: int,
    epoch: int,
    progress: bool,
    desc: str,
) -> dict[str, float]:
    """One epoch of a decision phase with several R-STDP learners.

    * **Heads** (a :class:`~fastspike.spec.Parallel` block, vote readout): ``x`` is the
      block's input. Every head is rewarded (its class is the label) or punished (another
      class) by its own vote; a silent head is not updated. After a chunk each head's rates
      are rescaled from its bases by its own hit and miss fractions (``adapt="head"``) or
      by the vote's (``"majority"``).
    * **Joint layers** (``phase.joint``, one thresholded conv J below the decision layer D):
      ``x`` is J's input. J's winners come from pointwise inhibition and k-WTA of its own
      potentials; D reads J's uninhibited spikes and decides; a right decision rewards the
      learners of the chunk (``phase.schedule``), a wrong one punishes them, silence
      changes nothing. J learns by its ``reward_rule`` (rates, bounds, stabiliser).

    As everywhere, a batch runs forward with the weights at its start and applies each
    sample's updates in order, so ``batch_size=1`` is the sequential algorithm; a batch
    never straddles a chunk. ``x`` holds this rank's rows of the ``n`` samples.
    """
    _check_labels(labels, n)
    T, dev = model.T, x.device
    labels = labels.to(dev)
    learners = _learners(model, phase)
    names = [name for name, _ in learners]
    bases = dict(learners)
    missing = [name for name in names if name not in state.layers]
    if missing:
        raise ValueError(f"state: has no rates for {missing[0]!r} (learners: {names})")
    heads = isinstance(model.layer_spec(phase.layer), Parallel)
    chunk = bases[names[-1]].chunk
    L = len(names)

    def device_rates() -> dict[str, Tensor]:
        return {
            name: torch.tensor([st.reward, st.punish], dtype=torch.float32, device=dev)
            for name, st in state.layers.items()
        }

    rates = device_rates()
    pending = torch.zeros(2 + 2 * L, dtype=torch.int64, device=dev)  # decision, then per head
    hits = misses = 0

    def read_pending() -> None:  # the one host sync: at a chunk's end and the epoch's
        nonlocal hits, misses
        v = pending.tolist()
        pending.zero_()
        hits, misses = hits + v[0], misses + v[1]
        state.chunk_hits += v[0]
        state.chunk_misses += v[1]
        if heads:
            for k, name in enumerate(names):
                state.layers[name].chunk_hits += v[2 + 2 * k]
                state.layers[name].chunk_misses += v[3 + 2 * k]

    def selected() -> str:  # the learner of the current chunk (alternating schedules)
        if phase.schedule == "alternate_chunks":
            return names[state.chunks % L]
        return names[0] if epoch + state.chunks % 2 == 0 else names[-1]  # repo_compat

    def end_chunk() -> None:
        read_pending()
        state.chunks += 1
        if heads:
            rescale = set(names)
        else:
            rescale = {selected()} if phase.schedule == "repo_compat" else set(names)
        for name in names:
            st = state.layers[name]
            if not heads or model.spec.readout.adapt == "majority":
                st.chunk_hits, st.chunk_misses = state.chunk_hits, state.chunk_misses
            if name in rescale:
                st.end_chunk(chunk, bases[name])
            else:
                st.chunk_seen = st.chunk_hits = st.chunk_misses = 0
        state.chunk_seen = state.chunk_hits = state.chunk_misses = 0

    if not heads:
        J, D = model.conv(names[0]), model.conv(phase.layer)
        jJ, jD = model.index(names[0]), model.index(phase.layer)
        rr = model.layer_spec(names[0]).reward_rule
        j_rule = (rr.stabilize, rr.lb, rr.ub)
    s = 0
    with _tqdm(n, desc, progress) as bar:
        while s < n:
            e = min(n, s + batch_size, s + chunk - state.chunk_seen)
            xb, yb = _rows(x, world, s, e), labels[s:e]
            if heads:
                convs = model.conv(phase.layer).convs
                classes, winners, times, votes = model.decide_heads(xb)
                parts, ex = exchange(
                    world,
                    [(xb, t, w, *c.weight.shape[2:]) for c, t, w in zip(convs, times, winners, strict=True)],
                    torch.cat([classes.view(-1, 1), votes], 1),
                    s,
                    e,
                    T,
                )
                classes, votes = ex[:, 0].long(), ex[:, 1:].long()
                for k, (name, conv) in enumerate(zip(names, convs, strict=True)):
                    v = votes[:, k]
                    hit_h, miss_h = v == yb, (v != yb) & (v >= 0)
                    lr = torch.where(hit_h.unsqueeze(1), rates[name][0], rates[name][1])
                    _update(conv, *parts[k], lr, T)  # silent heads have no winner
                    pending[2 + 2 * k] += hit_h.sum()
                    pending[3 + 2 * k] += miss_h.sum()
            else:
                learn = set(names) if phase.schedule == "joint" else {selected()}
                tJ, vJ = J(xb, T)
                wJ = J.winners(tJ, vJ, T, pointwise=J.pointwise)
                x_dec = model._run_ops(model._following(jJ + 1), tJ, True, None)
                if jD > jJ + 1:
                    x_dec = model._run(x_dec, jJ + 1, jD, True, first_stage=False)
                classes, wD, tD = model.decide(x_dec)
                wJ = wJ.masked_fill((classes < 0).view(-1, 1, 1), -1)  # silence: no update
                parts, ex = exchange(
                    world,
                    [(x_dec, tD, wD, *D.weight.shape[2:]), (xb, tJ, wJ, *J.weight.shape[2:])],
                    classes.view(-1, 1),
                    s,
                    e,
                    T,
                )
                classes = ex[:, 0].long()
                hit = (classes == yb).unsqueeze(1)
                if phase.layer in learn:
                    _update(D, *parts[0], torch.where(hit, rates[phase.layer][0], rates[phase.layer][1]), T)
                if names[0] in learn:
                    lr = torch.where(hit, rates[names[0]][0], rates[names[0]][1])
                    _update(J, *parts[1], lr, T, j_rule)
            pending[0] += (classes == yb).sum()
            pending[1] += ((classes != yb) & (classes >= 0)).sum()
            state.chunk_seen += e - s
            if state.chunk_seen == chunk:
                end_chunk()
                rates = device_rates()
            bar.update(e - s)
            s = e
    read_pending()
    return {"correct": hits / n, "wrong": misses / n, "silent": (n - hits - misses) / n}


def _fractions(pred: Tensor, labels: Tensor, world: World | None = None) -> dict[str, float]:
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
    model: Network, x_last: Tensor, labels: Tensor, batch_size: int = 1000, world: World | None = None
) -> dict[str, float]:
    """Fractions correct / wrong / silent of a decision network on its decision layer's inputs
    (across ranks: this rank's samples and labels, the counts summed over the ranks)."""
    return _fractions(_map_batches(lambda x: model.decide(x)[0], x_last, batch_size), labels, world)


@torch.no_grad()
def evaluate_features(
    model: Network, features: Tensor, labels: Tensor, world: World | None = None
) -> dict[str, float]:
    """Fractions correct / wrong / silent of a linear-readout network on its features ``[N, D]``."""
    return _fractions(model.classify_features(features), labels, world)


@torch.no_grad()
def predict(model: Network, times: Tensor, batch_size: int = 1000) -> Tensor:
    """Answers ``[N]`` int64 (class, -1 = silence) of the network on encoded inputs ``times``."""
    return _map_batches(model, times, batch_size)


@torch.no_grad()
def predict_images(model: Network, images: Tensor, batch_size: int = 1000, progress: bool = False) -> Tensor:
    """Encode uint8 images ``[N, H, W]`` with the model's own encoder and answer them:
    ``[N]`` int64 classes (-1 = silence), on the model's device."""
    dev = next(model.buffers()).device
    return _map_batches(
        lambda img: model(model.encoder(img.to(dev))), images, batch_size, progress, "evaluate"
    )


@torch.no_grad()
def evaluate_images(
    model: Network, images: Tensor, labels: Tensor, batch_size: int = 1000, progress: bool = False
) -> dict[str, float]:
    """Encode uint8 images ``[N, H, W]`` with the model's encoder and evaluate the network on
    them (decision layer or linear readout) -> correct / wrong / silent fractions."""
    return _fractions(predict_images(model, images, batch_size, progress), labels)


def _weights_of(net: Network, phase: Phase) -> Tensor | dict[str, Tensor]:
    """A copy of the weights a phase trains (one tensor, or a dict for several learners)."""
    if _is_multi(net, phase, phase.layer):
        return {name: net.conv(name).weight.detach().cpu().clone() for name, _ in _learners(net, phase)}
    return net.conv(phase.layer).weight.detach().cpu().clone()


def _set_weights(net: Network, layer: str, weights: Tensor | dict) -> None:
    """Put back what :func:`_weights_of` copied."""
    if isinstance(weights, dict):
        for name, w in weights.items():
            net.conv(name).weight.copy_(w.to(net.conv(name).weight.device))
    else:
        net.conv(layer).weight.copy_(weights.to(net.conv(layer).weight.device))


def _bounded(net: Network, phase: Phase | None, layer: str) -> list:
    """``(conv name, the rule whose bounds it learns within)`` for what a phase of ``layer`` trains."""
    if phase is not None and phase.layer == layer and _is_multi(net, phase, layer):
        out = []
        for name, _ in _learners(net, phase):
            c = net.layer_spec(name)
            out.append((name, c.rule if c.is_decision else c.reward_rule))
        return out
    return [(layer, net.rule(layer))]


@torch.no_grad()
def _evaluate_from(
    net: Network, j_in: int, j: int, x: Tensor, labels: Tensor, batch_size: int = 1000, world=None
):
    """:func:`evaluate` from the input of layer ``j_in`` (0-based), below the decision layer ``j``
    (across ranks: this rank's samples and labels, the counts summed over the ranks)."""

    if j_in == j:
        return evaluate(net, x, labels, batch_size, world)

    def decide(xb: Tensor) -> Tensor:
        return net.decide(net._run(xb, j_in, j, False, first_stage=False))[0]

    return _fractions(_map_batches(decide, x, batch_size), labels, world)


@torch.no_grad()
def _advance(model: Network, i: int, x: Tensor, j: int, batch_size: int, progress: bool) -> Tensor:
    """Conv ``i``'s inputs ``x`` -> conv ``j``'s inputs (``j > i``; training mode)."""
    for k in range(i, j):
        x = _map_batches(
            lambda xb, k=k: model.next_input(k + 1, xb, training=True),
            x,
            batch_size,
            progress,
            f"{model.layer_names[k]} features",
        )
    return x


# ----------------------------------------------------------------------------- checkpoints
def checkpoint_checksum(ckpt: dict) -> str:
    """SHA-256 of everything in a checkpoint but its ``checksum`` entry: every tensor's
    name, dtype, shape and bytes, and every other value's ``repr``, in a fixed order."""
    h = hashlib.sha256()

    def walk(o, path: str) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"{path}:{t.dtype}:{tuple(t.shape)}:".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            for k in sorted(o, key=str):
                if not (path == "" and k == "checksum"):
                    walk(o[k], f"{path}/{k}")
        elif isinstance(o, (list, tuple)):
            h.update(f"{path}:{type(o).__name__}{len(o)}".encode())
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
        else:
            h.update(f"{path}={o!r};".encode())

    walk(ckpt, "")
    return h.hexdigest()


def _save(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if obj.get("format") == CHECKPOINT_FORMAT:
        obj = {**obj, "checksum": checkpoint_checksum(obj)}
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def _load(path: str, what: str = "checkpoint") -> dict:
    """``torch.load`` with ``weights_only=True``: plain data only, nothing in the file runs."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no file {path!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unpickler refusal, or not a torch file at all
        raise ValueError(
            f"{what} {path!r}: not a plain-data fastspike checkpoint (refused to load it: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{what} {path!r}: expected a dict, got {type(ckpt).__name__}")
    if "checksum" in ckpt and ckpt["checksum"] != checkpoint_checksum(ckpt):
        raise ValueError(
            f"{what} {path!r}: its contents do not match the checksum it was saved with "
            "(the file is damaged or was edited)"
        )
    if ckpt.get("format") == CHECKPOINT_FORMAT and ckpt.get("version") == CHECKPOINT_VERSION:
        if "checksum" not in ckpt:
            raise ValueError(f"{what} {path!r}: version {CHECKPOINT_VERSION} but no checksum (damaged?)")
    return ckpt


@dataclass
class _Progress:
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
                None
                if self.best_weight is None
                else {k: v.cpu() for k, v in self.best_weight.items()}
                if isinstance(self.best_weight, dict)
                else self.best_weight.cpu()
            ),
        }


_LOG_FIELDS = (
    "phase",
    "layer",
    "epoch",
    "samples",
    "seconds",
    "samples_per_s",
    "wall",
    "at_bounds",
    "train_correct",
    "train_wrong",
    "train_silent",
    "val_correct",
    "val_wrong",
    "val_silent",
)


def _write_log(folder: str, log: list[dict]) -> None:
    """``history.json`` and ``history.csv``: every epoch of every phase so far (written after each)."""
    import csv

    tmp = os.path.join(folder, "history.json.tmp")
    with open(tmp, "w") as f:
        json.dump(log, f, indent=1)
    os.replace(tmp, os.path.join(folder, "history.json"))
    tmp = os.path.join(folder, "history.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_LOG_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(log)
    os.replace(tmp, os.path.join(folder, "history.csv"))


def _extends(old: NetworkSpec, new: NetworkSpec) -> bool:
    """``new`` is ``old`` with more epochs for its last phase (extending a run)."""
    if len(old.phases) != len(new.phases) or old.replace(phases=new.phases) != new:
        return False
    if old.phases[:-1] != new.phases[:-1]:
        return False
    a, b = old.phases[-1], new.phases[-1]
    return dataclasses.replace(a, epochs=b.epochs) == b and b.epochs >= a.epochs


def _checkpoint(model: Network, prog: _Progress, config: dict) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "spec": model.spec.to_dict(),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "progress": prog.to_dict(),
        "rng": torch.get_rng_state(),
    }


def _spec_of(ckpt: dict, path: str) -> tuple[NetworkSpec, dict]:
    """The spec and run config of a checkpoint; version-1 files (Mozafari 2018 only) are converted."""
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
    if ckpt.get("format") != CHECKPOINT_FORMAT or version not in (2, CHECKPOINT_VERSION):
        raise ValueError(
            f"checkpoint {path!r}: not a fastspike checkpoint of version 1 to {CHECKPOINT_VERSION} "
            f"(format {ckpt.get('format')!r}, version {version!r})"
        )
    return NetworkSpec.from_dict(ckpt["spec"]), ckpt.get("config", {})


def load_model(path: str, device: str | torch.device = "cpu", best: bool = True) -> Network:
    """Load a trained network from a checkpoint file (with its best-epoch weights when ``best``).

    The file is read as plain data (``weights_only=True``); its spec rebuilds the network,
    so any registered or custom network loads. Version-1 files (Mozafari 2018) load too.
    """
    ckpt = _load(path)
    spec, cfg = _spec_of(ckpt, path)
    model = Network(spec, compat=bool(cfg.get("compat", False)), seed=None)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"checkpoint {path!r}: weights do not fit {spec.name!r} ({err})") from err
    prog = ckpt.get("progress") or {}
    best_w = prog.get("best_weight")
    if best and best_w is not None:
        _set_weights(model, prog.get("best_layer") or model.layer_names[-1], best_w)
    model.dataset = cfg.get("dataset")
    return model.to(device)


# ----------------------------------------------------------------------------- the trainer
def _check_device(device: str | torch.device | None) -> torch.device:
    """The device to run on (default CUDA when usable), or a clear error."""
    from fastspike import WITH_CUDA

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() and WITH_CUDA else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: 'cuda' asked for, but torch sees no GPU here (use --device cpu)")
        if not WITH_CUDA:
            raise ValueError(
                "device: fastspike was built without its CUDA kernels; rebuild with "
                "FORCE_CUDA=1 pip install --no-build-isolation --no-deps -e ."
            )
    elif device.type != "cpu":
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {str(device)!r}")
    return device


def resolve_spec(model: str | NetworkSpec, T: int | None = None) -> NetworkSpec:
    """A spec from a registered name, a JSON/YAML config file or a spec (``T`` overrides its time steps).
    A registered Diehl & Cook network comes back as its :class:`~fastspike.diehlcook.DiehlCookSpec`."""
    from fastspike.diehlcook import DiehlCookSpec

    if isinstance(model, DiehlCookSpec) or (
        isinstance(model, str)
        and not model.endswith((".json", ".yaml", ".yml"))
        and isinstance(get_spec(model), DiehlCookSpec)
    ):
        if T is not None:
            raise ValueError("T: a Diehl & Cook network has no T (its steps come from dt and t_present)")
        return model if isinstance(model, DiehlCookSpec) else get_spec(model)
    if isinstance(model, NetworkSpec):
        spec = model
    elif isinstance(model, str) and model.endswith((".json", ".yaml", ".yml")):
        spec = load_spec(model)
    elif isinstance(model, str):
        spec = get_spec(model)
    else:
        raise TypeError(f"model: expected a registered name, a config file or a NetworkSpec, got {model!r}")
    return spec if T is None or T == spec.T else spec.replace(T=T)


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


def _hold_out(train_set, validation: int, spec: NetworkSpec):
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


def _fit_to_data(spec: NetworkSpec, data, dataset: str) -> NetworkSpec:
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


def train(
    model: str | NetworkSpec = "mozafari2018",
    dataset: str = "mnist",
    root: str = "data",
    *,
    device: str | torch.device | None = None,
    preset: str = "quick",
    epochs: Sequence[int | None] | dict[str, int] | None = None,
    samples: Sequence[int | None] | dict[str, int | None] | None = None,
    test_samples: int | None = None,
    validation: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    T: int | None = None,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    compat: bool = False,
    download: bool = True,
    cache_dir: str | None = None,
    stop_after_epochs: int | None = None,
    tensorboard: bool = False,
    image_size: tuple[int, int] = (28, 28),
) -> tuple[Network, list[dict]]:
    """Train any network through its spec's phases.

    Args:
        model: a registered name (``python -m fastspike models``), a JSON/YAML config
            file, or a :class:`~fastspike.spec.NetworkSpec`.
        dataset, root: a dataset of :func:`fastspike.data.load_dataset` (``"mnist"``,
            ``"fashion-mnist"``, ``"kmnist"``, ``"emnist"``, ``"cifar10"``, ``"folder"``) under
            ``root``. The network takes the dataset's image size (its layers are checked
            against it); its number of classes must be the dataset's.
        device: default CUDA when available, else CPU.
        preset: ``"paper"`` (the spec's phases as they are) or ``"quick"`` (see :data:`PRESETS`).
        epochs, samples: per phase (a sequence in phase order, or a dict phase layer -> value),
            overriding the preset; ``samples`` ``None`` = the whole training set.
        test_samples: evaluate on the first ``test_samples`` test images only.
        validation: the last ``validation`` training images are held out (never trained on)
            and every evaluated epoch is scored on them; a ``keep_best`` phase keeps the
            weights of its best epoch on this split. The test set is evaluated once, at the
            end, with the chosen weights. Default (``None``): 10,000 when a phase keeps its
            best epoch, else 0 (nothing is chosen, so every image trains).
        batch_size: samples per batched update (1 = the exact sequential algorithm); a
            phase's own ``batch_size`` wins.
        seed: initial weights; a run is reproducible from its seed on the same device.
        T: time steps, overriding the spec's.
        checkpoint_dir: ``last.pt`` after every epoch; ``best.pt`` at the end.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists (exactly as an
            uninterrupted run would go on).
        compat: reproduce the reference's quirks.
        cache_dir: cache the encoded dataset on disk.
        image_size: ``(height, width)`` that ``dataset="folder"`` images are resized to.
        stop_after_epochs: stop (as if interrupted) after this many epochs in this call.
        tensorboard: also log every epoch to ``checkpoint_dir/tensorboard`` (needs the
            ``tensorboard`` package; see :mod:`fastspike.tblog`).

    Under ``torchrun`` (``torch.distributed`` initialised with several ranks; see
    :mod:`fastspike.distributed`) every rank encodes, caches and runs forward its share of
    the samples, the updates are exchanged and applied in global order, and the result
    (weights, history, metrics) equals one process's with the same ``batch_size`` bit for
    bit. Rank 0 alone prints, saves and logs; ``resume`` reads ``checkpoint_dir`` on every
    rank (a shared folder) and works with any number of ranks.

    Returns:
        ``(model, history)``: the network (with the chosen weights of a ``keep_best`` phase)
        and one record per evaluated epoch (layer, epoch, train and validation correct /
        wrong / silent fractions, seconds, wall time). ``model.test_metrics`` holds the
        test-set metrics of the returned weights (:func:`fastspike.metrics.classification_metrics`).
    """
    spec = resolve_spec(model, T)
    from fastspike.diehlcook import DiehlCookSpec, train_diehl_cook

    if isinstance(spec, DiehlCookSpec):  # its own trainer (no phases, no batches)
        first = lambda v: v[0] if isinstance(v, (list, tuple)) and v else v  # noqa: E731
        return train_diehl_cook(
            spec, dataset, root, device=device, epochs=first(epochs), samples=first(samples),
            test_samples=test_samples, seed=seed, checkpoint_dir=checkpoint_dir, resume=resume,
            progress=progress, download=download,
        )  # fmt: skip
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    overrides = _preset_overrides(preset, spec)
    phases = list(spec.phases)
    ep = _per_phase(epochs, phases, "epochs")
    sm = _per_phase(samples, phases, "samples")
    phases = [
        dataclasses.replace(
            p,
            epochs=e if e is not None else overrides.get(p.layer, {}).get("epochs", p.epochs),
            samples=n if samples is not None else overrides.get(p.layer, {}).get("samples", p.samples),
        )
        for p, e, n in zip(phases, ep, sm, strict=True)
    ]
    spec = spec.replace(phases=tuple(phases))  # validates the phases
    bs = 64 if batch_size is None else batch_size
    if test_samples is not None and (
        isinstance(test_samples, bool) or not isinstance(test_samples, int) or test_samples < 1
    ):
        raise ValueError(
            f"test_samples: expected a positive number of test images or None, got {test_samples!r}"
        )
    if validation is None:
        validation = 10000 if any(p.keep_best for p in spec.phases) else 0
    if isinstance(validation, bool) or not isinstance(validation, int) or validation < 0:
        raise ValueError(
            f"validation: expected a number of held-out training images >= 0, got {validation!r}"
        )
    if resume and not checkpoint_dir:
        raise ValueError("resume: needs checkpoint_dir")
    if tensorboard and not checkpoint_dir:
        raise ValueError("tensorboard: needs checkpoint_dir (the logs go into the run folder)")
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401
        except ImportError:
            raise ValueError(
                "tensorboard: the tensorboard package is not installed (pip install tensorboard)"
            ) from None
    world = distributed.world()
    main = world is None or world.is_main
    progress = progress and main
    if checkpoint_dir:  # fail now (on every rank), not at the first save after a layer has trained
        try:
            os.makedirs(checkpoint_dir, exist_ok=True)
            probe = os.path.join(checkpoint_dir, ".write-test" + ("" if world is None else f"-{world.rank}"))
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as err:
            raise ValueError(f"checkpoint_dir: cannot write to {checkpoint_dir!r} ({err.strerror})") from None
    device = _check_device(device)
    t_start = time.perf_counter()

    train_set, test_set = load_dataset(dataset, root, download=download, image_size=image_size)
    spec = _fit_to_data(spec, train_set, dataset)
    net = Network(spec, compat=compat, seed=seed)
    config = {
        "model": spec.name,
        "dataset": dataset,
        "seed": seed,
        "compat": compat,
        "batch_size": bs,
        "test_samples": test_samples,
        "validation": validation,
    }
    prog = _Progress()
    last = os.path.join(checkpoint_dir, "last.pt") if checkpoint_dir else None
    if resume and not os.path.exists(last):
        raise ValueError(f"resume: nothing to resume in {checkpoint_dir!r} (no last.pt there)")
    if resume:
        ckpt = _load(last)
        ck_spec, ck_cfg = _spec_of(ckpt, last)
        extend = ck_cfg == config and _extends(ck_spec, spec)
        if not extend and (ck_spec != spec or ck_cfg != config):
            raise ValueError(
                f"resume: checkpoint {last!r} was made with another configuration "
                f"({ck_cfg}, network {ck_spec.name!r}) than this run ({config}, network "
                f"{spec.name!r}{', other layers or phases' if ck_spec.name == spec.name else ''})"
            )
        net.load_state_dict(ckpt["model"])
        p = ckpt["progress"]
        prog = _Progress(
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
        torch.set_rng_state(ckpt["rng"])
        if extend and ck_spec != spec and prog.phase == len(spec.phases):
            # a finished run with more epochs for its last phase: go on where it ended
            prog.phase, prog.epoch = len(spec.phases) - 1, ck_spec.phases[-1].epochs
        if progress:
            where = (
                "finished"
                if prog.phase == len(spec.phases)
                else f"phase {prog.phase + 1}/{len(spec.phases)} ({spec.phases[prog.phase].layer}), "
                f"{prog.epoch} epochs done"
            )
            print(f"resuming {spec.name} from {last}: {where}", flush=True)
    net.to(device)
    net.dataset = dataset

    def save() -> None:
        if last and main:
            _save(last, _checkpoint(net, prog, config))
            _write_log(checkpoint_dir, prog.log)

    def log_epoch(layer: str, t0: float, samples: int, train_res: dict | None, val_res: dict | None) -> None:
        sec = time.perf_counter() - t0
        rec = {
            "phase": prog.phase,
            "layer": layer,
            "epoch": prog.epoch if layer != "readout" else 1,
            "samples": samples,
            "seconds": round(sec, 4),
            "samples_per_s": round(samples / sec, 1) if sec > 0 else None,
            "wall": round(time.perf_counter() - t_start, 3),
        }
        if layer != "readout":
            n_at, n_all = 0, 0
            for name, rule in _bounded(
                net, spec.phases[prog.phase] if prog.phase < len(spec.phases) else None, layer
            ):
                w = net.conv(name).weight
                n_at += int(((w - rule.lb).abs() < 0.01).logical_or((rule.ub - w).abs() < 0.01).sum())
                n_all += w.numel()
            rec["at_bounds"] = round(n_at / max(1, n_all), 6)
        for key, res in (("train", train_res), ("val", val_res)):
            for k, v in (res or {}).items():
                rec[f"{key}_{k}"] = v
        prog.log.append(rec)
        if tb is not None:
            tb.epoch(rec, len(prog.log))

    test_set = test_set.subset(test_samples)
    train_set, val_set = _hold_out(train_set, validation, spec)
    sizes = [len(train_set.subset(p.samples)) for p in spec.phases]
    n_max = max(sizes)
    encoder = net.encoder
    # across ranks each rank encodes and caches the samples it owns (i % size == rank)
    mine = (lambda t: t) if world is None else world.shard
    owned = (lambda m: m) if world is None else world.count
    x_train = encode_dataset(
        mine(train_set.images[:n_max]), encoder, device, cache_dir=cache_dir, progress=progress
    )
    x_val = val_labels = None
    if val_set is not None:
        x_val = encode_dataset(mine(val_set.images), encoder, device, cache_dir=cache_dir, progress=progress)
        val_labels = mine(val_set.labels)
    map_bs = max(bs, 256)
    tb = None
    if tensorboard and main:
        from fastspike.tblog import TensorBoardLogger

        probe = x_val if x_val is not None else x_train
        tb = TensorBoardLogger(os.path.join(checkpoint_dir, "tensorboard"), net, probe[:64])
    cache: tuple[int, Tensor] | None = None  # (conv index, its training-mode inputs)
    done_now = 0

    def inputs(j: int, n: int) -> Tensor:
        nonlocal cache
        need = max(
            [n]
            + [
                s
                for p, s in zip(spec.phases[prog.phase :], sizes[prog.phase :], strict=False)
                if p.layer != "readout" and net.index(p.layer) >= j
            ]
        )
        need = owned(need)
        if cache is None or cache[0] > j or cache[1].shape[0] < need:
            cache = (0, net.layer_input(1, x_train[:need], training=True))
        if cache[0] < j:
            cache = (j, _advance(net, cache[0], cache[1][:need], j, map_bs, progress))
        return cache[1][: owned(n)]

    while prog.phase < len(spec.phases):
        phase = spec.phases[prog.phase]
        n = sizes[prog.phase]
        pbs = phase.batch_size or bs
        if phase.layer == "readout":
            if stop_after_epochs is not None and done_now >= stop_after_epochs:
                break
            t0 = time.perf_counter()
            ro = spec.readout
            f_train = _map_batches(net.features, x_train[: owned(n)], map_bs, progress, "features (train)")
            y_train = train_set.labels[:n].to(device)
            if world is not None:  # every rank's features, in sample order; rank 0 fits
                f_train = world.gather(f_train, 0, n)
            if main:
                W, b = fit_linear(
                    f_train, y_train, spec.n_classes, ro.method, ro.C, ro.max_iter, progress=progress
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
            if x_val is not None:
                f_val = _map_batches(net.features, x_val, map_bs, progress, "features (validation)")
                va = evaluate_features(net, f_val, val_labels, world)
            prog.history.append(
                {
                    "phase": prog.phase,
                    "layer": "readout",
                    "epoch": 1,
                    "train": tr,
                    **({"val": va} if va is not None else {}),
                    "seconds": time.perf_counter() - t0,
                    "wall": time.perf_counter() - t_start,
                }
            )
            if progress:
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
            log_epoch("readout", t0, n, tr, va)
            done_now += 1
            prog.phase, prog.epoch = prog.phase + 1, 0
            save()
            continue
        j = net.index(phase.layer)
        j_in = net.index(phase_input_layer(spec, phase))  # the lowest layer that learns
        state = (
            _state_from(prog.states[phase.layer])
            if phase.layer in prog.states
            else new_state(net, phase.layer, phase=phase)
        )
        x = labels = x_eval = None
        stopped = False
        while prog.epoch < phase.epochs:
            if stop_after_epochs is not None and done_now >= stop_after_epochs:
                stopped = True
                break
            if x is None:
                x = inputs(j_in, n)
                if world is not None:
                    x = Shard(x, n, world)
                labels = train_set.labels[:n]
            if phase.evaluate and x_val is not None and x_eval is None:
                x_eval = _map_batches(lambda xb, j=j_in: net.layer_input(j + 1, xb), x_val, map_bs)
            t0 = time.perf_counter()
            tr = train_epoch(
                net,
                phase.layer,
                x,
                state,
                labels=labels,
                batch_size=pbs,
                progress=progress,
                desc=f"{phase.layer} {'STDP' if isinstance(state, STDPState) else 'R-STDP'} "
                f"epoch {prog.epoch + 1}/{phase.epochs}",
                phase=phase,
                epoch=prog.epoch,
            )
            prog.epoch += 1
            done_now += 1
            prog.states[phase.layer] = _state_dict(state)
            va = None
            if phase.evaluate:
                va = (
                    _evaluate_from(net, j_in, j, x_eval, val_labels, world=world)
                    if x_eval is not None
                    else None
                )
                prog.history.append(
                    {
                        "phase": prog.phase,
                        "layer": phase.layer,
                        "epoch": prog.epoch,
                        "train": tr,
                        **({"val": va} if va is not None else {}),
                        "seconds": time.perf_counter() - t0,
                        "wall": time.perf_counter() - t_start,
                    }
                )
                if phase.keep_best and va is not None and va["correct"] > prog.best_accuracy:
                    prog.best_accuracy, prog.best_epoch, prog.best_layer = (
                        va["correct"],
                        prog.epoch,
                        phase.layer,
                    )
                    prog.best_weight = _weights_of(net, phase)
                if progress:
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
            log_epoch(phase.layer, t0, n, tr, va)
            finished = prog.epoch == phase.epochs
            if finished:
                prog.phase, prog.epoch = prog.phase + 1, 0
                if cache is not None and cache[0] > j_in:
                    cache = None  # inputs above the trained layer are stale now
            save()
            if finished:
                break
        if stopped:
            break  # as if interrupted (stop_after_epochs)
    if tb is not None:
        tb.close()
    if prog.best_weight is not None:
        _set_weights(net, prog.best_layer, prog.best_weight)
    net.test_metrics = None
    net.selection = None
    if prog.best_weight is not None:
        net.selection = {
            "layer": prog.best_layer,
            "epoch": prog.best_epoch,
            "of": spec.phases[[p.layer for p in spec.phases].index(prog.best_layer)].epochs,
            "val_correct": prog.best_accuracy,
            "validation": validation,
        }
    if prog.phase == len(spec.phases):
        # the test set, once, with the chosen weights: accuracy, silence, confusion, F1
        x_test = encode_dataset(
            mine(test_set.images), encoder, device, cache_dir=cache_dir, progress=progress
        )
        confusion = confusion_matrix(predict(net, x_test, map_bs), mine(test_set.labels), spec.n_classes)
        if world is not None:  # each rank's test images; the matrices add up
            confusion = world.all_reduce_sum(confusion)
        net.test_metrics = metrics_from_confusion(confusion)
        if progress:
            print(format_metrics(net.test_metrics), flush=True)
        if checkpoint_dir and main:
            _save(os.path.join(checkpoint_dir, "best.pt"), _checkpoint(net, prog, config))
            with open(os.path.join(checkpoint_dir, "metrics.json"), "w") as f:
                json.dump(
                    {
                        "model": spec.name,
                        "dataset": dataset,
                        "test_images": len(test_set),
                        "validation_images": validation,
                        "selected": net.selection,
                        **net.test_metrics,
                    },
                    f,
                    indent=1,
                )
    return net, prog.history


def train_mnist(
    root: str = "data",
    *,
    model: str | NetworkSpec = "mozafari2018",
    dataset: str = "mnist",
    device: str | torch.device | None = None,
    preset: str = "quick",
    epochs1: int | None = None,
    epochs2: int | None = None,
    epochs3: int | None = None,
    samples: Sequence[int | None] | None = None,
    test_samples: int | None = None,
    validation: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
    compat: bool = False,
    download: bool = True,
    cache_dir: str | None = None,
    stop_after_epochs: int | None = None,
    tensorboard: bool = False,
    image_size: tuple[int, int] = (28, 28),
) -> tuple[Network, list[dict]]:
    """Train a network (default Mozafari 2018) on MNIST or another dataset: :func:`train` with
    per-phase overrides ``epochs1``, ``epochs2``, ``epochs3`` (the first three phases, e.g.
    S1, S2, S3 of Mozafari 2018) and ``samples`` (one per phase, ``None`` = all).

    ``preset="quick"`` (default) trains Mozafari 2018 with the paper's S1/S2 schedule and 50
    R-STDP epochs; ``"paper"`` with 2/4/680 epochs. Returns ``(model, history)`` as :func:`train`.
    """
    overrides = (epochs1, epochs2, epochs3)
    for i, e in enumerate(overrides):
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 1):
            raise ValueError(f"epochs{i + 1}: expected a positive number of epochs, got {e!r}")
    spec = resolve_spec(model, None)
    epochs = None
    if any(e is not None for e in overrides):
        epochs = [overrides[i] if i < 3 else None for i in range(len(spec.phases))]
        extra = [i + 1 for i, e in enumerate(overrides) if e is not None and i >= len(spec.phases)]
        if extra:
            raise ValueError(f"epochs{extra[0]}: {spec.name!r} has only {len(spec.phases)} phases")
    if samples is not None:
        samples = list(samples)
        for i, n in enumerate(samples):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise ValueError(f"samples{i + 1}: expected a positive number of samples or None, got {n!r}")
        samples = (samples + [None] * len(spec.phases))[: len(spec.phases)]
    return train(
        spec,
        dataset,
        root,
        device=device,
        preset=preset,
        epochs=epochs,
        samples=samples,
        test_samples=test_samples,
        validation=validation,
        batch_size=batch_size,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        compat=compat,
        download=download,
        cache_dir=cache_dir,
        stop_after_epochs=stop_after_epochs,
        tensorboard=tensorboard,
        image_size=image_size,
    )
