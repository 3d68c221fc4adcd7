"""Write a trained first-spike conv network as a NIR graph (:func:`export`).

The graph is the network's inference path in NIR's primitives, each a single-spike map of
first-spike times over ``T`` steps of one time unit:

* input: node ``input``, the encoder's first-spike times, one spike per neuron;
* a conv: ``nir.Conv2d`` (stride 1; the padding of the :class:`~fastspike.spec.Pad` layers
  before it) and ``nir.IF`` (``r = 1``, ``v_threshold``, and a ``v_reset`` so low that the
  neuron cannot reach its threshold again: one spike per neuron, as in the network);
* a pooling layer (max-pooling of spikes = min-pooling of first-spike times): ``nir.SumPool2d``
  then ``nir.IF`` with threshold 0.5 and the same low reset, which spikes once, at the first
  input spike of its window; its padding is an identity ``nir.Conv2d`` with that padding
  (NIR importers built on nirtorch ignore ``SumPool2d.padding``);
* a block of parallel branches: each branch's conv and neurons, then a 1x1 ``nir.Conv2d``
  placing its maps at its channels of the block, centred; the placed maps sum into the next
  node (NIR sums the edges that reach a node), which concatenates them exactly;
* a decision layer: ``nir.Conv2d`` then ``nir.I`` (``r = 1``), whose value after the last step
  is the layer's final potential ``P[T-1]``; the heads of a vote, each placed at its channels
  as branches are, share one ``nir.I``;
* a linear readout: ``nir.Flatten`` (``(c, y, x)`` order), ``nir.Affine`` (weights, bias / T)
  and ``nir.I``, whose value after the last step is ``W f + b`` for the features ``f``.

With ``encoder=True`` the graph also holds the DoG filtering, NIR's part of the encoder, as a
second component: ``image`` (pixel values 0..255) -> ``dog`` (``nir.Conv2d`` with the DoG bank)
-> ``dog_output``. The threshold, local normalisation and rank-order coding that turn its
output into the times of ``input`` are no NIR primitive; the metadata holds their numbers.

What NIR cannot carry (the spec, k-WTA, training-only layers, the readout's decoding, the
encoder's numbers) is in the graph's metadata: see docs/guides/nir.md.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
from torch import nn

from fastspike import __version__
from fastspike.diehlcook import DiehlCook
from fastspike.encoding import dog_filters
from fastspike.network import Network
from fastspike.nir.common import FORMAT, NIRExportError, require_nir
from fastspike.spec import Conv, DecisionReadout, Inhibit, LinearReadout, Pad, Parallel, Pool, VoteReadout

__all__ = ["INPUT_CODING", "export"]

#: How the times of node ``input`` are coded (the graph's metadata ``input_coding``).
INPUT_CODING = (
    "node 'input' receives the encoder's first-spike times: neuron (c, y, x) spikes once, at step "
    "times[c, y, x] of the T steps (times[c, y, x] = T: never); a step is one NIR time unit (dt = 1), "
    "and a node passes its input on in the same step (no synaptic delay)"
)


class _Builder:
    """Collects the graph's nodes and edges while the spec's layers are walked."""

    def __init__(self, nir):
        self.nir = nir
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.layers: list[dict] = []  # per conv: its nodes and the numbers NIR does not carry
        self.approximations: list[str] = []

    def add(self, name: str, node, sources: list[str]) -> str:
        base, i = name, 2
        while name in self.nodes:
            name, i = f"{base}_{i}", i + 1
        self.nodes[name] = node
        self.edges.extend((s, name) for s in sources)
        return name

    # ------------------------------------------------------------------ node makers
    def conv2d(self, weight: np.ndarray, padding: int, hw: tuple[int, int], metadata: dict) -> Any:
        return self.nir.Conv2d(
            input_shape=tuple(int(n) for n in hw),
            weight=np.ascontiguousarray(weight, dtype=np.float32),
            stride=1,
            padding=int(padding),
            dilation=1,
            groups=1,
            bias=np.zeros(weight.shape[0], dtype=np.float32),
            metadata=metadata,
        )

    def place(self, name: str, src: str, c_in: int, c_out: int, offset: int, pad: int, hw) -> str:
        """A 1x1 identity conv: input channel ``i`` -> output channel ``offset + i``, ``pad``
        rows and columns of zeros (never) around it."""
        w = np.zeros((c_out, c_in, 1, 1), dtype=np.float32)
        w[np.arange(offset, offset + c_in), np.arange(c_in), 0, 0] = 1.0
        meta = {"role": "placement: channels and padding only (identity weights)"}
        return self.add(name, self.conv2d(w, pad, hw, meta), [src])

    def pad(self, name: str, srcs: list[str], channels: int, pad: int, hw) -> str:
        """An identity 1x1 conv that adds ``pad`` rows and columns of zeros (never)."""
        eye = np.eye(channels, dtype=np.float32)[:, :, None, None]
        return self.add(name, self.conv2d(eye, pad, hw, {"role": "padding (identity weights)"}), srcs)

    def if_node(self, shape: tuple[int, int, int], threshold: float, max_input: np.ndarray, meta: dict):
        """IF neurons of ``shape`` that spike once: after a spike ``v = v_reset``, with
        ``v_reset + max_input[c] <= threshold - 1`` (``max_input[c]``: the most the inputs of
        channel ``c`` can add over the whole run, each input spiking at most once)."""
        reset = np.floor(float(threshold) - 1.0 - np.asarray(max_input, dtype=np.float64))
        reset = np.broadcast_to(reset.reshape(-1, 1, 1), shape).astype(np.float32)
        return self.nir.IF(
            r=np.ones(shape, dtype=np.float32),
            v_threshold=np.full(shape, threshold, dtype=np.float32),
            v_reset=np.ascontiguousarray(reset),
            metadata=meta,
        )

    def integrator(self, shape: tuple[int, ...], meta: dict):
        return self.nir.I(r=np.ones(shape, dtype=np.float32), metadata=meta)

    # ------------------------------------------------------------------ layers
    def conv(self, c: Conv, module: nn.Module, srcs: list[str], shape, pad: int) -> tuple[str, tuple]:
        """Conv ``c`` (its weights from ``module``) on the sum of ``srcs`` (``shape``, before
        ``pad``): returns its Conv2d node (a decision layer's: its currents) or its neurons."""
        _, H, W = shape
        w = module.weight.detach().to("cpu").float().numpy()
        F = c.out_channels
        out = (F, H + 2 * pad - c.kernel + 1, W + 2 * pad - c.kernel + 1)
        meta = {"layer": c.name, "k": c.k, "radius": c.radius, "pointwise": int(c.pointwise)}
        if c.threshold is not None:
            meta["threshold"] = float(c.threshold)
        node = self.add(c.name, self.conv2d(w, pad, (H, W), meta), srcs)
        entry = {
            "name": c.name,
            "node": node,
            "threshold": c.threshold,
            "k": c.k,
            "radius": c.radius,
            "pointwise": c.pointwise,
            "neuron_model": "if" if c.neuron is None else "izhikevich",
        }
        self.layers.append(entry)
        if c.neuron is not None:
            self.approximations.append(
                f"{c.name}: Izhikevich neurons (no NIR primitive) are written as integrate-and-fire "
                f"neurons with the layer's threshold: they spike as soon as P[t] > threshold, the "
                f"Izhikevich neurons some steps later"
            )
        if c.is_decision:
            return node, out
        max_input = np.clip(w.astype(np.float64), 0, None).reshape(F, -1).sum(1)
        neuron_meta = {"layer": c.name, "role": "integrate-and-fire, one spike per neuron"}
        neuron = self.add(
            f"{c.name}_if", self.if_node(out, float(c.threshold), max_input, neuron_meta), [node]
        )
        entry["neuron"] = neuron
        return neuron, out

    def pool(self, i: int, p: Pool, srcs: list[str], shape, pad: int) -> tuple[str, tuple]:
        C, H, W = shape
        total = pad + p.padding
        if total:
            srcs = [self.pad(f"pad{i}", srcs, C, total, (H, W))]
            H, W = H + 2 * total, W + 2 * total
        k, s = p.kernel, p.step
        node = self.nir.SumPool2d(
            kernel_size=np.array([k, k]),
            stride=np.array([s, s]),
            padding=np.array([0, 0]),
            metadata={"role": "max-pooling of spikes: SumPool2d, then IF neurons that spike once"},
        )
        pooled = self.add(f"pool{i}", node, srcs)
        out = (C, (H - k) // s + 1, (W - k) // s + 1)
        neurons = self.if_node(out, 0.5, np.full(C, float(k * k)), {"role": "first spike of the window"})
        return self.add(f"pool{i}_if", neurons, [pooled]), out

    def block(self, layer: Parallel, module: nn.Module, srcs: list[str], shape, pad: int):
        """Branches (concatenated, centred) or heads (placed likewise, one integrator)."""
        k_min = min(c.kernel for c in layer.convs)
        C_total = sum(c.out_channels for c in layer.convs)
        placed, offset = [], 0
        out = shape
        for c, conv in zip(layer.convs, module.convs, strict=True):
            node, out_b = self.conv(c, conv, srcs, shape, pad)
            centre = (c.kernel - k_min) // 2
            placed.append(
                self.place(f"{c.name}_place", node, c.out_channels, C_total, offset, centre, out_b[1:])
            )
            self.layers[-1]["channels"] = [offset, offset + c.out_channels]
            offset += c.out_channels
            out = (C_total, out_b[1] + 2 * centre, out_b[2] + 2 * centre)
        if not layer.is_heads:
            return placed, out
        meta = {"layer": layer.name, "role": "the heads' final potentials P[T-1], each at its channels"}
        node = self.add(f"{layer.name}_i", self.integrator(out, meta), placed)
        for entry in self.layers[-len(layer.convs) :]:
            entry["neuron"] = node
        return [node], out


def _check_model(model: Any) -> Network:
    if isinstance(model, Network):
        return model
    if isinstance(model, DiehlCook) or getattr(getattr(model, "spec", None), "family", "conv") != "conv":
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        raise NIRExportError(
            f"fastspike.nir.export: {name!r} is not a first-spike conv network (a Diehl & Cook network: "
            "conductance-based neurons that spike many times, adaptive thresholds, recurrent inhibition "
            "and Poisson inputs); only fastspike.Network models (the conv family: "
            "fastspike.registry.conv_networks()) export to NIR"
        )
    raise TypeError(
        "fastspike.nir.export: model: expected a fastspike.Network (from fastspike.load_model or "
        f"fastspike.build), got {type(model).__name__}"
    )


def export(model: Network, path: str | None = None, *, encoder: bool = True, strict: bool = False):
    """``model``'s inference graph as a ``nir.NIRGraph``, written to ``path`` (``nir.write``,
    HDF5) when given.

    ``encoder``: also write the DoG filtering as the component ``image -> dog -> dog_output``
    (importers built on nirtorch, such as snnTorch's and Norse's, take graphs with one input and
    one output only: pass ``False`` for them). ``strict``: raise :class:`NIRExportError` where
    the graph only approximates the network (Izhikevich neurons, pointwise inhibition at
    inference, the compat k-WTA score) instead of warning. :func:`fastspike.nir.load` reads
    the graph back into the same network.
    """
    nir = require_nir()
    net = _check_model(model)
    spec = net.spec
    b = _Builder(nir)
    shape = tuple(spec.shapes()[0])
    srcs = [b.add("input", nir.Input(input_type={"input": np.array(shape)}), [])]
    pad = 0
    units = dict(zip(net.layer_names, net.spiking_layers, strict=True))
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Pad):
            pad += layer.padding
        elif isinstance(layer, Inhibit):
            if not layer.train_only:
                b.approximations.append(
                    f"layers[{i}]: pointwise inhibition at inference (no NIR primitive) is left out: "
                    "every neuron of the map passes its spike on"
                )
        elif isinstance(layer, Pool):
            node, shape = b.pool(i, layer, srcs, shape, pad)
            srcs, pad = [node], 0
        elif isinstance(layer, Conv):
            node, shape = b.conv(layer, units[layer.name], srcs, shape, pad)
            srcs, pad = [node], 0
        elif isinstance(layer, Parallel):
            srcs, shape = b.block(layer, units[layer.name], srcs, shape, pad)
            pad = 0
        else:  # pragma: no cover (the spec validates its layers)
            raise NIRExportError(f"layers[{i}]: no NIR form for {type(layer).__name__}")
    meta = _readout(b, net, srcs, shape, pad)
    if net.compat and net.is_decision:
        b.approximations.append(
            "compat: the decision's k-WTA ranks by a float32 score (T - t)(P + T Pmax); the graph's "
            "readout, the largest P, may break near-ties otherwise"
        )
    if b.approximations:
        text = "; ".join(b.approximations)
        if strict:
            raise NIRExportError(f"fastspike.nir.export: {spec.name!r} has no exact NIR form: {text}")
        warnings.warn(f"fastspike.nir.export: {spec.name!r}: the graph approximates: {text}", stacklevel=2)
    if encoder:
        _encoder_component(b, spec)
    meta.update(_metadata(b, net))
    graph = nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=meta, type_check=True)
    if path is not None:
        nir.write(path, graph)
    return graph


