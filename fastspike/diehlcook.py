"""Diehl & Cook (2015): unsupervised learning of digits with STDP (docs/reference/semantics.md#diehl-cook).

784 Poisson inputs connect all-to-all, through plastic weights, to ``N`` excitatory
conductance-based neurons with adaptive thresholds; excitatory neuron ``j`` drives its own
inhibitory neuron ``j``, which inhibits every other excitatory neuron. Each image is shown
for 350 ms (rates ``pixel * intensity / 8`` Hz, intensity 2 at first) and followed by
150 ms of rest; a presentation with fewer than 5 excitatory spikes is shown again one
intensity brighter. Training is the exact sequential algorithm: images in order, the
state carried from one to the next, each neuron's input weights normalised to sum to 78
before every presentation, trace STDP on every step, the threshold ``theta`` growing by
0.05 mV per spike. After training, learning stops, the training set is shown once more and
every neuron is assigned the class it answers most; a test image is the class whose
neurons answer most (``all activity``), or the class with the largest
proportion-weighted activity (``proportion``).

A whole image (every presentation, every 0.5 ms step, every neuron, the STDP updates)
is one call of ``torch.ops.fastspike.diehl_cook_train`` (learning, images in order) or
``diehl_cook_infer`` (frozen, images independent and in parallel). The neuron, STDP and
Poisson rules are written once, in ``csrc/include/fastspike/diehl_cook.h``, for the CPU
and CUDA kernels; :func:`fastspike.reference.diehl_cook_reference` is the plain per-step
torch loop they equal bit for bit. The Poisson draws are those of
:func:`fastspike.spiketrain.poisson_encode` (Philox keyed by the seed, the image's
running index, the pixel and the step), so they depend on neither the batch size nor the
device.

This module imports nothing compiled until an operator runs, so :mod:`fastspike.registry`
can read its numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = [
    "DiehlCook",
    "DiehlCookParams",
    "DiehlCookSpec",
    "assign_labels",
    "diehlcook2015",
    "predict_all_activity",
    "predict_proportion",
    "trace_stdp",
]

KIND = "diehl_cook"


def _positive(v, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a positive number, got {v!r}")


def _finite(v, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")


@dataclass(frozen=True)
class DiehlCookParams:
    """The network's constants (docs/reference/semantics.md#diehl-cook; ms, mV; the paper's values by
    default)."""

    n_neurons: int = 100
    dt: float = 0.5  #: step (ms)
    t_present: float = 350.0  #: input shown for (ms)
    t_rest: float = 150.0  #: then no input for (ms), while training
    # excitatory neurons
    tau_e: float = 100.0
    rest_e: float = -65.0
    exc_e: float = 0.0
    inh_e: float = -100.0
    reset_e: float = -65.0
    thresh_e: float = -52.0
    offset: float = 20.0  #: the threshold is v_thresh + theta - offset
    t_ref_e: float = 5.0
    tau_ge: float = 1.0
    tau_gi: float = 2.0
    theta0: float = 20.0
    theta_plus: float = 0.05
    tau_theta: float = 1e7
    # inhibitory neurons
    tau_i: float = 10.0
    rest_i: float = -60.0
    exc_i: float = 0.0
    reset_i: float = -45.0
    thresh_i: float = -40.0
    t_ref_i: float = 2.0
    w_ei: float = 10.4
    w_ie: float = 17.0
    # STDP
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre: float = 20.0
    tau_post1: float = 20.0
    tau_post2: float = 40.0
    w_max: float = 1.0
    norm: float = 78.0
    w_init: float = 0.3  #: initial weights (U[0, 1) + 0.01) * w_init
    # input
    intensity: float = 2.0
    intensity_step: float = 1.0
    min_spikes: int = 5
    max_attempts: int = 16  #: presentations of one image at most (a blank image stops here)

    def __post_init__(self):
        if isinstance(self.n_neurons, bool) or not isinstance(self.n_neurons, int) or self.n_neurons < 1:
            raise ValueError(f"n_neurons: expected a positive integer, got {self.n_neurons!r}")
        for name in ("dt", "t_present", "tau_e", "tau_ge", "tau_gi", "tau_theta", "tau_i", "tau_pre",
                     "tau_post1", "tau_post2", "w_max", "norm"):  # fmt: skip
            _positive(getattr(self, name), name)
        for f in dataclasses.fields(self):
            if f.name not in ("n_neurons", "min_spikes", "max_attempts"):
                _finite(getattr(self, f.name), f.name)
        for name in ("t_rest", "t_ref_e", "t_ref_i", "w_init", "intensity", "intensity_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a value >= 0, got {getattr(self, name)!r}")
        if self.intensity == 0 and self.intensity_step == 0:
            raise ValueError("intensity: expected a positive intensity (or intensity_step), got 0 and 0")
        for name, lo in (("min_spikes", 0), ("max_attempts", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
        if round(self.t_present / self.dt) < 1:
            raise ValueError(f"t_present: expected at least one step of dt = {self.dt}, got {self.t_present}")
        if max(self.t_present, self.t_rest, self.t_ref_e, self.t_ref_i) / self.dt > 2**30:
            raise ValueError(f"dt: {self.dt} ms makes more than 2^30 steps")

    def steps(self, t: float) -> int:
        return int(round(t / self.dt))

    def packed(self) -> tuple[list[float], list[int]]:
        """``(params, iparams)`` of the operators, in the order of ``dc::Params``
        (csrc/include/fastspike/diehl_cook.h); the kernels round each float once to float32."""
        e = math.exp
        dt = self.dt
        f = [
            dt / self.tau_e, self.rest_e, self.exc_e, self.inh_e, self.reset_e, self.thresh_e - self.offset,
            e(-dt / self.tau_ge), e(-dt / self.tau_gi), self.theta_plus,
            e(-(self.steps(self.t_present) + self.steps(self.t_rest)) * dt / self.tau_theta),
            dt / self.tau_i, self.rest_i, self.exc_i, self.reset_i, self.thresh_i, self.w_ei, self.w_ie,
            self.nu_pre, self.nu_post,
            e(-dt / self.tau_pre), e(-dt / self.tau_post1), e(-dt / self.tau_post2),
            self.w_max, dt / 1000.0, self.norm, self.intensity, self.intensity_step,
        ]  # fmt: skip
        n = [
            self.steps(self.t_ref_e), self.steps(self.t_ref_i), self.steps(self.t_present),
            self.steps(self.t_rest), self.min_spikes, self.max_attempts,
        ]  # fmt: skip
        return [float(v) for v in f], n


@dataclass(frozen=True)
class DiehlCookSpec:
    """A registered Diehl & Cook network: its constants and its training schedule."""

    name: str = "diehlcook2015"
    params: DiehlCookParams = field(default_factory=DiehlCookParams)
    epochs: int = 1
    n_classes: int = 10
    input_size: tuple[int, int] = (28, 28)
    description: str = ""
    kind: str = KIND
    #: the network family that builds, trains and loads it (:mod:`fastspike.families`)
    family: ClassVar[str] = KIND

    def __post_init__(self):
        object.__setattr__(self, "input_size", tuple(self.input_size))
        if not isinstance(self.params, DiehlCookParams):
            raise ValueError(f"params: expected DiehlCookParams, got {type(self.params).__name__}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs: expected an integer >= 0, got {self.epochs!r}")
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 2:
            raise ValueError(f"n_classes: expected an integer >= 2, got {self.n_classes!r}")

    @property
    def n_inputs(self) -> int:
        return self.input_size[0] * self.input_size[1]

    def replace(self, **changes) -> DiehlCookSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DiehlCookSpec:
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ValueError(f"spec: expected a dict with kind {KIND!r}")
        d = dict(d)
        names = {f.name for f in dataclasses.fields(DiehlCookParams)}
        p = d.pop("params", {}) or {}
        unknown = set(p) - names
        if unknown:
            raise ValueError(f"params: unknown fields {sorted(unknown)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"spec: unknown fields {sorted(unknown)}")
        return cls(**{**d, "params": DiehlCookParams(**p)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def table(self) -> str:
        """A readable summary (``python -m fastspike models --spec NAME``)."""
        p = self.params
        rows = [
            ("inputs", f"{self.n_inputs} Poisson, {255 * p.intensity / 8:g} Hz at x = 1 "
                       f"(+{255 * p.intensity_step / 8:g} Hz per retry)"),
            ("excitatory", f"{p.n_neurons}, conductance-based, theta += {p.theta_plus:g} mV per spike, "
                           f"refractory {p.t_ref_e:g} ms"),
            ("inhibitory", f"{p.n_neurons}, one per excitatory neuron (w_ei {p.w_ei:g}, w_ie {p.w_ie:g})"),
            ("STDP", f"nu_pre {p.nu_pre:g}, nu_post {p.nu_post:g}, weights in [0, {p.w_max:g}], "
                     f"sum {p.norm:g} per neuron"),
            ("presentation", f"{p.t_present:g} ms + {p.t_rest:g} ms rest, dt {p.dt:g} ms, "
                             f">= {p.min_spikes} spikes"),
            ("training", f"{self.epochs} epoch(s); labels from the training set; "
                         "readouts: all activity, proportion"),
        ]  # fmt: skip
        w = max(len(k) for k, _ in rows)
        return "\n".join([self.describe()] + [f"  {k:{w}s}  {v}" for k, v in rows])

    def describe(self) -> str:
        p = self.params
        return (
            f"{self.name}: {self.n_inputs} Poisson inputs -> {p.n_neurons} excitatory (adaptive threshold) "
            f"<-> {p.n_neurons} inhibitory; {p.t_present:g}+{p.t_rest:g} ms per image at dt {p.dt:g} ms; "
            f"{self.epochs} epoch(s)"
        )


def diehlcook2015(n_neurons: int = 100, n_classes: int = 10, T=None, **params) -> DiehlCookSpec:
    """Diehl & Cook 2015 (docs/reference/semantics.md#diehl-cook): 784 Poisson inputs ->
    ``n_neurons`` excitatory neurons with adaptive thresholds and one-to-one inhibition, trace
    STDP, one epoch. ``T`` is accepted (and ignored) for the registry's common signature."""
    p = DiehlCookParams(n_neurons=n_neurons, **params)
    return DiehlCookSpec(
        name="diehlcook2015" if n_neurons == 100 else f"diehlcook2015-{n_neurons}",
        params=p,
        n_classes=n_classes,
        description=f"Diehl & Cook 2015, {n_neurons} excitatory neurons (paper: 82.9% at 100, 87.0% at 400)",
    )


# ----------------------------------------------------------------------------- operators
# The operators' typed wrappers and fake kernels are fastspike.ops.diehl_cook. This module
# imports it (and with it the compiled library) only when an operator runs, so that
# fastspike.registry and fastspike.reference read its numbers without the library.
def _ops():
    """:mod:`fastspike.ops.diehl_cook` (imported here on first use: it loads the library)."""
    from fastspike.ops import diehl_cook

    return diehl_cook


def trace_stdp(
    pre: Tensor,
    post: Tensor,
    w: Tensor,
    x_pre: Tensor,
    y: Tensor,
    params: DiehlCookParams | None = None,
    normalise: bool = True,
) -> None:
    """Trace STDP (the Diehl & Cook rule) for a fully connected layer, in place, for given
    spike trains ``pre [B, T, n_in]`` and ``post [B, T, N]`` (uint8), samples in order:
    before each sample (when ``normalise``) each neuron's input weights ``w [n_in, N]`` are
    scaled to sum to ``params.norm``; then every step the traces decay, each input spike
    depresses its row (``w = max(0, w - nu_pre * y1)``) and sets ``x_pre`` to 1, each output
    spike potentiates its column (``w = min(w_max, w + (nu_post * x_pre) * y2)``) and sets
    ``y1 = y2 = 1``. ``x_pre [n_in]`` and ``y [2, N]`` (y1, y2) carry the traces between calls.
    One call (:func:`fastspike.ops.diehl_cook.trace_stdp`, the rule's constants packed);
    ``fastspike.reference.trace_stdp_reference`` is the per-step loop it equals bit
    for bit."""
    p = params if params is not None else DiehlCookParams()
    e = math.exp
    packed = [p.nu_pre, p.nu_post, e(-p.dt / p.tau_pre), e(-p.dt / p.tau_post1), e(-p.dt / p.tau_post2),
              p.w_max, p.norm if normalise else 0.0]  # fmt: skip
    _ops().trace_stdp(pre, post, w, x_pre, y, [float(v) for v in packed])


def _check_x(x, n_inputs: int) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"images: expected a tensor [B, {n_inputs}] or [B, H, W], got {type(x).__name__}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0  # ToTensor's intensities
    if not x.is_floating_point():
        raise ValueError(f"images: expected uint8 pixels or float intensities in [0, 1], got {x.dtype}")
    x = x.reshape(x.shape[0], -1).float() if x.dim() >= 2 else x
    if x.dim() != 2 or x.shape[1] != n_inputs:
        raise ValueError(f"images: expected {n_inputs} inputs per image, got shape {tuple(x.shape)}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError("images: expected finite intensities, got NaN or inf")
    if x.numel() and bool((x < 0).any()):
        raise ValueError("images: expected intensities >= 0 (negative rates)")
    return x.contiguous()


class DiehlCook(nn.Module):
    """The network's weights, thresholds, state and labels (all buffers; nothing is
    trained by autograd)."""

    def __init__(self, spec: DiehlCookSpec | None = None, seed: int = 0):
        super().__init__()
        self.spec = spec if spec is not None else diehlcook2015()
        p, n, N = self.spec.params, self.spec.n_inputs, self.spec.params.n_neurons
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", ((torch.rand(n, N, generator=g) + 0.01) * p.w_init).float())
        self.register_buffer("theta", torch.full((N,), p.theta0, dtype=torch.float32))
        self.register_buffer("state", torch.zeros(7, N))
        self.register_buffer("refs", torch.zeros(4, N, dtype=torch.int32))
        self.register_buffer("x_pre", torch.zeros(n))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))  # images trained on (Philox index)
        self.register_buffer("assignments", torch.full((N,), -1, dtype=torch.int64))
        self.register_buffer("proportions", torch.zeros(N, self.spec.n_classes))
        self.reset_state()
        self.test_metrics: dict | None = None
        self.history: list[dict] = []
        self.dataset: str | None = None
        self.seed = seed  # the run's seed: training draws use it, labelling seed + 1, the test seed + 2

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    def reset_state(self) -> None:
        """The initial state: potentials 40 mV below rest, no conductance, no trace."""
        p = self.spec.params
        with torch.no_grad():
            self.state.zero_()
            self.state[0].fill_(p.rest_e - 40.0)
            self.state[3].fill_(p.rest_i - 40.0)
            self.refs.zero_()
            self.x_pre.zero_()

    def learn(self, images: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Train on ``images`` in order (the exact sequential algorithm); returns each image's
        spike counts ``[B, N]`` (its last presentation) and presentations ``[B]``."""
        x = _check_x(images, self.spec.n_inputs).to(self.weight.device)
        f, n = self.spec.params.packed()
        with torch.no_grad():
            counts, attempts = _ops().diehl_cook_train(
                x, self.weight, self.theta, self.state, self.refs, self.x_pre, f, n, int(seed), int(self.seen)
            )
            self.seen += x.shape[0]
        return counts, attempts

    def respond(self, images: Tensor, seed: int = 1, sample_offset: int = 0) -> tuple[Tensor, Tensor]:
        """Spike counts ``[B, N]`` and presentations ``[B]`` of the frozen network; every
        image starts from rest, independently (Philox index ``sample_offset + b``)."""
        x = _check_x(images, self.spec.n_inputs).to(self.weight.device)
        f, n = self.spec.params.packed()
        with torch.no_grad():
            return _ops().diehl_cook_infer(x, self.weight, self.theta, f, n, int(seed), int(sample_offset))

    def responses(self, images: Tensor, seed: int = 1, batch_size: int = 1000, progress=None) -> Tensor:
        """:meth:`respond` in batches of ``batch_size`` (``progress(n)`` after each)."""
        out = []
        for s in range(0, images.shape[0], batch_size):
            out.append(self.respond(images[s : s + batch_size], seed, s)[0].cpu())
            if progress is not None:
                progress(min(batch_size, images.shape[0] - s))
        N = self.spec.params.n_neurons
        return torch.cat(out) if out else torch.zeros(0, N, dtype=torch.int32)

    def label(self, counts: Tensor, labels: Tensor) -> None:
        """Assign every neuron the class it answers most (from training-set responses)."""
        a, prop = assign_labels(counts, labels, self.n_classes)
        self.assignments.copy_(a)
        self.proportions.copy_(prop)

    def predict(self, counts: Tensor, readout: str = "all_activity") -> Tensor:
        if readout == "all_activity":
            return predict_all_activity(counts, self.assignments.cpu(), self.n_classes)
        if readout == "proportion":
            return predict_proportion(counts, self.proportions.cpu())
        raise ValueError(f"readout: expected 'all_activity' or 'proportion', got {readout!r}")

    def forward(self, images: Tensor, readout: str = "all_activity") -> Tensor:
        return self.predict(self.respond(images)[0].cpu(), readout)


def assign_labels(counts: Tensor, labels: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """``(assignments [N], proportions [N, C])``: each neuron's class of highest mean spike
    count (ties: the lowest class; a neuron that never spiked gets -1), and the share of its
    mean counts per class. Classes absent from ``labels`` have mean 0."""
    counts = counts.double()
    rates = torch.zeros(n_classes, counts.shape[1], dtype=torch.float64)
    for c in range(n_classes):
        m = labels == c
        if bool(m.any()):
            rates[c] = counts[m].mean(0)
    total = rates.sum(0)
    assignments = torch.where(total > 0, rates.argmax(0), torch.full_like(total, -1, dtype=torch.int64))
    proportions = torch.where(total > 0, rates / total.clamp_min(1e-300), torch.zeros_like(rates)).T
    return assignments, proportions.float()


def _decide(scores: Tensor) -> Tensor:
    """argmax (ties: the lowest class); -1 (silent) where every score is 0."""
    return torch.where(
        scores.amax(1) > 0, scores.argmax(1), torch.full_like(scores[:, 0], -1, dtype=torch.int64)
    )


def predict_all_activity(counts: Tensor, assignments: Tensor, n_classes: int) -> Tensor:
    """The class whose assigned neurons have the highest mean count (docs/reference/semantics.md#diehl-cook;
    ties: the lowest class; a class with no neuron scores 0; -1 when no assigned neuron spiked)."""
    counts = counts.double()
    scores = torch.zeros(counts.shape[0], n_classes, dtype=torch.float64)
    for c in range(n_classes):
        m = assignments == c
        if bool(m.any()):
            scores[:, c] = counts[:, m].mean(1)
    return _decide(scores)


def predict_proportion(counts: Tensor, proportions: Tensor) -> Tensor:
    """Proportion weighting: each neuron votes its count times its share of each class
    (-1 when nothing votes)."""
    return _decide(counts.double() @ proportions.double())
