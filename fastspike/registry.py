"""The registered networks, each a :class:`fastspike.spec.NetworkSpec` with its paper's numbers.

``get_spec(name)`` returns a network's description, ``MODELS`` lists them and
``register`` adds one (a function returning a spec). Like :mod:`fastspike.spec`,
this module imports nothing compiled, so the reference reads the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastspike.spec import (
    RSTDP,
    STDP,
    AdaptiveRates,
    Conv,
    DecisionReadout,
    DoublingRates,
    EncoderSpec,
    FixedRates,
    Inhibit,
    LinearReadout,
    NetworkSpec,
    Pad,
    Phase,
    Pool,
    SpecError,
)

__all__ = [
    "MODELS",
    "RegisteredModel",
    "get_spec",
    "kheradpisheh2018",
    "mozafari2018",
    "mozafari2018_linear",
    "register",
]

#: Mozafari et al. DoG bank (ALGORITHMS.md 2.1): ON/OFF pairs at three scales, as (size, sigma1, sigma2).
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


def mozafari2018(T: int = 15, n_classes: int = 10) -> NetworkSpec:
    """Mozafari et al. 2018/2019, MNIST (ALGORITHMS.md 9): two STDP layers and an
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
    """Kheradpisheh et al. 2018 as configured in the reference script (ALGORITHMS.md 10):
    two STDP layers, "spiked at all" of the 2x2-pooled S2 maps (12,150 features) to a
    linear SVM with C = 2.4."""
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


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    factory: Callable[..., NetworkSpec]
    summary: str


MODELS: dict[str, RegisteredModel] = {}


def register(name: str, factory: Callable[..., NetworkSpec], summary: str = "") -> None:
    """Register ``factory`` (keyword arguments ``T`` and ``n_classes``, returns a spec) as ``name``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    MODELS[name] = RegisteredModel(name, factory, summary or (factory.__doc__ or "").strip().split("\n")[0])


def get_spec(name: str, **kwargs) -> NetworkSpec:
    """The spec of the registered network ``name`` (``T=``, ``n_classes=`` passed to its factory)."""
    if name not in MODELS:
        raise SpecError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name].factory(**kwargs)


register(
    "mozafari2018",
    mozafari2018,
    "Mozafari et al. 2018: DoG(6) -> S1 30 5x5 -> S2 250 3x3 -> 200 R-STDP decision neurons",
)
register(
    "mozafari2018-linear",
    mozafari2018_linear,
    "Mozafari et al. 2018's S1/S2 STDP features -> 4,000 features (C2) -> linear SVM",
)
register(
    "kheradpisheh2018",
    kheradpisheh2018,
    "Kheradpisheh et al. 2018: DoG(2) -> S1 32 5x5 -> S2 150 2x2 -> 12,150 features -> linear SVM",
)
