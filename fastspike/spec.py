"""Networks as data: a network is a list of layers with the paper's numbers.

A :class:`NetworkSpec` holds everything that defines a convolutional STDP network:
the input encoder, the layers in order (explicit padding, integrate-and-fire (or
Izhikevich) convolutions with their competition and learning rule, pooling,
training-time inhibition), the readout and the training phases. It is plain data: it validates
itself at construction (errors name the layer and the field), converts to and from
JSON-able dicts (``to_dict`` / ``from_dict``), and is read from JSON or YAML files
(:func:`load_spec`). :class:`fastspike.network.Network` runs any spec on
first-spike times; :mod:`fastspike.reference` interprets the same specs one sample
at a time on spike waves.

This module depends on nothing but the standard library, so that the reference and
the compiled network read the same description.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from fastspike.spec_elements import (
    KHERADPISHEH_DOG,
    MOZAFARI_DOG,
    RSTDP,
    SCHEDULES,
    STDP,
    AdaptiveRates,
    DecisionReadout,
    DoublingRates,
    EncoderSpec,
    FixedRates,
    IzhikevichNeuron,
    LinearReadout,
    Phase,
    Rule,
    SpecError,
    VoteReadout,
    check_int,
    check_new_name,
    check_num,
    is_int,
    spec_error,
)

__all__ = [
    "AdaptiveRates",
    "Conv",
    "DecisionReadout",
    "DoublingRates",
    "EncoderSpec",
    "FixedRates",
    "Inhibit",
    "IzhikevichNeuron",
    "KHERADPISHEH_DOG",
    "LinearReadout",
    "MOZAFARI_DOG",
    "NetworkSpec",
    "Pad",
    "Parallel",
    "Phase",
    "Pool",
    "RSTDP",
    "SCHEDULES",
    "STDP",
    "SpecError",
    "VoteReadout",
    "load_spec",
    "register_rule_type",
    "spec_error",
]


# ----------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class Pad:
    """``padding`` rows and columns of "never" on every side."""

    padding: int


@dataclass(frozen=True)
class Pool:
    """Max-pooling of spikes (min-pooling of first-spike times), floor mode;
    padded cells never fire. ``stride`` defaults to ``kernel``."""

    kernel: int
    stride: int | None = None
    padding: int = 0

    @property
    def step(self) -> int:
        return self.kernel if self.stride is None else self.stride


@dataclass(frozen=True)
class Inhibit:
    """Pointwise inhibition of a spike map: per position only the earliest firing
    feature (lowest index among equals) keeps its spike (docs/reference/semantics.md#pointwise-inhibition).
    ``train_only``: applied only while a layer above it trains, as in the
    Kheradpisheh script (feature extraction then sees uninhibited maps)."""

    train_only: bool = True


@dataclass(frozen=True)
class Conv:
    """An integrate-and-fire convolution (stride 1, no implicit padding: use :class:`Pad`).

    ``threshold=None`` makes it a decision layer: it spikes at ``T-1`` where
    ``P[T-1] > 0``, and the winner of a k-WTA (k, radius) over ``P[T-1]`` decides.
    In training, a thresholded layer's competition is pointwise inhibition (when
    ``pointwise``) then k-WTA with ``k`` winners and lateral radius ``radius``.

    ``reward_rule``: an R-STDP rule for a thresholded conv that a decision phase also
    rewards (``Phase.joint``): its k-WTA winners are rewarded when the network's decision
    is right and punished when it is wrong (deepr2024). ``rule`` stays its STDP rule
    for its own unsupervised phase.

    ``neuron``: ``None`` for integrate-and-fire neurons, or an :class:`IzhikevichNeuron`
    model driven by the conv's potential. The layer still passes on first-spike times
    (the first spike of each neuron), so pooling, competition and the learning rules are
    the same; a decision layer with a neuron model decides by its earliest spike (ties:
    the larger ``P`` there, then the lower index) and stays silent when no neuron spikes.
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    threshold: float | None
    k: int = 1
    radius: int = 0
    rule: STDP | RSTDP | None = None
    pointwise: bool = True
    weight_mean: float = 0.8
    weight_std: float = 0.05
    reward_rule: RSTDP | None = None
    neuron: IzhikevichNeuron | None = None

    @property
    def is_decision(self) -> bool:
        return self.threshold is None


