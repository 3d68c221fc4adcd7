"""The registered networks, each a :class:`fastspike.spec.NetworkSpec` with its paper's numbers.

``get_spec(name)`` returns a network's description, ``MODELS`` lists them and
``register`` adds one (a function returning a spec). Like :mod:`fastspike.spec`,
this module imports nothing compiled, so the reference reads the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import fastspike.rules  # noqa: F401  (every rule module registers its spec type, for config files)
from fastspike.spec import (
    KHERADPISHEH_DOG,
    MOZAFARI_DOG,
    RSTDP,
    STDP,
    AdaptiveRates,
    Conv,
    DecisionReadout,
    DoublingRates,
    EncoderSpec,
    FixedRates,
    Inhibit,
    IzhikevichNeuron,
    LinearReadout,
    NetworkSpec,
    Pad,
    Parallel,
    Phase,
    Pool,
    SpecError,
    VoteReadout,
    load_spec,
)

__all__ = [
    "ALIASES",
    "MODELS",
    "RegisteredModel",
    "conv_networks",
    "diehlcook2015",
    "deep2024",
    "deepr2024",
    "deepr2024_2",
    "get_spec",
    "inception2024",
    "izhikevich_csnn",
    "izhikevich_csnn5",
    "kheradpisheh2018",
    "majority2024",
    "mozafari2018",
    "mozafari2018_linear",
    "register",
]


def mozafari2018(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """Mozafari et al. 2018/2019, MNIST (docs/reference/semantics.md#mozafari2018): two STDP layers and an
    R-STDP decision layer of 20 neurons per class."""
    return NetworkSpec(
        name="mozafari2018",
        description="Mozafari et al. 2018: 2 STDP conv layers + R-STDP decision layer (97.2% in the paper)",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=(
            Pad(2),
            Conv("S1", 6, 30, 5, threshold=15.0, k=5, radius=3, rule=STDP(DoublingRates(), lb=0.0, ub=1.0)),
            Pool(2, 2),
            Pad(1),
            Conv("S2", 30, 250, 3, threshold=10.0, k=8, radius=1, rule=STDP(DoublingRates(), lb=0.0, ub=1.0)),
            Pool(3, 3),
            Pad(2),
            Conv(
                "S3", 250, 200, 5, threshold=None, k=1, radius=0, rule=RSTDP(AdaptiveRates(), lb=0.2, ub=0.8)
            ),
        ),
        readout=DecisionReadout(),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=4),
            Phase("S3", epochs=680, evaluate=True, keep_best=True),
        ),
    )


def kheradpisheh2018(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """Kheradpisheh et al. 2018 as configured in the reference script
    (docs/reference/semantics.md#kheradpisheh2018): two STDP layers, "spiked at all" of the
    2x2-pooled S2 maps (12,150 features) to a linear SVM with C = 2.4."""
    return NetworkSpec(
        name="kheradpisheh2018",
        description="Kheradpisheh et al. 2018: 2 STDP conv layers + linear SVM readout (98.4% in the paper)",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=KHERADPISHEH_DOG, padding=3),
        layers=(
            Pad(2),
            Conv("S1", 2, 32, 5, threshold=10.0, k=5, radius=2, rule=STDP(DoublingRates(), lb=0.0, ub=1.0)),
            Pool(2, 2, padding=1),
            Pad(1),
            Inhibit(train_only=True),
            Conv(
                "S2",
                32,
                150,
                2,
                threshold=1.0,
                k=8,
                radius=1,
                rule=STDP(FixedRates(0.004, -0.003), lb=0.0, ub=1.0),
            ),
            Pool(2, 2, padding=1),
        ),
        readout=LinearReadout(method="svm", C=2.4),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=20),
            Phase("readout", epochs=1, evaluate=True),
        ),
    )


def mozafari2018_linear(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """Mozafari 2018's two STDP layers with a linear readout instead of the R-STDP decision
    layer: "spiked at all" of the C2 map (250x4x4 = 4,000 features) to a linear SVM."""
    moz = mozafari2018(T=T, n_classes=n_classes)
    return moz.replace(
        name="mozafari2018-linear",
        description="Mozafari 2018's S1/S2 STDP features (C2, 4,000) + linear SVM readout",
        layers=moz.layers[:6],  # pad, S1, C1, pad, S2, C2
        readout=LinearReadout(method="svm", C=2.4),
        phases=(Phase("S1", epochs=2), Phase("S2", epochs=4), Phase("readout", epochs=1, evaluate=True)),
    )


# ------------------------------------------------------------- the model zoo (docs/reference/networks.md#zoo)
def _stdp(stabilize: bool = True) -> STDP:
    """Unsupervised STDP of the zoo: (0.004, -0.003) doubling every 500 samples up to 0.15, on [0, 1]."""
    return STDP(DoublingRates(), lb=0.0, ub=1.0, stabilize=stabilize)


def _head(name: str, in_channels: int, kernel: int) -> Conv:
    """An R-STDP decision head of 200 neurons (20 per class): reward (0.004, -0.003), punishment
    (-0.004, 0.0005), bounds [0.2, 0.8]."""
    return Conv(name, in_channels, 200, kernel, threshold=None, k=1, radius=0, rule=RSTDP(AdaptiveRates()))


def _zoo_front(s2_out: int, pool2: int) -> tuple:
    """Pad 2, S1 (30 5x5, theta 15, k 5, r 3), pool 2 + pad 1, S2 (3x3, theta 10, k 8, r 1), pool + pad."""
    return (
        Pad(2),
        Conv("S1", 6, 30, 5, threshold=15.0, k=5, radius=3, rule=_stdp()),
        Pool(2, 2),
        Pad(1),
        Conv("S2", 30, s2_out, 3, threshold=10.0, k=8, radius=1, rule=_stdp()),
        Pool(pool2, pool2),
        Pad(1 if pool2 == 2 else 2),
    )


def deep2024(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """deep2024 (docs/reference/networks.md#deep2024): three STDP conv layers and an R-STDP decision layer."""
    return NetworkSpec(
        name="deep2024",
        description="deep2024: 3 STDP conv layers (30, 150, 250) + R-STDP decision layer "
        "(docs/reference/networks.md#deep2024)",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=(
            *_zoo_front(150, 2),
            Conv("S3", 150, 250, 3, threshold=50.0, k=15, radius=1, rule=_stdp()),
            Pool(3, 3),
            Pad(2),
            _head("S4", 250, 5),
        ),
        readout=DecisionReadout(),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=4),
            Phase("S3", epochs=4),
            Phase("S4", epochs=100, evaluate=True, keep_best=True),
        ),
    )


def _deepr(name: str, schedule: str, description: str, T: int, n_classes: int) -> NetworkSpec:
    s3 = Conv(
        "S3",
        150,
        250,
        3,
        threshold=50.0,
        k=15,
        radius=0,
        rule=_stdp(stabilize=True),
        reward_rule=RSTDP(
            AdaptiveRates(reward=(0.001, -0.00075), punish=(-0.001, 0.000125)),
            lb=0.0,
            ub=1.0,
            stabilize=False,
        ),
    )
    return NetworkSpec(
        name=name,
        description=description,
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=(*_zoo_front(150, 2), s3, Pool(3, 3), Pad(2), _head("S4", 250, 5)),
        readout=DecisionReadout(),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=4),
            Phase("S3", epochs=4),
            Phase("S4", epochs=100, evaluate=True, keep_best=True, joint=("S3",), schedule=schedule),
        ),
    )


