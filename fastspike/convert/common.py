"""What the converters share: the example networks of other simulators (:data:`SOURCES`),
the spec each becomes, the checks of their tensors, and building the network."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from fastspike.network import Network
from fastspike.registry import get_spec
from fastspike.spec import NetworkSpec

__all__ = [
    "MODEL_NAMES",
    "SOURCES",
    "Source",
    "as_tensor",
    "build",
    "check_readout",
    "check_weights",
    "expected_shapes",
    "resolve_model",
    "shape_of",
    "source_spec",
]


@dataclass(frozen=True)
class Source:
    """One example network of another simulator: what its saved weights are called and the
    architecture constants its script sets.

    ``weights``: saved name -> the spec name of the fastspike conv it becomes.
    ``layers``: spec conv name -> ``(threshold, k, radius)`` in the source's script
    (``threshold`` ``None``: a decision layer).
    ``network``: what the source calls it (for messages).
    """

    simulator: str
    network: str
    model: str
    weights: dict[str, str]
    layers: dict[str, tuple[float | None, int, int]]


#: (simulator, registered model) -> its example network. The numbers are those of the
#: simulators' example scripts (SpykeTorch: MozafariDeep.py, KheradpishehDeep.py; Spyker:
#: examples/mozafari_mnist_original.py, examples/kheradpisheh_mnist_dense.py).
SOURCES: dict[tuple[str, str], Source] = {
    ("spyketorch", "mozafari2018"): Source(
        "SpykeTorch",
        "MozafariMNIST2018",
        "mozafari2018",
        {"conv1.weight": "S1", "conv2.weight": "S2", "conv3.weight": "S3"},
        {"S1": (15.0, 5, 3), "S2": (10.0, 8, 1), "S3": (None, 1, 0)},
    ),
    ("spyketorch", "kheradpisheh2018"): Source(
        "SpykeTorch",
        "KheradpishehMNIST",
        "kheradpisheh2018",
        {"conv1.weight": "S1", "conv2.weight": "S2"},
        {"S1": (10.0, 5, 2), "S2": (1.0, 8, 1)},
    ),
    ("spyker", "mozafari2018"): Source(
        "Spyker",
        "mozafari_mnist_original",
        "mozafari2018",
        {"conv1_kernel": "S1", "conv2_kernel": "S2", "conv3_kernel": "S3"},
        {"S1": (15.0, 5, 3), "S2": (5.0, 8, 1), "S3": (None, 1, 0)},
    ),
    ("spyker", "kheradpisheh2018"): Source(
        "Spyker",
        "kheradpisheh_mnist_dense",
        "kheradpisheh2018",
        {"conv1_kernel": "S1", "conv2_kernel": "S2"},
        {"S1": (10.0, 5, 2), "S2": (1.0, 8, 1)},
    ),
}

#: other names a caller may use for a model: the example classes' and scripts' own names
MODEL_NAMES = {
    "MozafariMNIST2018": "mozafari2018",
    "KheradpishehMNIST": "kheradpisheh2018",
    "KheradpishehMNIST2018": "kheradpisheh2018",
    "mozafari_mnist_original": "mozafari2018",
    "kheradpisheh_mnist_dense": "kheradpisheh2018",
}


# ------------------------------------------------------------------ the spec of a source
def source_spec(source: Source, T: int = 15) -> NetworkSpec:
    """The registered spec of ``source.model`` with the source's thresholds, ``k`` and radius
    (renamed ``<model>-<simulator>`` where any of them differs from the registered ones)."""
    spec = get_spec(source.model, T=T)
    changed = []

    def align(conv):
        want = source.layers.get(conv.name)
        if want is None:
            return conv
        threshold, k, radius = want
        if (conv.threshold, conv.k, conv.radius) == (threshold, k, radius):
            return conv
        if (conv.threshold is None) != (threshold is None):
            raise ValueError(
                f"{source.simulator} {source.network}: layer {conv.name} is "
                f"{'a decision layer' if threshold is None else 'thresholded'} there but not in "
                f"{source.model!r}"
            )
        changed.append(f"{conv.name} threshold {threshold:g}, k={k}, radius={radius}")
        return dataclasses.replace(conv, threshold=threshold, k=k, radius=radius)

    spec = spec.map_convs(align)
    if changed:
        sim = source.simulator.lower()
        spec = spec.replace(
            name=f"{source.model}-{sim}",
            description=f"{spec.description}; as {source.simulator}'s {source.network}: "
            + ", ".join(changed),
        )
    return spec


def resolve_model(simulator: str, model: Any) -> Source:
    """The :data:`SOURCES` entry of ``simulator``'s ``model`` (a registered name or the
    example's own, :data:`MODEL_NAMES`), or a ValueError listing the models it has."""
    models = sorted({m for s, m in SOURCES if s == simulator})
    name = MODEL_NAMES.get(model, model) if isinstance(model, str) else model
    if (simulator, name) not in SOURCES:
        raise ValueError(f"model: expected one of {models}, got {model!r}")
    return SOURCES[(simulator, name)]


# ------------------------------------------------------------------ checking tensors
def shape_of(t: Tensor) -> tuple[int, ...]:
    """A tensor's (or array's) shape as a tuple of ints, for messages."""
    return tuple(int(n) for n in t.shape)


