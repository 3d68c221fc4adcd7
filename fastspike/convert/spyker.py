"""Spyker weight files -> fastspike networks (:func:`from_spyker`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from fastspike.convert.common import Source, build, check_weights, resolve_model, source_spec
from fastspike.network import Network

__all__ = ["from_spyker"]


def _load_npz(path: str) -> dict[str, Any]:
    """The arrays of an ``.npz`` archive, read without unpickling anything."""
    import numpy as np

    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights: no file {path!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as err:  # not NumPy's format, or object arrays (pickles): refused
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"weights {path!r}: not a NumPy .npz archive of plain arrays (what the Spyker examples' "
            f"save() writes); refused to load it, nothing in it ran: {first}"
        ) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(
            f"weights {path!r}: a single array, not an .npz archive of named arrays (conv1_kernel, ...)"
        )
    with data:
        try:
            return {k: data[k] for k in data.files}
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"weights {path!r}: an .npz archive whose arrays are not plain data (refused to load "
                f"them, nothing in them ran: {first})"
            ) from None


def _spyker_kernels(network: Any, source: Source) -> dict[str, Any]:
    """The kernels of a live Spyker example network (``network.conv1.kernel``, ...)."""
    out = {}
    for key in source.weights:
        layer = getattr(network, key.split("_")[0], None)
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            out[key] = kernel
    return out


def _spyker_array(value: Any) -> Any:
    """A Spyker tensor as a torch tensor (a copy); anything else as it is."""
    if type(value).__module__.split(".")[0] == "spyker":
        import spyker

        return spyker.to_torch(value).clone()
    return value


def from_spyker(
    weights: Mapping[str, Any] | str | os.PathLike | Any,
    model: str,
    *,
    T: int = 15,
    compat: bool = False,
    readout: Any = None,
    device: str | torch.device = "cpu",
) -> Network:
    """A fastspike network from the kernels of a Spyker example network.

    Spyker saves no network: its examples' ``save`` writes the kernels to a NumPy archive
    (``numpy.savez(path, conv1_kernel=..., conv2_kernel=...[, conv3_kernel=...])``), and the
    rest of the network is the script's code. So this reads the kernels, and the script's
    constants come from :data:`SOURCES`.

    Args:
        weights: that ``.npz`` file (read with ``allow_pickle=False``), a mapping of the same
            names to arrays (NumPy, torch or Spyker tensors), or the example ``Network`` object
            itself (its ``conv1.kernel``, ...).
        model: ``"kheradpisheh2018"`` (``kheradpisheh_mnist_dense.py``: the registered network
            as it is) or ``"mozafari2018"`` (``mozafari_mnist_original.py``: S2 fires above 5,
            not 10, so the network is ``mozafari2018-spyker``, the registered one with that
            threshold).
        T: time steps (the examples' 15).
        compat: SpykeTorch's quirks (see :func:`from_spyketorch`); Spyker has its own k-WTA
            score and float64 STDP arithmetic, which neither mode reproduces, so the default
            is fastspike's clean semantics.
        readout: Kheradpisheh 2018 only: the fitted linear SVM, as in :func:`from_spyketorch`.
        device: where the network goes.

    Raises:
        ValueError: a missing, extra or mis-shaped kernel (named, with the shape expected and
            the one found), negative or non-finite weights, or a file that is not a plain
            ``.npz`` archive.
    """
    source = resolve_model("spyker", model)
    if isinstance(weights, (str, os.PathLike)):
        weights = _load_npz(os.fspath(weights))
    elif not isinstance(weights, Mapping):
        if not hasattr(weights, "conv1"):
            raise ValueError(
                f"weights: expected a Spyker {source.network} .npz file, a mapping of "
                f"{', '.join(source.weights)} to arrays, or the example network, found a "
                f"{type(weights).__name__}"
            )
        weights = _spyker_kernels(weights, source)
    found = {k: _spyker_array(v) for k, v in weights.items()}
    spec = source_spec(source, T)
    checked = check_weights(source, spec, found, "weights")
    extra = sorted(str(k) for k in found if k not in source.weights)
    if extra:
        v = found[extra[0]]
        shape = f" of shape {tuple(v.shape)}" if hasattr(v, "shape") else ""
        raise ValueError(
            f"{extra[0]}: unexpected array{shape}: Spyker's {source.network} saves "
            f"{', '.join(source.weights)} only"
        )
    return build(source, spec, checked, compat, readout, device)