def deepr2024(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """deepr2024 (docs/reference/networks.md#deepr2024), joint: two STDP layers, then S3 (STDP, then
    rewarded) and the R-STDP decision layer S4 learning together from every decision."""
    return _deepr(
        "deepr2024",
        "joint",
        "deepr2024: 2 STDP layers + 2 R-STDP layers (S3 and the decision layer) trained jointly "
        "(docs/reference/networks.md#deepr2024)",
        T,
        n_classes,
    )


def deepr2024_2(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """deepr2024-2 (docs/reference/networks.md#deepr2024-2), greedy: as deepr2024, but S3 and S4 learn in
    alternate chunks."""
    return _deepr(
        "deepr2024-2",
        "alternate_chunks",
        "deepr2024-2: as deepr2024, S3 and the decision layer learning in alternate chunks "
        "(docs/reference/networks.md#deepr2024-2)",
        T,
        n_classes,
    )


def inception2024(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """inception2024 (docs/reference/networks.md#inception2024): three parallel STDP branches (3x3, 5x5,
    7x7), centred and concatenated, then an R-STDP decision layer."""
    branches = Parallel(
        "S3",
        tuple(
            Conv(f"S3{b}", 75, 100, k, threshold=50.0, k=15, radius=1, rule=_stdp())
            for b, k in (("a", 3), ("b", 5), ("c", 7))
        ),
    )
    return NetworkSpec(
        name="inception2024",
        description="inception2024: 2 STDP layers, 3 parallel STDP branches (3/5/7), R-STDP decision "
        "(docs/reference/networks.md#inception2024)",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=(*_zoo_front(75, 2), branches, Pool(3, 3), Pad(2), _head("S4", 300, 5)),
        readout=DecisionReadout(),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=4),
            Phase("S3a", epochs=4),
            Phase("S3b", epochs=4),
            Phase("S3c", epochs=4),
            Phase("S4", epochs=100, evaluate=True, keep_best=True),
        ),
    )


def majority2024(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """majority2024 (docs/reference/networks.md#majority2024): Mozafari 2018's S1/S2, then three R-STDP
    decision heads (3x3, 5x5, 7x7) and a majority vote (the 5x5 head breaks ties)."""
    heads = Parallel("heads", (_head("H3", 250, 3), _head("H5", 250, 5), _head("H7", 250, 7)))
    return NetworkSpec(
        name="majority2024",
        description="majority2024: 2 STDP layers + 3 R-STDP decision heads (3/5/7) voting "
        "(docs/reference/networks.md#majority2024)",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=(*_zoo_front(250, 3), heads),
        readout=VoteReadout(fallback="H5", adapt="head"),
        phases=(
            Phase("S1", epochs=2),
            Phase("S2", epochs=4),
            Phase("heads", epochs=100, evaluate=True, keep_best=True),
        ),
    )


# ----------------------------------------------------------------------------- Izhikevich CSNN
#: The Izhikevich CSNN's conv layers above S1 by depth (3 to 5 layers in all, the decision layer
#: included): (out_channels, kernel, threshold, k, radius) of S2, S3, S4 and the pooling and
#: padding that follow each of S1..S4.
_IZH_CONVS = {
    3: ((250, 3, 10.0, 8, 1),),
    4: ((150, 3, 10.0, 8, 1), (250, 3, 20.0, 15, 1)),
    5: ((150, 3, 10.0, 8, 1), (200, 3, 20.0, 15, 1), (250, 3, 20.0, 15, 1)),
}
_IZH_AFTER = {  # (pool kernel or 0, padding) after S1, S2, ...
    3: ((2, 1), (3, 2)),
    4: ((2, 1), (2, 1), (3, 2)),
    5: ((2, 1), (2, 1), (0, 1), (3, 2)),
}
#: The regular-spiking neuron of every thresholded layer: I = gain * max(P - threshold, 0).
IZHIKEVICH_RS = IzhikevichNeuron(a=0.02, b=0.2, c=-65.0, d=8.0, dt=1.0, n_sub=2, gain=1.0)


def izhikevich_csnn(T: int = 15, n_classes: int = 10, n_layers: int = 3) -> NetworkSpec:
    """The Izhikevich CSNN: ``n_layers - 1`` conv layers of regular-spiking Izhikevich neurons
    trained by STDP, then an R-STDP decision layer (20 neurons per class), on Mozafari 2018's
    DoG encoding.

    Each Izhikevich conv drives its neurons with ``I[t] = gain * max(P[t] - threshold, 0)``
    (its integrate-and-fire potential above the threshold) and passes on their first spikes, so
    pooling, k-WTA and STDP are Mozafari 2018's. The decision layer decides as Mozafari's, by
    the largest final potential of the spikes that reach it (R-STDP needs many epochs: this one
    costs one potential per sample, not ``T``). ``n_layers``: 3 (S1, S2, decision; Mozafari's
    sizes), 4 (S1, S2, S3, decision; deep2024's sizes) or 5 (S1..S4, decision).
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers not in _IZH_CONVS:
        raise SpecError(
            "izhikevich_csnn.n_layers: expected 3, 4 or 5 layers (the decision layer included), "
            f"got {n_layers!r}"
        )
    neuron = IZHIKEVICH_RS
    layers: list = [Pad(2), Conv("S1", 6, 30, 5, threshold=15.0, k=5, radius=3, rule=_stdp(), neuron=neuron)]
    channels = 30
    for i, (pool, pad) in enumerate(_IZH_AFTER[n_layers]):
        if pool:
            layers.append(Pool(pool, pool))
        layers.append(Pad(pad))
        if i < len(_IZH_CONVS[n_layers]):
            f, kernel, theta, k, radius = _IZH_CONVS[n_layers][i]
            layers.append(
                Conv(
                    f"S{i + 2}",
                    channels,
                    f,
                    kernel,
                    threshold=theta,
                    k=k,
                    radius=radius,
                    rule=_stdp(),
                    neuron=neuron,
                )
            )
            channels = f
    decision = f"S{n_layers}"
    layers.append(
        Conv(
            decision, channels, 20 * n_classes, 5, threshold=None, k=1, radius=0, rule=RSTDP(AdaptiveRates())
        )
    )
    stdp_phases = [Phase(f"S{i + 1}", epochs=1, samples=20000) for i in range(n_layers - 1)]
    suffix = "" if n_layers == 3 else str(n_layers)
    return NetworkSpec(
        name=f"izhikevich-csnn{suffix}",
        description=f"Izhikevich CSNN: {n_layers - 1} STDP conv layers of regular-spiking Izhikevich neurons "
        "+ R-STDP decision layer",
        T=T,
        n_classes=n_classes,
        encoder=EncoderSpec(dog=MOZAFARI_DOG, padding=6),
        layers=tuple(layers),
        readout=DecisionReadout(),
        phases=(*stdp_phases, Phase(decision, epochs=100, evaluate=True, keep_best=True)),
    )


def izhikevich_csnn5(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """The Izhikevich CSNN with five layers: four STDP Izhikevich conv layers + R-STDP decision."""
    return izhikevich_csnn(T=T, n_classes=n_classes, n_layers=5)


#: A preset: phase layer -> overrides of its ``epochs`` and ``samples``.
Preset = dict[str, dict[str, int]]
#: The presets every network has: "paper" runs the spec's phases as they are; "quick" too
#: unless the network defines its own; "tiny" (about a minute on 2 cores) trains each phase
#: on 10,000 samples for at most 2 epochs unless the network defines its own.
PRESET_NAMES = ("paper", "quick", "tiny")


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    factory: Callable[..., NetworkSpec | DiehlCookSpec]
    summary: str
    presets: dict[str, Preset] = field(default_factory=dict)


MODELS: dict[str, RegisteredModel] = {}


def register(
    name: str,
    factory: Callable[..., NetworkSpec | DiehlCookSpec],
    summary: str = "",
    presets: dict[str, Preset] | None = None,
) -> None:
    """Register ``factory`` (keyword arguments ``T`` and ``n_classes``, returns a spec) as ``name``,
    with its own ``presets`` (preset name -> phase layer -> ``epochs`` / ``samples``)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    unknown = sorted(set(presets or {}) - set(PRESET_NAMES))
    if unknown:
        raise ValueError(f"presets: expected some of {list(PRESET_NAMES)}, got {unknown[0]!r}")
    summary = summary or (factory.__doc__ or "").strip().split("\n")[0]
    MODELS[name] = RegisteredModel(name, factory, summary, dict(presets or {}))


def preset_of(spec: NetworkSpec | DiehlCookSpec, preset: str) -> Preset:
    """The overrides ``preset`` makes to ``spec``'s phases: the registered network's own, else
    the default ("tiny": 10,000 samples and at most 2 epochs per phase; others: none)."""
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset: expected one of {sorted(PRESET_NAMES)}, got {preset!r}")
    entry = MODELS.get(ALIASES.get(spec.name, spec.name))
    if entry is not None and preset in entry.presets:
        return entry.presets[preset]
    if preset == "tiny":
        return {p.layer: {"epochs": min(p.epochs, 2), "samples": 10000} for p in getattr(spec, "phases", ())}
    return {}


def conv_networks() -> list[str]:
    """The registered first-spike conv networks (every one but the fully connected Diehl &
    Cook networks), sorted."""
    return sorted(n for n in MODELS if get_spec(n).family == "conv")


def load_config(path: str) -> NetworkSpec:
    """A network from a JSON/YAML config file (:func:`fastspike.spec.load_spec`), whose
    ``base`` may name a registered network to start from."""
    return load_spec(path, base=get_spec)


#: Earlier registered names -> today's: a registered name is lower case, its words joined by "-".
#: ``get_spec(old)`` gives today's network under its old name, so saved runs and configs that name
#: it (``base: deepr2024_2``, ``--resume`` of an old run folder) load and resume as before.
ALIASES = {
    "deepr2024_2": "deepr2024-2",
    "izhikevich_csnn": "izhikevich-csnn",
    "izhikevich_csnn5": "izhikevich-csnn5",
}


def get_spec(name: str, **kwargs) -> NetworkSpec:
    """The spec of the registered network ``name`` (``T=``, ``n_classes=`` passed to its factory);
    an old name (:data:`ALIASES`) gives the network under that name."""
    if name in ALIASES:
        return get_spec(ALIASES[name], **kwargs).replace(name=name)
    if name not in MODELS:
        raise SpecError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name].factory(**kwargs)


register(
    "mozafari2018",
    mozafari2018,
    "Mozafari et al. 2018: DoG(6) -> S1 30 5x5 -> S2 250 3x3 -> 200 R-STDP decision neurons",
    presets={
        # the paper's S1/S2 schedule and 50 R-STDP epochs (about 10 minutes on a 2-core CPU)
        "quick": {"S3": {"epochs": 50}},
        "tiny": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 1, "samples": 20000},
            "S3": {"epochs": 4, "samples": 20000},
        },
    },
)
register(
    "mozafari2018-linear",
    mozafari2018_linear,
    "Mozafari et al. 2018's S1/S2 STDP features -> 4,000 features (C2) -> linear SVM",
    presets={
        "tiny": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 1, "samples": 20000},
            "readout": {"samples": 20000},
        }
    },
)
register(
    "kheradpisheh2018",
    kheradpisheh2018,
    "Kheradpisheh et al. 2018: DoG(2) -> S1 32 5x5 -> S2 150 2x2 -> 12,150 features -> linear SVM",
    presets={
        "tiny": {
            "S1": {"epochs": 1, "samples": 10000},
            "S2": {"epochs": 2, "samples": 20000},
            "readout": {"samples": 20000},
        }
    },
)
register(
    "deep2024",
    deep2024,
    "deep2024: DoG(6) -> S1 30 -> S2 150 -> S3 250 (STDP) -> 200 R-STDP decision neurons",
)
register(
    "deepr2024",
    deepr2024,
    "deepr2024: DoG(6) -> S1 30 -> S2 150 (STDP) -> S3 250 (STDP, then R-STDP) -> 200 R-STDP neurons, joint",
)
register(
    "deepr2024-2",
    deepr2024_2,
    "deepr2024-2: as deepr2024, S3 and the decision layer learning in alternate chunks (greedy)",
)
register(
    "inception2024",
    inception2024,
    "inception2024: DoG(6) -> S1 30 -> S2 75 -> branches 3x3|5x5|7x7 (3 x 100) -> 200 R-STDP neurons",
)
register(
    "majority2024",
    majority2024,
    "majority2024: DoG(6) -> S1 30 -> S2 250 -> 3 R-STDP heads (3x3, 5x5, 7x7) -> majority vote",
)
register(
    "izhikevich-csnn",
    izhikevich_csnn,
    "Izhikevich CSNN: DoG(6) -> S1 30 -> S2 250 (STDP, Izhikevich RS neurons) -> 200 R-STDP decision neurons",
)
register(
    "izhikevich-csnn5",
    izhikevich_csnn5,
    "Izhikevich CSNN, 5 layers: DoG(6) -> S1 30 -> S2 150 -> S3 200 -> S4 250 (STDP) -> 200 R-STDP",
)