@dataclass(frozen=True)
class Parallel:
    """Convs side by side, all reading the same input map.

    * **Branches** (every conv thresholded; an inception-like block): each branch's
      output is padded with "never" to the largest output, centred (so kernels must
      differ by even numbers), and the maps are concatenated along channels in order.
      A phase that trains one branch (its conv's name) computes that branch only, and
      its competition acts within it.
    * **Heads** (every conv a decision layer): the last layer of a network with a
      :class:`VoteReadout`. Each head decides on its own; the readout votes. A phase
      naming the block (``name``) trains every head by R-STDP, each rewarded by its own
      vote.
    """

    name: str
    convs: tuple[Conv, ...]

    def __post_init__(self) -> None:
        if isinstance(self.convs, (list, tuple)):
            object.__setattr__(self, "convs", tuple(self.convs))

    @property
    def is_heads(self) -> bool:
        return bool(self.convs) and all(isinstance(c, Conv) and c.is_decision for c in self.convs)


Layer = Pad | Pool | Inhibit | Conv | Parallel


# ----------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class NetworkSpec:
    """A whole network: encoder, layers, readout and training phases."""

    #: the network family that builds, trains and loads it (:mod:`fastspike.families`)
    family: ClassVar[str] = "conv"

    name: str
    encoder: EncoderSpec
    layers: tuple[Layer, ...]
    readout: DecisionReadout | LinearReadout | VoteReadout
    phases: tuple[Phase, ...]
    T: int = 15
    n_classes: int = 10
    input_size: tuple[int, int] = (28, 28)
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "input_size", tuple(self.input_size))
        self._validate()

    # -- queries
    @property
    def convs(self) -> list[Conv]:
        """Every conv in layer order, the convs of a :class:`Parallel` block in block order."""
        out: list[Conv] = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                out.append(layer)
            elif isinstance(layer, Parallel):
                out.extend(layer.convs)
        return out

    @property
    def units(self) -> list[Conv | Parallel]:
        """The convs and parallel blocks in layer order (a block counts once)."""
        return [layer for layer in self.layers if isinstance(layer, (Conv, Parallel))]

    def block_of(self, name: str) -> Parallel | None:
        """The :class:`Parallel` block that holds the conv ``name`` (``None`` if it stands alone)."""
        for layer in self.layers:
            if isinstance(layer, Parallel) and any(c.name == name for c in layer.convs):
                return layer
        return None

    def conv_index(self, name: str) -> int:
        """0-based index of the conv layer called ``name`` among the convs."""
        for i, c in enumerate(self.convs):
            if c.name == name:
                return i
        raise SpecError(f"layer: no conv layer named {name!r} (have {[c.name for c in self.convs]})")

    def shapes(self) -> list[tuple[int, int, int]]:
        """``[C, H, W]`` after each layer (for the encoded input, then ``layers``)."""
        return self._walk()

    def replace(self, **changes: Any) -> NetworkSpec:
        return dataclasses.replace(self, **changes)

    def map_convs(self, fn) -> NetworkSpec:
        """The spec with every conv replaced by ``fn(conv)``, the convs of parallel blocks included."""
        layers = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                layer = fn(layer)
            elif isinstance(layer, Parallel):
                layer = dataclasses.replace(layer, convs=tuple(fn(c) for c in layer.convs))
            layers.append(layer)
        return self.replace(layers=tuple(layers))

    # -- validation
    def _walk(self) -> list[tuple[int, int, int]]:
        if not isinstance(self.encoder, EncoderSpec):
            spec_error("spec", "encoder", f"expected an EncoderSpec, got {type(self.encoder).__name__}")
        H, W = self.encoder.output_size(self.input_size)
        C = self.encoder.channels
        if H < 1 or W < 1:
            spec_error("encoder", "padding", f"the DoG output of a {self.input_size} input is empty")
        out = [(C, H, W)]
        names: set[str] = set()
        convs = [i for i, layer in enumerate(self.layers) if isinstance(layer, Conv)]
        for i, layer in enumerate(self.layers):
            w = f"layers[{i}]" + (f" {layer.name!r}" if isinstance(layer, Conv) else "")
            if isinstance(layer, Pad):
                check_int(w, "padding", layer.padding, 0)
                H, W = H + 2 * layer.padding, W + 2 * layer.padding
            elif isinstance(layer, Pool):
                check_int(w, "kernel", layer.kernel, 1)
                if layer.stride is not None:
                    check_int(w, "stride", layer.stride, 1)
                check_int(w, "padding", layer.padding, 0)
                if 2 * layer.padding > layer.kernel:
                    spec_error(
                        w,
                        "padding",
                        f"expected at most half the kernel ({layer.kernel}), got {layer.padding}",
                    )
                if layer.kernel > min(H, W) + 2 * layer.padding:
                    spec_error(w, "kernel", f"{layer.kernel} is larger than its padded {H}x{W} input")
                H = (H + 2 * layer.padding - layer.kernel) // layer.step + 1
                W = (W + 2 * layer.padding - layer.kernel) // layer.step + 1
            elif isinstance(layer, Inhibit):
                if not isinstance(layer.train_only, bool):
                    spec_error(w, "train_only", f"expected true or false, got {layer.train_only!r}")
            elif isinstance(layer, Conv):
                self._check_conv(w, layer, C, H, W, names)
                if layer.is_decision:
                    if not isinstance(self.readout, DecisionReadout) or i != convs[-1]:
                        spec_error(
                            w,
                            "threshold",
                            "null (a decision layer) is only allowed for the last conv "
                            "of a network with a decision readout, or for the heads of a vote",
                        )
                C, H, W = layer.out_channels, H - layer.kernel + 1, W - layer.kernel + 1
            elif isinstance(layer, Parallel):
                w = f"layers[{i}] {layer.name!r}"
                check_new_name(w, layer.name, names)
                if not isinstance(layer.convs, tuple) or len(layer.convs) < 2:
                    spec_error(w, "convs", f"expected at least two convs, got {layer.convs!r}")
                for b, c in enumerate(layer.convs):
                    if not isinstance(c, Conv):
                        spec_error(f"{w}.convs[{b}]", "type", f"expected a Conv, got {type(c).__name__}")
                    self._check_conv(f"{w}.convs[{b}] {c.name!r}", c, C, H, W, names)
                if layer.is_heads:
                    if i != len(self.layers) - 1 or not isinstance(self.readout, VoteReadout):
                        spec_error(w, "convs", "decision heads must be the last layer, with a vote readout")
                    H = max(H - c.kernel + 1 for c in layer.convs)
                    W = max(W - c.kernel + 1 for c in layer.convs)
                    C = sum(c.out_channels for c in layer.convs)
                else:
                    for b, c in enumerate(layer.convs):
                        if c.is_decision:
                            spec_error(
                                f"{w}.convs[{b}] {c.name!r}",
                                "threshold",
                                "a block mixes decision heads and thresholded branches",
                            )
                    k_min = min(c.kernel for c in layer.convs)
                    for b, c in enumerate(layer.convs):
                        if (c.kernel - k_min) % 2:
                            spec_error(
                                f"{w}.convs[{b}] {c.name!r}",
                                "kernel",
                                f"branches are centred: kernels must differ by even numbers "
                                f"({c.kernel} and {k_min})",
                            )
                    C = sum(c.out_channels for c in layer.convs)
                    H, W = H - k_min + 1, W - k_min + 1
            else:
                raise SpecError(
                    f"layers[{i}]: expected Pad, Pool, Inhibit, Conv or Parallel, got {type(layer).__name__}"
                )
            out.append((C, H, W))
        return out

    def _check_conv(self, w: str, layer: Conv, C: int, H: int, W: int, names: set[str]) -> None:
        check_new_name(w, layer.name, names)
        check_int(w, "in_channels", layer.in_channels, 1)
        if layer.in_channels != C:
            spec_error(
                w, "in_channels", f"expected {C} (the channels that reach it), got {layer.in_channels}"
            )
        check_int(w, "out_channels", layer.out_channels, 1)
        check_int(w, "kernel", layer.kernel, 1)
        if layer.kernel > min(H, W):
            spec_error(w, "kernel", f"{layer.kernel} is larger than its {H}x{W} input")
        if layer.threshold is not None:
            check_num(w, "threshold", layer.threshold)
            if layer.threshold < 0:
                spec_error(w, "threshold", f"expected >= 0 or null (a decision layer), got {layer.threshold}")
        check_int(w, "k", layer.k, 1)
        check_int(w, "radius", layer.radius, 0)
        check_num(w, "weight_mean", layer.weight_mean)
        check_num(w, "weight_std", layer.weight_std)
        if layer.weight_std < 0:
            spec_error(w, "weight_std", f"expected >= 0, got {layer.weight_std}")
        self._check_rule(w, layer)
        if layer.is_decision and layer.out_channels % self.n_classes:
            spec_error(
                w,
                "out_channels",
                f"{layer.out_channels} features do not divide by the {self.n_classes} classes",
            )
        rr = layer.reward_rule
        if rr is not None:
            if not isinstance(rr, RSTDP):
                spec_error(w, "reward_rule", f"expected an RSTDP rule or null, got {type(rr).__name__}")
            if layer.is_decision:
                spec_error(
                    w,
                    "reward_rule",
                    "a decision layer learns by its rule; reward_rule is for thresholded convs",
                )
            self._check_rule_fields(w, "reward_rule", rr)
        if layer.neuron is not None:
            if not isinstance(layer.neuron, IzhikevichNeuron):
                spec_error(
                    w, "neuron", f"expected an Izhikevich neuron or null, got {type(layer.neuron).__name__}"
                )
            layer.neuron._check(f"{w}.neuron")

    def _check_rule(self, w: str, layer: Conv) -> None:
        rule = layer.rule
        if rule is None:
            return
        if type(rule) not in _TYPE_NAMES or type(rule) not in _RULE_TYPES.values():
            spec_error(w, "rule", f"expected one of {sorted(_RULE_TYPES)} or null, got {type(rule).__name__}")
        if type(rule) not in (STDP, RSTDP):  # a registered rule checks its own fields
            rule.check(w, layer)
            return
        self._check_rule_fields(w, "rule", rule)
        if isinstance(rule, STDP) and layer.is_decision:
            spec_error(w, "rule", "a decision layer learns by R-STDP, not STDP")
        if isinstance(rule, RSTDP) and not layer.is_decision:
            spec_error(w, "rule", "R-STDP needs a decision layer (threshold null)")

    @staticmethod
    def _check_rule_fields(w: str, fld: str, rule: STDP | RSTDP) -> None:
        """A rule's bounds and the kind of its rates (``fld``: "rule" or "reward_rule")."""
        check_num(w, f"{fld}.lb", rule.lb)
        check_num(w, f"{fld}.ub", rule.ub)
        if rule.lb > rule.ub:
            spec_error(w, f"{fld}.lb", f"expected lb <= ub, got {rule.lb} > {rule.ub}")
        if isinstance(rule, STDP):
            if not isinstance(rule.rates, (DoublingRates, FixedRates)):
                spec_error(
                    w, f"{fld}.rates", f"expected doubling or fixed rates, got {type(rule.rates).__name__}"
                )
        elif not isinstance(rule.rates, AdaptiveRates):
            spec_error(w, f"{fld}.rates", f"expected adaptive rates, got {type(rule.rates).__name__}")
        rule.rates._check(f"{w}.{fld}.rates")

    def _validate(self) -> None:
        for f, lo in (("T", 1), ("n_classes", 2)):
            check_int("spec", f, getattr(self, f), lo)
        if self.T > 255:
            spec_error("spec", "T", f"expected at most 255 time steps, got {self.T}")
        if not isinstance(self.name, str) or not self.name:
            spec_error("spec", "name", f"expected a non-empty string, got {self.name!r}")
        if len(self.input_size) != 2 or not all(is_int(n) and n >= 1 for n in self.input_size):
            spec_error("spec", "input_size", f"expected (height, width), got {self.input_size!r}")
        if not any(isinstance(layer, (Conv, Parallel)) for layer in self.layers):
            spec_error("spec", "layers", "expected at least one conv layer")
        if isinstance(self.readout, (LinearReadout, VoteReadout)):
            self.readout._check("readout")
        elif not isinstance(self.readout, DecisionReadout):
            spec_error(
                "spec",
                "readout",
                f"expected a decision, vote or linear readout, got {type(self.readout).__name__}",
            )
        shapes = self._walk()
        if isinstance(self.readout, DecisionReadout):
            last = max(i for i, layer in enumerate(self.layers) if isinstance(layer, Conv))
            if not self.convs[-1].is_decision:
                spec_error(
                    f"layers[{last}] {self.convs[-1].name!r}",
                    "threshold",
                    "expected null: a decision readout needs a decision layer as the last conv",
                )
            if last != len(self.layers) - 1:
                spec_error(f"layers[{last + 1}]", "type", "nothing may follow the decision layer")
        if isinstance(self.readout, VoteReadout):
            last = self.layers[-1]
            if not isinstance(last, Parallel) or not last.is_heads:
                spec_error(
                    f"layers[{len(self.layers) - 1}]",
                    "type",
                    "a vote readout needs a Parallel block of decision heads as the last layer",
                )
            if self.readout.fallback not in [c.name for c in last.convs]:
                spec_error(
                    "readout",
                    "fallback",
                    f"expected one of the heads {[c.name for c in last.convs]}, "
                    f"got {self.readout.fallback!r}",
                )
        if shapes[-1][1] < 1 or shapes[-1][2] < 1:
            spec_error("spec", "layers", f"the output map is empty ({shapes[-1]})")
        names: dict[str, Conv | Parallel] = {c.name: c for c in self.convs}
        for layer in self.layers:
            if isinstance(layer, Parallel):
                names[layer.name] = layer
        order = {}
        for u, unit in enumerate(self.units):
            for c in unit.convs if isinstance(unit, Parallel) else (unit,):
                order[c.name] = u
            order[unit.name] = u
        for i, p in enumerate(self.phases):
            w = f"phases[{i}]"
            if not isinstance(p, Phase):
                spec_error(w, "type", f"expected a Phase, got {type(p).__name__}")
            if p.layer == "readout":
                if not isinstance(self.readout, LinearReadout):
                    spec_error(w, "layer", "'readout' needs a linear readout")
            elif p.layer not in names:
                spec_error(
                    w, "layer", f"expected a conv layer name {sorted(names)} or 'readout', got {p.layer!r}"
                )
            elif isinstance(names[p.layer], Parallel):
                if not names[p.layer].is_heads:
                    spec_error(
                        w,
                        "layer",
                        f"a block of branches trains one branch at a time: name one of "
                        f"{[c.name for c in names[p.layer].convs]}, not {p.layer!r}",
                    )
                for c in names[p.layer].convs:
                    if c.rule is None:
                        spec_error(w, "layer", f"head {c.name!r} of {p.layer!r} has no learning rule")
                if len({c.rule.rates.chunk for c in names[p.layer].convs}) != 1:
                    spec_error(
                        w, "layer", f"the heads of {p.layer!r} share their chunks: give them one chunk length"
                    )
            elif names[p.layer].rule is None:
                spec_error(w, "layer", f"layer {p.layer!r} has no learning rule")
            elif self.block_of(p.layer) is not None and self.block_of(p.layer).is_heads:
                spec_error(
                    w, "layer", f"the heads train together: name their block {self.block_of(p.layer).name!r}"
                )
            if not isinstance(p.joint, tuple) or not all(isinstance(n, str) for n in p.joint):
                spec_error(w, "joint", f"expected a list of conv names, got {p.joint!r}")
            if p.schedule not in SCHEDULES:
                spec_error(w, "schedule", f"expected one of {list(SCHEDULES)}, got {p.schedule!r}")
            if p.joint:
                dec = names.get(p.layer)
                if not isinstance(dec, Conv) or not dec.is_decision:
                    spec_error(w, "joint", "only a decision layer's phase can reward other layers")
                for n in p.joint:
                    c = names.get(n)
                    if not isinstance(c, Conv) or c.is_decision or c.reward_rule is None:
                        spec_error(w, "joint", f"{n!r} is not a thresholded conv with a reward_rule")
                    if order[n] >= order[p.layer]:
                        spec_error(w, "joint", f"{n!r} is not below the decision layer {p.layer!r}")
                    if self.block_of(n) is not None:
                        spec_error(w, "joint", f"{n!r} is a branch of a parallel block (not supported)")
                    if c.reward_rule.rates.chunk != dec.rule.rates.chunk:
                        spec_error(
                            w,
                            "joint",
                            f"{n!r} adapts its rates every {c.reward_rule.rates.chunk} samples, the "
                            f"decision layer every {dec.rule.rates.chunk}: they share their chunks",
                        )
                if len(set(p.joint)) != len(p.joint):
                    spec_error(w, "joint", f"a layer is named twice: {list(p.joint)}")
                if p.schedule == "repo_compat" and len(p.joint) != 1:
                    spec_error(
                        w, "schedule", "'repo_compat' alternates one joint layer with the decision layer"
                    )
            elif p.schedule != "joint":
                spec_error(w, "schedule", f"{p.schedule!r} needs joint layers to alternate with")
            check_int(w, "epochs", p.epochs, 1)
            if p.samples is not None:
                check_int(w, "samples", p.samples, 1)
            if p.batch_size is not None:
                check_int(w, "batch_size", p.batch_size, 1)
            is_decision = isinstance(names.get(p.layer), Parallel) or (
                p.layer != "readout" and names[p.layer].is_decision
            )
            if (p.evaluate or p.keep_best) and p.layer != "readout" and not is_decision:
                spec_error(w, "evaluate", "only a decision layer or the readout can be evaluated per epoch")

    # -- plain data
    def to_dict(self) -> dict:
        """JSON-able description (lists, dicts, numbers, strings, booleans, null)."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        """Inverse of :meth:`to_dict`; unknown or missing fields raise :class:`SpecError`."""
        return _spec_from_dict(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def table(self) -> str:
        """The layers as a text table, like the paper's."""
        rows = [
            f"input  {self.encoder.channels} DoG filters, T={self.T}"
            f"  -> {'x'.join(map(str, self.shapes()[0]))}"
        ]
        for layer, shape in zip(self.layers, self.shapes()[1:], strict=False):
            if isinstance(layer, Parallel):
                kind = "heads, voting" if layer.is_heads else "branches, centred and concatenated"
                rows.append(f"{layer.name} ({kind}):")
                for c in layer.convs:
                    rows.append(f"  {_describe(c)}")
                if layer.is_heads:
                    continue
            rows.append(
                f"{_describe(layer) if not isinstance(layer, Parallel) else '  concatenated':64s}"
                f" -> {'x'.join(map(str, shape))}"
            )
        return "\n".join(rows)


