"""The spec's building blocks below the layers: errors and field checks, the DoG encoder,
the learning rules' numbers, the neuron models,
the readouts and the training phases. Data only: behaviour lives in
:mod:`fastspike.encoding`, :mod:`fastspike.rules` and :mod:`fastspike.layers`.
Everything here is re-exported by :mod:`fastspike.spec`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEDULES",
    "DecisionReadout",
    "LinearReadout",
    "Phase",
    "VoteReadout",
    "KHERADPISHEH_DOG",
    "MOZAFARI_DOG",
    "RSTDP",
    "STDP",
    "AdaptiveRates",
    "DoublingRates",
    "EncoderSpec",
    "FixedRates",
    "IzhikevichNeuron",
    "Rule",
    "SpecError",
    "check_int",
    "check_new_name",
    "check_num",
    "is_int",
    "is_num",
    "spec_error",
]


class SpecError(ValueError):
    """An invalid network description; the message names the layer and the field."""


def spec_error(where: str, fld: str, msg: str) -> None:
    raise SpecError(f"{where}.{fld}: {msg}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_int(where: str, fld: str, v: Any, lo: int | None = None) -> None:
    if not is_int(v):
        spec_error(where, fld, f"expected an integer, got {v!r}")
    if lo is not None and v < lo:
        spec_error(where, fld, f"expected an integer >= {lo}, got {v}")


def check_new_name(where: str, name: Any, names: set[str]) -> None:
    """A conv's or block's name: a non-empty string, not "readout", not used before (added to ``names``)."""
    if not isinstance(name, str) or not name or name == "readout":
        spec_error(where, "name", f"expected a non-empty name other than 'readout', got {name!r}")
    if name in names:
        spec_error(where, "name", f"{name!r} is used by an earlier layer")
    names.add(name)


def check_num(where: str, fld: str, v: Any) -> None:
    if not is_num(v):
        spec_error(where, fld, f"expected a finite number, got {v!r}")


# ----------------------------------------------------------------------------- encoder
#: Mozafari et al. DoG bank : ON/OFF pairs at three scales, as (size, sigma1, sigma2).
MOZAFARI_DOG = (
    (3, 3 / 9, 6 / 9),
    (3, 6 / 9, 3 / 9),
    (7, 7 / 9, 14 / 9),
    (7, 14 / 9, 7 / 9),
    (13, 13 / 9, 26 / 9),
    (13, 26 / 9, 13 / 9),
)
#: Kheradpisheh et al. DoG bank: one ON-centre and one OFF-centre 7x7 filter.
KHERADPISHEH_DOG = ((7, 1.0, 2.0), (7, 2.0, 1.0))


@dataclass(frozen=True)
class EncoderSpec:
    """Input encoding (docs/reference/semantics.md#encoding): DoG bank, threshold, local normalisation,
    rank order."""

    dog: tuple[tuple[int, float, float], ...]  #: (size, sigma1, sigma2) per filter
    padding: int  #: zero padding of the DoG correlation
    threshold: float = 50.0  #: filtered values strictly below it become 0
    norm_radius: int = 8  #: local normalisation radius
    mode: str = "clean"  #: rank-order coding: "clean" or "compat"
    tie_consistent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dog", tuple(tuple(d) for d in self.dog))
        w = "encoder"
        if not self.dog:
            spec_error(w, "dog", "expected at least one (size, sigma1, sigma2) filter")
        for i, d in enumerate(self.dog):
            if len(d) != 3 or not is_int(d[0]) or d[0] < 1 or d[0] % 2 == 0:
                spec_error(w, f"dog[{i}]", f"expected (odd size >= 1, sigma1, sigma2), got {d!r}")
            if not (is_num(d[1]) and is_num(d[2]) and d[1] > 0 and d[2] > 0):
                spec_error(w, f"dog[{i}]", f"expected positive sigmas, got {d!r}")
        check_int(w, "padding", self.padding, 0)
        check_num(w, "threshold", self.threshold)
        check_int(w, "norm_radius", self.norm_radius, 0)
        if self.mode not in ("clean", "compat"):
            spec_error(w, "mode", f"expected 'clean' or 'compat', got {self.mode!r}")

    @property
    def channels(self) -> int:
        return len(self.dog)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        k = max(d[0] for d in self.dog)
        return tuple(n + 2 * self.padding - k + 1 for n in size)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- learning rules
@dataclass(frozen=True)
class DoublingRates:
    """STDP rates that double every ``period`` samples of the layer
    (docs/reference/semantics.md#stdp-schedule).

    ``a+(i) = min(a_plus * factor**floor((i+1)/period), cap)`` for the 0-based sample
    index ``i`` of the layer's training; ``a- = ratio * a+`` from the first doubling on
    (``a_minus`` before it). All in float32.
    """

    a_plus: float = 0.004
    a_minus: float = -0.003
    period: int = 500
    factor: float = 2.0
    cap: float = 0.15
    ratio: float = -0.75

    def _check(self, where: str) -> None:
        for f in ("a_plus", "a_minus", "factor", "cap", "ratio"):
            check_num(where, f, getattr(self, f))
        check_int(where, "period", self.period, 1)


@dataclass(frozen=True)
class FixedRates:
    """Constant STDP rates ``(a+, a-)``."""

    a_plus: float = 0.004
    a_minus: float = -0.003

    def _check(self, where: str) -> None:
        check_num(where, "a_plus", self.a_plus)
        check_num(where, "a_minus", self.a_minus)


@dataclass(frozen=True)
class AdaptiveRates:
    """R-STDP reward and punishment rates, rescaled after every ``chunk`` samples
    (docs/reference/semantics.md#adaptive-rstdp): reward by the chunk's miss fraction, punishment by its hit
    fraction, always from these base values."""

    reward: tuple[float, float] = (0.004, -0.003)
    punish: tuple[float, float] = (-0.004, 0.0005)
    chunk: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "reward", tuple(self.reward))
        object.__setattr__(self, "punish", tuple(self.punish))

    def _check(self, where: str) -> None:
        for f in ("reward", "punish"):
            v = getattr(self, f)
            if len(v) != 2 or not all(is_num(a) for a in v):
                spec_error(where, f, f"expected two finite numbers (a+, a-), got {v!r}")
        check_int(where, "chunk", self.chunk, 1)


@dataclass(frozen=True)
class STDP:
    """Unsupervised STDP (docs/reference/semantics.md#stdp-rule) with weight bounds and the stabiliser."""

    rates: DoublingRates | FixedRates = field(default_factory=DoublingRates)
    lb: float = 0.0
    ub: float = 1.0
    stabilize: bool = True


@dataclass(frozen=True)
class RSTDP:
    """Reward-modulated STDP of a decision layer (docs/reference/semantics.md#rstdp)."""

    rates: AdaptiveRates = field(default_factory=AdaptiveRates)
    lb: float = 0.2
    ub: float = 0.8
    stabilize: bool = False


Rule = STDP | RSTDP


# ----------------------------------------------------------------------------- neuron models
@dataclass(frozen=True)
class IzhikevichNeuron:
    """Izhikevich (2003) neurons for a conv (docs/reference/semantics.md#izhikevich-conv); regular spiking
    by default.

    The conv's potential ``P[t]`` (what an integrate-and-fire conv integrates, exactly
    rounded) drives each neuron with the current ``I[t] = gain * max(P[t] - threshold, 0)``
    (``threshold`` is the conv's; a decision layer's counts as 0), and the neurons run over
    the ``T`` steps with ``n_sub`` Euler sub-steps of ``v`` per step of ``dt`` ms. The layer
    passes on each neuron's first spike from the step its current is positive on (``T`` =
    never); its value for the competition is ``P`` at that spike.
    """

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    dt: float = 1.0
    n_sub: int = 2
    gain: float = 1.0

    def _check(self, where: str) -> None:
        for f in ("a", "b", "c", "d"):
            check_num(where, f, getattr(self, f))
        for f in ("dt", "gain"):
            check_num(where, f, getattr(self, f))
            if getattr(self, f) <= 0:
                spec_error(where, f, f"expected a positive number, got {getattr(self, f)}")
        if not is_int(self.n_sub) or not 1 <= self.n_sub <= 1000:
            spec_error(
                where, "n_sub", f"expected an integer number of sub-steps in [1, 1000], got {self.n_sub!r}"
            )


# ----------------------------------------------------------------------------- readouts, phases
@dataclass(frozen=True)
class DecisionReadout:
    """The last layer is a decision layer: class = winning feature // (features / classes);
    no winner = silence (-1)."""


@dataclass(frozen=True)
class LinearReadout:
    """A linear classifier on "spiked at any time" of the last layer's (pooled) map.

    ``method``: ``"svm"`` (one-vs-rest linear SVM with the squared hinge loss,
    ``0.5 |w|^2 + C sum(max(0, 1 - y w.x)^2)`` per class, as scikit-learn's
    ``LinearSVC``) or ``"logistic"`` (multinomial logistic regression with the same
    L2 weight ``1 / C``). Both are fitted in torch by full-batch L-BFGS (at most
    ``max_iter`` iterations) on the network's device; silent samples (no feature
    spiked) are answered with silence (-1).
    """

    method: str = "svm"
    C: float = 2.4
    max_iter: int = 200

    def _check(self, where: str) -> None:
        if self.method not in ("svm", "logistic"):
            spec_error(where, "method", f"expected 'svm' or 'logistic', got {self.method!r}")
        check_num(where, "C", self.C)
        if self.C <= 0:
            spec_error(where, "C", f"expected > 0, got {self.C}")
        check_int(where, "max_iter", self.max_iter, 1)


@dataclass(frozen=True)
class VoteReadout:
    """Majority vote of the decision heads of a final :class:`Parallel` block.

    Each head that does not stay silent votes for its class. A class with at least 2
    votes and more votes than any other class wins; otherwise the answer is the vote of
    the ``fallback`` head, and when that head is silent, the vote of the first head (in
    block order) that is not; when every head is silent, silence (-1).

    ``adapt``: how each head's adaptive R-STDP rates are rescaled after a chunk:
    ``"head"`` from the head's own hits and misses (clean), ``"majority"`` from the
    vote's (the published code, compat).
    """

    fallback: str
    adapt: str = "head"

    def _check(self, where: str) -> None:
        if not isinstance(self.fallback, str) or not self.fallback:
            spec_error(where, "fallback", f"expected the name of a head, got {self.fallback!r}")
        if self.adapt not in ("head", "majority"):
            spec_error(where, "adapt", f"expected 'head' or 'majority', got {self.adapt!r}")


#: How a decision phase with ``joint`` layers shares its chunks between the learners
#: (the joint layers, then the decision layer): ``"joint"`` every learner learns from every
#: decision; ``"alternate_chunks"`` chunk c (counted over the whole phase) trains learner
#: ``c mod n`` only, and every learner's rates are rescaled after every chunk;
#: ``"repo_compat"`` the published deepr2024_2 selector (docs/reference/networks.md#zoo-differences):
#: in the phase's first epoch even chunks train the joint layer and odd ones the decision
#: layer, later only the decision layer, and after a chunk only the layer selected next is rescaled.
SCHEDULES = ("joint", "alternate_chunks", "repo_compat")


@dataclass(frozen=True)
class Phase:
    """One training phase: train ``layer`` (a conv's name, or ``"readout"`` for a
    linear readout) with its rule for ``epochs`` epochs of ``samples`` training
    samples (``None`` = all), in batches of ``batch_size`` (``None`` = the run's).
    ``evaluate``: test after every epoch; ``keep_best``: keep the layer's weights of
    the best test epoch. ``layer`` may also name a :class:`Parallel` block of heads
    (every head trains) or one branch of a block of branches.

    ``joint``: thresholded convs below the decision layer ``layer`` that learn with it by
    their ``reward_rule``: a right decision rewards their k-WTA winners (pointwise
    inhibition, then k-WTA on their own potentials), a wrong one punishes them, silence
    changes nothing; the decision layer reads their uninhibited spikes. ``schedule``
    (one of :data:`SCHEDULES`) says which learners learn in which chunk."""

    layer: str
    epochs: int = 1
    samples: int | None = None
    batch_size: int | None = None
    evaluate: bool = False
    keep_best: bool = False
    joint: tuple[str, ...] = ()
    schedule: str = "joint"

    def __post_init__(self) -> None:
        if isinstance(self.joint, list):
            object.__setattr__(self, "joint", tuple(self.joint))

    @property
    def input_layer(self) -> str:
        """The layer whose input the phase trains from: its lowest joint layer, or its layer."""
        return self.joint[0] if self.joint else self.layer
