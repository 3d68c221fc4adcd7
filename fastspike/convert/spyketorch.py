"""SpykeTorch state dicts -> fastspike networks (:func:`from_spyketorch`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch

from fastspike.convert.common import (
    Source,
    as_tensor,
    build,
    check_weights,
    expected_shapes,
    resolve_model,
    shape_of,
    source_spec,
)
from fastspike.network import Network
from fastspike.spec import NetworkSpec

__all__ = ["from_spyketorch"]

# SpykeTorch's STDP modules (snn.STDP) hold their layer as a submodule and one learning-rate
# pair per feature, so its state dict also has "stdpN.conv_layer.weight" (the layer's own
# weight again), "stdpN.ltp_<f>" and "stdpN.ltd_<f>" (shape [1]); "max_ap" ([1]) caps the
# doubling. The Mozafari network's punishment rule is "anti_stdp3".
_SPYKETORCH_RULES = {
    "mozafari2018": {"stdp1": "conv1", "stdp2": "conv2", "stdp3": "conv3", "anti_stdp3": "conv3"},
    "kheradpisheh2018": {"stdp1": "conv1", "stdp2": "conv2"},
}
_RATE_KEY = re.compile(r"^(?P<rule>[a-z_0-9]+)\.(?P<kind>ltp|ltd)_(?P<f>\d+)$")


def _check_spyketorch_extras(source: Source, spec: NetworkSpec, sd: Mapping[str, Any]) -> None:
    """SpykeTorch's STDP entries of the example network: right shapes, and each rule's copy
    of its layer's weight equal to the layer's. Anything else is an extra parameter."""
    rules = _SPYKETORCH_RULES[source.model]
    shapes = expected_shapes(source, spec)
    features = {key.split(".")[0]: s[0] for key, s in shapes.items()}  # "conv1" -> its features
    for key, value in sd.items():
        if key in source.weights:
            continue
        head, _, tail = str(key).partition(".")
        m = _RATE_KEY.match(str(key))
        if key == "max_ap" or (m is not None and m["rule"] in rules):
            n = features[rules[m["rule"]]] if m is not None else 1
            if m is not None and int(m["f"]) >= n:
                raise ValueError(
                    f"{key}: unexpected parameter: {m['rule']} has learning rates for features "
                    f"0..{n - 1} of {rules[m['rule']]} only"
                )
            t = as_tensor(key, value, (1,), "learning-rate tensor")
            if shape_of(t) != (1,):
                raise ValueError(f"{key}: expected shape (1,), found {shape_of(t)}")
        elif head in rules and tail == "conv_layer.weight":
            layer = f"{rules[head]}.weight"
            t = as_tensor(key, value, shapes[layer], "tensor")
            if shape_of(t) != shapes[layer]:
                raise ValueError(f"{key}: expected shape {shapes[layer]}, found {shape_of(t)}")
            if not torch.equal(
                t.detach().cpu().float(), as_tensor(layer, sd[layer], (), "tensor").cpu().float()
            ):
                raise ValueError(
                    f"{key}: differs from {layer} (in SpykeTorch the STDP rule holds its layer, so the "
                    "two entries are one tensor saved twice)"
                )
        else:
            shape = f" of shape {shape_of(value)}" if isinstance(value, torch.Tensor) else ""
            raise ValueError(
                f"{key}: unexpected parameter{shape}: a SpykeTorch {source.network} state dict holds "
                f"{', '.join(source.weights)} and its STDP rules' entries "
                f"({', '.join(f'{r}.*' for r in rules)}, max_ap) only"
            )


# ------------------------------------------------------------------ SpykeTorch
def _load_torch(path: str) -> Any:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"state_dict: no file {path!r}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # refused (it pickles code or objects) or not a torch file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"state_dict {path!r}: not a plain-data torch file (torch.save(model.state_dict(), ...)); "
            f"refused to load it, nothing in it ran: {first}"
        ) from None


def from_spyketorch(
    state_dict: Mapping[str, Any] | str | os.PathLike,
    model: str,
    *,
    T: int = 15,
    compat: bool = True,
    readout: Any = None,
    device: str | torch.device = "cpu",
) -> Network:
    """A fastspike network from the state dict of a SpykeTorch example network.

    Args:
        state_dict: ``model.state_dict()`` of SpykeTorch's ``MozafariMNIST2018`` or
            ``KheradpishehMNIST`` (its ``conv1.weight``, ``conv2.weight`` [, ``conv3.weight``]
            and the STDP rules' entries), or the path of a file ``torch.save`` wrote it to
            (read with ``weights_only=True``: nothing in the file runs).
        model: ``"mozafari2018"`` or ``"kheradpisheh2018"`` (or the example class's name).
        T: time steps (the scripts' 15).
        compat: build the network in compat mode (default), which reproduces SpykeTorch where
            its arithmetic is odd: k-WTA ranks by its float32 score (the decision layer too)
            and training clamps the whole weight tensor to the rule's bounds after every
            sample, as SpykeTorch's STDP does. ``False``: fastspike's clean semantics (exact
            ranking; a clamp only where an update writes). Either way the weights are taken
            as they are, not clamped.
        readout: Kheradpisheh 2018 only: the linear SVM the script fits on the features,
            ``(weight [10, 12150], bias [10])`` or a fitted scikit-learn ``LinearSVC``
            (``coef_``, ``intercept_``). Without it the readout is not fitted yet.
        device: where the network goes.

    Returns:
        A :class:`~fastspike.network.Network` of the registered spec (``net.source`` names
        what it came from): ``net(times)`` predicts, and :func:`fastspike.training.learner`
        trains any layer further.

    Raises:
        ValueError: a missing, extra or mis-shaped parameter (named, with the shape expected
            and the one found), negative or non-finite weights, or a file that is not plain data.
    """
    source = resolve_model("spyketorch", model)
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = _load_torch(os.fspath(state_dict))
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"state_dict: expected a SpykeTorch {source.network} state dict (a mapping of names to "
            f"tensors) or its file, found a {type(state_dict).__name__}"
        )
    spec = source_spec(source, T)
    weights = check_weights(source, spec, state_dict, "state dict")
    _check_spyketorch_extras(source, spec, state_dict)
    return build(source, spec, weights, compat, readout, device)