def _describe(layer: Layer) -> str:
    if isinstance(layer, Pad):
        return f"pad {layer.padding}"
    if isinstance(layer, Pool):
        return f"pool {layer.kernel}/{layer.step}" + (f" pad {layer.padding}" if layer.padding else "")
    if isinstance(layer, Inhibit):
        return "pointwise inhibition" + (" (training only)" if layer.train_only else "")
    th = "decision" if layer.threshold is None else f"theta={layer.threshold:g}"
    rule = (
        "" if layer.rule is None else f" {type(layer.rule).__name__} [{layer.rule.lb:g}, {layer.rule.ub:g}]"
    )
    n = layer.neuron
    neuron = "" if n is None else f" Izhikevich(gain={n.gain:g}, dt={n.dt:g})"
    return (
        f"{layer.name}: conv {layer.in_channels}->{layer.out_channels} {layer.kernel}x{layer.kernel} {th}"
        f" k={layer.k} r={layer.radius}{rule}{neuron}"
    )


# ----------------------------------------------------------------------------- (de)serialisation
_LAYER_TYPES = {"pad": Pad, "pool": Pool, "inhibit": Inhibit, "conv": Conv, "parallel": Parallel}
_RULE_TYPES = {"stdp": STDP, "rstdp": RSTDP}
_RATE_TYPES = {"doubling": DoublingRates, "fixed": FixedRates, "adaptive": AdaptiveRates}
_READOUT_TYPES = {"decision": DecisionReadout, "linear": LinearReadout, "vote": VoteReadout}
_NEURON_TYPES = {"izhikevich": IzhikevichNeuron}
_TYPE_NAMES = {
    cls: name
    for table in (_LAYER_TYPES, _RULE_TYPES, _RATE_TYPES, _READOUT_TYPES, _NEURON_TYPES)
    for name, cls in table.items()
}