# ----------------------------------------------------------------------------- Diehl & Cook 2015
# Not a conv stack: a fully connected network of multi-spike neurons with its own trainer
# (fastspike.diehlcook.train_diehl_cook; `python -m fastspike train diehlcook2015`).
from fastspike.diehlcook import DiehlCookSpec, diehlcook2015  # noqa: E402


def diehlcook2015_400(n_classes: int = 10, T=None) -> DiehlCookSpec:
    """Diehl & Cook 2015 with 400 excitatory neurons (87.0% in the paper)."""
    return diehlcook2015(n_neurons=400, n_classes=n_classes)


def diehlcook2015_6400(n_classes: int = 10, T=None) -> DiehlCookSpec:
    """Diehl & Cook 2015 with 6,400 excitatory neurons (95.0% in the paper; meant for a GPU)."""
    return diehlcook2015(n_neurons=6400, n_classes=n_classes)


register(
    "diehlcook2015",
    diehlcook2015,
    "Diehl & Cook 2015: 784 Poisson inputs -> 100 excitatory (adaptive threshold) <-> 100 inhibitory; "
    "trace STDP",
)
register("diehlcook2015-400", diehlcook2015_400, "Diehl & Cook 2015 with 400 excitatory neurons")
register("diehlcook2015-6400", diehlcook2015_6400, "Diehl & Cook 2015 with 6,400 excitatory neurons")