def expected_shapes(source: Source, spec: NetworkSpec) -> dict[str, tuple[int, int, int, int]]:
    """Saved name -> the shape ``[out, in, k, k]`` its conv has in ``spec``."""
    convs = {c.name: c for c in spec.convs}
    return {
        key: (convs[name].out_channels, convs[name].in_channels, convs[name].kernel, convs[name].kernel)
        for key, name in source.weights.items()
    }


def _hint(source: Source, found: Mapping[str, Any]) -> str:
    """`` (a <simulator> <model> network's: pass model=...)`` when ``found`` holds another
    network of the same simulator, every weight of its shape."""
    for (_, model), other in SOURCES.items():
        if other is source or other.simulator != source.simulator:
            continue
        shapes = expected_shapes(other, get_spec(model))
        if all(
            k in found and hasattr(found[k], "shape") and shape_of(found[k]) == s for k, s in shapes.items()
        ):
            return f" (a {other.simulator} {model} network's: pass model={model!r})"
    return ""


def as_tensor(key: str, value: Any, expected: tuple[int, ...], what: str) -> Tensor:
    """``value`` as a tensor (a NumPy array is converted), or a ValueError naming ``key``."""
    if not isinstance(value, Tensor):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is a dependency of fastspike
            np = None
        if np is not None and isinstance(value, np.ndarray):
            value = torch.from_numpy(value.copy())
        else:
            raise ValueError(f"{key}: expected a {what} of shape {expected}, found a {type(value).__name__}")
    return value


def _check_weight(key: str, value: Any, expected: tuple[int, ...], hint=lambda: "") -> Tensor:
    """One conv's weights: a floating tensor of ``expected`` shape, finite and >= 0 (``hint()``:
    what to add to a shape error)."""
    w = as_tensor(key, value, expected, "tensor")
    if shape_of(w) != expected:
        raise ValueError(f"{key}: expected shape {expected}, found {shape_of(w)}{hint()}")
    if not w.is_floating_point():
        raise ValueError(f"{key}: expected floating-point weights of shape {expected}, found {w.dtype}")
    w = w.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(w).all()):
        raise ValueError(
            f"{key}: expected finite weights, found {int((~torch.isfinite(w)).sum())} that are not"
        )
    if bool((w < 0).any()):
        raise ValueError(
            f"{key}: expected weights >= 0 (integrate-and-fire potentials must not decrease), "
            f"found {int((w < 0).sum())} negative, the lowest {float(w.min()):g}"
        )
    return w.contiguous().clone()


def check_weights(
    source: Source, spec: NetworkSpec, found: Mapping[str, Any], kind: str
) -> dict[str, Tensor]:
    """The source's weights of ``found`` by spec conv name, every one checked; missing ones
    are named with their expected shape."""
    shapes = expected_shapes(source, spec)
    missing = [k for k in shapes if k not in found]
    if missing:
        k = missing[0]
        names = sorted(str(n) for n in found if str(n).endswith(("weight", "kernel"))) or sorted(
            map(str, found)
        )
        have = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") or "nothing"
        raise ValueError(
            f"{k}: missing (expected shape {shapes[k]}, the weights of {source.weights[k]} of "
            f"{source.model!r}); found {have} in the {kind}{_hint(source, found)}"
        )
    return {
        source.weights[k]: _check_weight(k, found[k], s, lambda: _hint(source, found))
        for k, s in shapes.items()
    }


def check_readout(readout: Any, net: Network) -> tuple[Tensor, Tensor]:
    """``(weight, bias)`` or an object with ``coef_`` and ``intercept_`` (scikit-learn) ->
    the checked float32 pair."""
    if not hasattr(net, "readout_weight"):
        raise ValueError(f"readout: {net.spec.name!r} decides by itself; it has no linear readout to set")
    if hasattr(readout, "coef_") and hasattr(readout, "intercept_"):
        weight, bias = readout.coef_, readout.intercept_
    elif isinstance(readout, (tuple, list)) and len(readout) == 2:
        weight, bias = readout
    else:
        raise ValueError(
            "readout: expected (weight, bias) or a fitted scikit-learn classifier (coef_, intercept_), "
            f"found a {type(readout).__name__}"
        )
    shape_w, shape_b = tuple(net.readout_weight.shape), tuple(net.readout_bias.shape)
    w = as_tensor("readout weight", weight, shape_w, "tensor")
    b = as_tensor("readout bias", bias, shape_b, "tensor")
    for name, t, s in (("readout weight", w, shape_w), ("readout bias", b, shape_b)):
        if shape_of(t) != s:
            raise ValueError(f"{name}: expected shape {s}, found {shape_of(t)}")
        if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: expected finite floating-point values")
    return w.detach().cpu().float(), b.detach().cpu().float()


def build(
    source: Source,
    spec: NetworkSpec,
    weights: dict[str, Tensor],
    compat: bool,
    readout: Any,
    device: str | torch.device,
) -> Network:
    """The network of ``spec`` with the checked ``weights`` (spec conv name -> tensor) and,
    when given, the fitted linear ``readout``, on ``device``."""
    net = Network(spec, compat=compat, seed=0)  # its own generator: the global RNG is not touched
    for name, w in weights.items():
        conv = net.conv(name)
        conv.weight = w  # a new tensor: nothing cached from the drawn weights is kept
    if readout is not None:
        w, b = check_readout(readout, net)
        net.readout_weight.copy_(w)
        net.readout_bias.copy_(b)
        net.readout_fitted.fill_(True)
    net.source = f"{source.simulator} {source.network}"
    return net.to(device)