def register_rule_type(name: str, cls: type) -> None:
    """Let specs name a learning rule ``cls`` (a frozen dataclass of its numbers, with a
    ``check(where, layer)`` method that raises :class:`SpecError` through
    :func:`spec_error`) as ``{"type": name, ...}``. Its behaviour is registered with
    :func:`fastspike.rules.register_rule`."""
    if not isinstance(name, str) or not name or (name in _RULE_TYPES and _RULE_TYPES[name] is not cls):
        raise ValueError(f"name: expected a new rule type name, got {name!r} (taken: {sorted(_RULE_TYPES)})")
    if not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "check", None)):
        raise TypeError(f"cls: expected a dataclass with a check(where, layer) method, got {cls!r}")
    _RULE_TYPES[name] = cls
    _TYPE_NAMES[cls] = name


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        d = {}
        if type(obj) in _TYPE_NAMES:
            d["type"] = _TYPE_NAMES[type(obj)]
        for f in dataclasses.fields(obj):
            if isinstance(obj, Conv) and f.name == "neuron" and obj.neuron is None:
                continue  # integrate-and-fire: the plain form of every other conv is unchanged
            d[f.name] = _to_plain(getattr(obj, f.name))
        return d
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _build(cls: type, d: Any, where: str, types: dict | None = None) -> Any:
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected an object, got {d!r}")
    d = dict(d)
    if types is not None:
        t = d.pop("type", None)
        if t not in types:
            raise SpecError(f"{where}.type: expected one of {sorted(types)}, got {t!r}")
        cls = types[t]
    else:
        d.pop("type", None)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: unknown field (expected some of {sorted(fields)})")
    missing = [
        n
        for n, f in fields.items()
        if n not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{where}.{missing[0]}: missing")
    return cls, d


def _rule_from(d: Any, where: str) -> Rule | None:
    if d is None:
        return None
    cls, d = _build(STDP, d, where, _RULE_TYPES)
    if "rates" in d and isinstance(d["rates"], dict):
        cls_r, r = _build(DoublingRates, d["rates"], f"{where}.rates", _RATE_TYPES)
        d["rates"] = cls_r(**r)
    return cls(**d)


def _layer_from(d: Any, where: str) -> Layer:
    if isinstance(d, dict) and d.get("type") == "conv" and "name" in d:
        where = f"{where} {d['name']!r}"
    cls, d = _build(Conv, d, where, _LAYER_TYPES)
    if cls is Conv:
        d["rule"] = _rule_from(d.get("rule"), f"{where}.rule")
        if "reward_rule" in d:
            d["reward_rule"] = _rule_from(d["reward_rule"], f"{where}.reward_rule")
        if d.get("neuron") is not None:
            cls_n, n = _build(IzhikevichNeuron, d["neuron"], f"{where}.neuron", _NEURON_TYPES)
            d["neuron"] = cls_n(**n)
    elif cls is Parallel:
        convs = d.get("convs")
        if not isinstance(convs, list):
            raise SpecError(f"{where}.convs: expected a list of convs, got {convs!r}")
        d["convs"] = tuple(_layer_from(c, f"{where}.convs[{b}]") for b, c in enumerate(convs))
    try:
        return cls(**d)
    except TypeError as err:
        raise SpecError(f"{where}: {err}") from None


def _spec_from_dict(d: Any) -> NetworkSpec:
    _, d = _build(NetworkSpec, d, "spec")
    _, enc = _build(EncoderSpec, d["encoder"], "encoder")
    d["encoder"] = EncoderSpec(**enc)
    if not isinstance(d["layers"], list):
        raise SpecError(f"spec.layers: expected a list, got {d['layers']!r}")
    d["layers"] = tuple(_layer_from(layer, f"layers[{i}]") for i, layer in enumerate(d["layers"]))
    cls, r = _build(DecisionReadout, d["readout"], "readout", _READOUT_TYPES)
    d["readout"] = cls(**r)
    if not isinstance(d["phases"], list):
        raise SpecError(f"spec.phases: expected a list, got {d['phases']!r}")
    phases = []
    for i, p in enumerate(d["phases"]):
        _, p = _build(Phase, p, f"phases[{i}]")
        phases.append(Phase(**p))
    d["phases"] = tuple(phases)
    return NetworkSpec(**d)


def load_spec(path: str, base=None) -> NetworkSpec:
    """Read a network description from a JSON (``.json``) or YAML (``.yaml``/``.yml``) file.

    The file holds the fields of :meth:`NetworkSpec.to_dict`; a file may also name a
    network to start from (``"base": "mozafari2018"``) and give only the fields it changes
    (``layers`` and ``phases`` are then replaced whole). ``base``: name -> spec (the
    registry's ``get_spec``; :func:`fastspike.load_spec` passes it).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"config: no file {path!r}")
    with open(path) as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as err:  # pragma: no cover
            raise ImportError("config: YAML files need PyYAML (pip install pyyaml), or use JSON") from err
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"config {path!r}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise SpecError(f"config {path!r}: expected an object at the top level")
    base_name = data.pop("base", None)
    if base_name is not None:
        if base is None:
            raise SpecError(
                f"config {path!r}: base {base_name!r} names a registered network; read it with "
                "fastspike.load_spec (or fastspike.registry.load_config)"
            )
        merged = base(base_name).to_dict()
        if "encoder" in data and isinstance(data["encoder"], dict):
            data["encoder"] = {**merged["encoder"], **data["encoder"]}
        merged.update(data)
        data = merged
    return NetworkSpec.from_dict(data)