def _readout(b: _Builder, net: Network, srcs: list[str], shape, pad: int) -> dict:
    """The nodes after the last conv (a linear readout's), the ``output`` node, and the
    readout's metadata."""
    spec, nir = net.spec, b.nir
    readout = spec.readout
    if isinstance(readout, LinearReadout):
        C, H, W = shape
        if pad:
            srcs = [b.pad("pad_end", srcs, C, pad, (H, W))]
            shape = (C, H + 2 * pad, W + 2 * pad)
        flat = b.add(
            "flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1), srcs
        )
        weight = net.readout_weight.detach().to("cpu").float().numpy()
        bias = net.readout_bias.detach().to("cpu").float().numpy()
        affine = nir.Affine(
            weight=np.ascontiguousarray(weight),
            bias=(bias / np.float32(spec.T)).astype(np.float32),
            metadata={"role": "linear readout; the bias is spread over the T steps (b / T per step)"},
        )
        node = b.add("readout", affine, [flat])
        srcs = [b.add("readout_i", b.integrator((spec.n_classes,), {"role": "scores W f + b"}), [node])]
        shape = (spec.n_classes,)
        meta = {
            "readout": "linear",
            "readout_bias": bias,
            "readout_fitted": int(bool(net.readout_fitted)),
            "output_decoding": "class = argmax of the output's value after the last step (the scores "
            "W f + b of the features f = spiked at all); silence (-1) when no input of 'flatten' spiked",
        }
    elif isinstance(readout, VoteReadout):
        heads = [e for e in b.layers if "channels" in e and e["neuron"] == srcs[0]]
        for e in heads:
            e["features_per_class"] = (e["channels"][1] - e["channels"][0]) // spec.n_classes
        meta = {
            "readout": "vote",
            "fallback": readout.fallback,
            "heads": json.dumps(
                [{k: e[k] for k in ("name", "channels", "features_per_class")} for e in heads]
            ),
            "output_decoding": "each head (metadata 'heads': its channels) decides as a decision layer on "
            "its channels of the output's value after the last step; then the majority vote: a class with "
            "at least 2 votes and more than any other wins, else the vote of head 'fallback', else of the "
            "first head that is not silent, else silence (-1)",
        }
    else:
        assert isinstance(readout, DecisionReadout)
        C, H, W = shape
        node = b.add(
            f"{spec.convs[-1].name}_i", b.integrator(shape, {"role": "final potential P[T-1]"}), srcs
        )
        b.layers[-1]["neuron"] = node
        srcs = [node]
        meta = {
            "readout": "decision",
            "features_per_class": C // spec.n_classes,
            "output_decoding": "the output's value after the last step is the decision layer's final "
            "potential P[T-1] [F, H, W]: the winner is the largest P (ties: the lowest flat index "
            "f*H*W + y*W + x), class = f // features_per_class; silence (-1) when no P > 0",
        }
    b.add("output", nir.Output(output_type={"output": np.array(shape)}), srcs)
    return meta


