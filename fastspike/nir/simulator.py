"""Run a NIR graph as NIR's equations say, in discrete time (:func:`simulate`, :func:`predict`).

This is what a NIR backend that implements the primitives as written computes, with one step
of the network per NIR time unit (``dt = 1``, forward Euler): every node passes its input on
in the same step, a node's input is the sum of what its edges bring, ``nir.IF`` and ``nir.I``
integrate ``v += r * x`` (``IF`` spikes where ``v > v_threshold`` and sets ``v = v_reset``
there), and everything runs in float32. It lets fastspike check its own graphs against the
network (docs/guides/nir.md: the agreement) without a third-party simulator; it runs the
primitives :func:`fastspike.nir.export` writes (and ``AvgPool2d``, ``Linear``, ``Scale``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.network import majority_vote
from fastspike.nir.common import NIRExportError, meta_int, meta_json, meta_str, require_nir
from fastspike.nir.reader import read_graph

__all__ = ["predict", "simulate"]


def _pair(v: Any) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _order(graph, start: str) -> list[str]:
    """The nodes reachable from ``start``, each after every node that feeds it."""
    reach, todo = {start}, [start]
    while todo:
        n = todo.pop()
        for a, b in graph.edges:
            if a == n and b not in reach:
                reach.add(b)
                todo.append(b)
    preds = {n: {a for a, b in graph.edges if b == n and a in reach} for n in reach}
    order, done = [], set()
    while len(order) < len(reach):
        ready = [n for n in graph.nodes if n in reach and n not in done and preds[n] <= done]
        if not ready:
            raise NIRExportError("fastspike.nir.simulate: the graph has a cycle (not supported)")
        order.extend(ready)
        done.update(ready)
    return order


class _Runner:
    def __init__(self, nir, graph, device: torch.device):
        self.nir, self.graph, self.device = nir, graph, device
        self.params: dict[str, dict[str, Tensor]] = {}

    def tensor(self, name: str, key: str, value) -> Tensor:
        p = self.params.setdefault(name, {})
        if key not in p:
            p[key] = torch.as_tensor(np.asarray(value, dtype=np.float32), device=self.device)
        return p[key]

    def step(self, name: str, node, x: Tensor, state: dict[str, Tensor]) -> Tensor:
        nir = self.nir
        if isinstance(node, nir.Output):
            return x
        if isinstance(node, nir.Conv2d):
            pad = node.padding if isinstance(node.padding, str) else _pair(node.padding)
            return F.conv2d(
                x,
                self.tensor(name, "weight", node.weight),
                self.tensor(name, "bias", node.bias),
                stride=_pair(node.stride),
                padding=pad,
                dilation=_pair(node.dilation),
                groups=int(node.groups),
            )
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            ph, pw = _pair(node.padding)
            if ph or pw:
                x = F.pad(x, (pw, pw, ph, ph))
            kw = {"divisor_override": 1} if isinstance(node, nir.SumPool2d) else {}
            return F.avg_pool2d(x, _pair(node.kernel_size), _pair(node.stride), **kw)
        if isinstance(node, (nir.IF, nir.I)):
            v = state.get(name)
            v = x * self.tensor(name, "r", node.r) if v is None else v + x * self.tensor(name, "r", node.r)
            if isinstance(node, nir.I):
                state[name] = v
                return v
            z = v > self.tensor(name, "v_threshold", node.v_threshold)
            state[name] = torch.where(z, self.tensor(name, "v_reset", node.v_reset), v)
            return z.to(torch.float32)
        if isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)  # NIR's dims leave out the batch
            start, end = (start + 1 if start >= 0 else start), (end + 1 if end >= 0 else end)
            return x.flatten(start, end)
        if isinstance(node, (nir.Affine, nir.Linear)):
            y = x @ self.tensor(name, "weight", node.weight).T
            return y + self.tensor(name, "bias", node.bias) if isinstance(node, nir.Affine) else y
        if isinstance(node, nir.Scale):
            return x * self.tensor(name, "scale", node.scale)
        raise NIRExportError(f"fastspike.nir.simulate: node {name!r}: {type(node).__name__} is not supported")


@torch.no_grad()
def simulate(
    graph: Any,
    times: Tensor,
    *,
    T: int | None = None,
    record: tuple[str, ...] = (),
    first_spikes: tuple[str, ...] = (),
) -> dict[str, Tensor]:
    """Run ``graph`` (or its file) on first-spike times ``[B, C, H, W]`` (``T`` = never) fed to
    its node ``input``, for ``T`` steps (default: its metadata's).

    Returns ``{"output": the output node's value at the last step}``, and for each name in
    ``record`` the sum over the steps of node ``name``'s output (a spiking node's spike counts),
    for each name in ``first_spikes`` (as ``"name:first"``) the step of each of its neurons'
    first spike (int64, ``T`` = never).
    """
    nir = require_nir()
    graph = read_graph(graph)
    T = meta_int(graph.metadata or {}, "T") if T is None else int(T)
    if "input" not in graph.nodes:
        raise NIRExportError("fastspike.nir.simulate: the graph has no node 'input'")
    order = _order(graph, "input")
    outputs = [n for n in order if isinstance(graph.nodes[n], nir.Output)]
    if len(outputs) != 1:
        raise NIRExportError(f"fastspike.nir.simulate: expected one output node after 'input', got {outputs}")
    missing = [n for n in (*record, *first_spikes) if n not in order]
    if missing:
        raise NIRExportError(f"fastspike.nir.simulate: record: no node {missing[0]!r} after 'input'")
    preds = {n: [a for a, b in graph.edges if b == n and a in order] for n in order}
    runner = _Runner(nir, graph, times.device)
    state: dict[str, Tensor] = {}
    counts: dict[str, Tensor] = {}
    firsts: dict[str, Tensor] = {}
    times = times.to(torch.int32)
    out: dict[str, Tensor] = {}
    for t in range(T):
        out = {"input": (times == t).to(torch.float32)}
        for name in order[1:]:
            x = out[preds[name][0]]
            for p in preds[name][1:]:
                x = x + out[p]
            out[name] = runner.step(name, graph.nodes[name], x, state)
        for name in record:
            counts[name] = out[name] if name not in counts else counts[name] + out[name]
        for name in first_spikes:
            first = firsts.get(name)
            if first is None:
                first = firsts[name] = torch.full(out[name].shape, T, dtype=torch.int64, device=times.device)
            first.masked_fill_((first == T) & (out[name] != 0), t)
    return {"output": out[outputs[0]], **counts, **{f"{n}:first": v for n, v in firsts.items()}}


def _decide(potentials: Tensor, per_class: int) -> Tensor:
    """Final potentials ``[B, F, H, W]`` -> classes ``[B]``: the largest (the lowest flat index
    among equals), ``f // per_class``; -1 where none is positive."""
    flat = potentials.flatten(1)
    best = flat.argmax(1)
    f = torch.div(best, potentials.shape[2] * potentials.shape[3], rounding_mode="floor")
    positive = flat.gather(1, best.unsqueeze(1)).squeeze(1) > 0
    return torch.where(positive, torch.div(f, per_class, rounding_mode="floor"), -1)


@torch.no_grad()
def predict(graph: Any, times: Tensor, *, batch_size: int = 250) -> Tensor:
    """Classes ``[B]`` (-1 = silence) of a graph :func:`fastspike.nir.export` wrote, run by
    :func:`simulate` on encoded input ``times``, decoded as its metadata
    ``output_decoding`` says."""
    graph = read_graph(graph)
    meta = graph.metadata or {}
    kind = meta_str(meta, "readout")
    record = ("flatten",) if kind == "linear" else ()
    parts = []
    for s in range(0, times.shape[0], batch_size):
        res = simulate(graph, times[s : s + batch_size], record=record)
        out = res["output"]
        if kind == "decision":
            parts.append(_decide(out, meta_int(meta, "features_per_class")))
        elif kind == "vote":
            heads = meta_json(meta, "heads")
            votes = torch.stack(
                [
                    _decide(out[:, h["channels"][0] : h["channels"][1]], h["features_per_class"])
                    for h in heads
                ],
                1,
            )
            fallback = [h["name"] for h in heads].index(meta_str(meta, "fallback"))
            parts.append(majority_vote(votes, fallback, meta_int(meta, "n_classes")))
        elif kind == "linear":
            spiked = res["flatten"].flatten(1).sum(1) > 0
            parts.append(torch.where(spiked, out.argmax(1), -1))
        else:
            raise NIRExportError(f"fastspike.nir.predict: unknown readout {kind!r} in the metadata")
    if not parts:
        return torch.empty(0, dtype=torch.int64, device=times.device)
    return torch.cat(parts)
