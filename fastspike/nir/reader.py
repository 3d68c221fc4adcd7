"""Read a graph written by :func:`fastspike.nir.export` back into a fastspike network (:func:`load`).

The network's structure and the numbers NIR does not carry come from the graph's metadata
(``fastspike_spec``: the whole spec); the weights come from the graph's nodes (each conv's
``nir.Conv2d``, a linear readout's ``nir.Affine``). The thresholds of the ``nir.IF`` nodes and
the DoG bank of node ``dog`` must agree with the spec: a graph edited so that they do not is
refused rather than half read.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

import fastspike.rules  # noqa: F401  (registers the rule types a spec may name)
from fastspike.encoding import dog_filters
from fastspike.network import Network
from fastspike.nir.common import FORMAT, NIRExportError, meta_int, meta_json, require_nir
from fastspike.spec import LinearReadout, NetworkSpec, SpecError

__all__ = ["load", "read_graph"]


def read_graph(source: Any):
    """``source`` as a ``nir.NIRGraph``: a graph, or the path of a file ``nir.write`` wrote."""
    nir = require_nir()
    if isinstance(source, nir.NIRGraph):
        return source
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise FileNotFoundError(f"fastspike.nir: no file {os.fspath(source)!r}")
        return nir.read(source)
    raise TypeError(f"expected a nir.NIRGraph or the path of a NIR file, got {type(source).__name__}")


def _spec_of(graph) -> tuple[NetworkSpec, dict]:
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if "fastspike_spec" not in meta:
        raise NIRExportError(
            "fastspike.nir.load: the graph has no 'fastspike_spec' in its metadata: it was not written "
            "by fastspike.nir.export, and fastspike reads back only the graphs it wrote"
        )
    fmt = meta_int(meta, "fastspike_format")
    if fmt != FORMAT:
        raise NIRExportError(
            f"fastspike.nir.load: the graph's layout is version {fmt}; this fastspike reads version {FORMAT}"
        )
    try:
        spec = NetworkSpec.from_dict(meta_json(meta, "fastspike_spec"))
    except SpecError as err:
        raise NIRExportError(f"fastspike.nir.load: the graph's spec is not valid: {err}") from None
    return spec, meta


def _node(graph, name: str, kind, what: str):
    node = graph.nodes.get(name)
    if not isinstance(node, kind):
        got = "nothing" if node is None else type(node).__name__
        raise NIRExportError(
            f"fastspike.nir.load: {what}: expected a {kind.__name__} node {name!r}, got {got}"
        )
    return node


def _array(value, shape: tuple[int, ...], what: str) -> torch.Tensor:
    a = np.asarray(value, dtype=np.float32)
    if a.shape != tuple(shape):
        raise NIRExportError(f"fastspike.nir.load: {what}: expected shape {tuple(shape)}, got {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a))


def load(source: Any, device: str | torch.device = "cpu") -> Network:
    """The fastspike network of a graph :func:`fastspike.nir.export` wrote (a ``nir.NIRGraph``
    or its file), on ``device``: the same spec, weights, thresholds, readout and compat mode,
    so it answers every input as the exported network did."""
    nir = require_nir()
    graph = read_graph(source)
    spec, meta = _spec_of(graph)
    net = Network(spec, compat=bool(meta_int(meta, "compat", 0)), seed=None)
    entries = {e["name"]: e for e in meta_json(meta, "layers")}
    with torch.no_grad():
        for name, conv in net.named_convs():
            if name not in entries:
                raise NIRExportError(f"fastspike.nir.load: metadata 'layers' has no entry for conv {name!r}")
            e = entries[name]
            node = _node(graph, e["node"], nir.Conv2d, f"conv {name!r}")
            conv.weight.copy_(_array(node.weight, tuple(conv.weight.shape), f"the weights of {name!r}"))
            if conv.threshold is not None:
                neurons = _node(graph, e["neuron"], nir.IF, f"the neurons of {name!r}")
                found = np.unique(np.asarray(neurons.v_threshold, dtype=np.float32))
                if found.size != 1 or found[0] != np.float32(conv.threshold):
                    raise NIRExportError(
                        f"fastspike.nir.load: the thresholds of {e['neuron']!r} ({found[:4].tolist()}) "
                        f"are not the spec's {conv.threshold} for {name!r}"
                    )
        if isinstance(spec.readout, LinearReadout):
            affine = _node(graph, "readout", nir.Affine, "the linear readout")
            shape = tuple(net.readout_weight.shape)
            net.readout_weight.copy_(_array(affine.weight, shape, "the readout's weights"))
            if "readout_bias" in meta:
                bias = meta["readout_bias"]
            else:
                bias = np.asarray(affine.bias, dtype=np.float32) * np.float32(spec.T)
            net.readout_bias.copy_(_array(bias, (spec.n_classes,), "the readout's bias"))
            net.readout_fitted.fill_(bool(meta_int(meta, "readout_fitted", 1)))
    dog = graph.nodes.get("dog")
    if isinstance(dog, nir.Conv2d):
        bank = dog_filters(spec.encoder.dog).numpy()
        if np.asarray(dog.weight).shape != bank.shape or not np.array_equal(np.asarray(dog.weight), bank):
            raise NIRExportError(
                "fastspike.nir.load: node 'dog' does not hold the DoG bank of the spec's encoder "
                f"({list(spec.encoder.dog)}): fastspike builds its encoder from the spec"
            )
    dataset = meta.get("dataset")
    if isinstance(dataset, bytes):
        dataset = dataset.decode("utf8")
    net.dataset = dataset if isinstance(dataset, str) else None
    return net.to(device)