def _encoder_component(b: _Builder, spec) -> None:
    enc, nir = spec.encoder, b.nir
    bank = dog_filters(enc.dog).numpy()
    b.add("image", nir.Input(input_type={"input": np.array([1, *spec.input_size])}), [])
    meta = {
        "role": "the DoG filtering of the encoder, on pixel values 0..255; then (no NIR primitive) values "
        "below 'threshold' become 0, local normalisation (box radius 'norm_radius') and rank-order "
        "coding into T steps give the times of node 'input'",
        "threshold": float(enc.threshold),
        "norm_radius": enc.norm_radius,
    }
    dog = b.add("dog", b.conv2d(bank, enc.padding, spec.input_size, meta), ["image"])
    H, W = enc.output_size(tuple(spec.input_size))
    b.add("dog_output", nir.Output(output_type={"output": np.array([enc.channels, H, W])}), [dog])


def _metadata(b: _Builder, net: Network) -> dict:
    spec, enc = net.spec, net.spec.encoder
    meta = {
        "fastspike_format": FORMAT,
        "fastspike_version": __version__,
        "fastspike_spec": spec.to_json(),
        "name": spec.name,
        "T": spec.T,
        "n_classes": spec.n_classes,
        "compat": int(bool(net.compat)),
        "input_coding": INPUT_CODING,
        "layers": json.dumps(b.layers),
        "approximations": json.dumps(b.approximations),
        "training_only": "k-WTA (k, radius) and pointwise inhibition of the convs (metadata 'layers'), "
        "inhibition layers with train_only, and the learning rules (in 'fastspike_spec') act in "
        "training only: the graph leaves them out, as inference does",
        "dog_bank": np.array(enc.dog, dtype=np.float64),
        "dog_padding": enc.padding,
        "dog_threshold": float(enc.threshold),
        "norm_radius": enc.norm_radius,
        "rank_order_mode": enc.mode,
        "tie_consistent": int(bool(enc.tie_consistent)),
    }
    dataset = getattr(net, "dataset", None)
    if isinstance(dataset, str) and dataset:
        meta["dataset"] = dataset
    return meta
