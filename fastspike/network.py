"""The generic network: runs any :class:`fastspike.spec.NetworkSpec` on first-spike times.

The spec's layer list is compiled once into stages, one per conv (the padding,
pooling and training-time inhibition between the previous conv and this one), plus
a tail after the last conv. Two passes make the list fast without per-network code:

* **fusion**: a pool followed by padding runs as one ``pool_times`` call with
  ``out_padding`` (padding commutes with the pointwise inhibition of a spike map,
  so a pad after an inhibition is fused too);
* **computing only what is used**: going backwards from the layer whose whole
  output is needed, each conv's input is cropped to the rows and columns that
  reach it (floor-mode pooling drops the last rows of a map; cropping a valid
  convolution's input crops its output, so the result is exact).

A decision layer's ``P[T-1]`` is the exactly rounded ``final_potential`` on every
device (see :meth:`SpikingConv.decision_potential`). A conv with Izhikevich neurons
(``Conv.neuron``) runs them on its exactly rounded potentials ``P[t]`` and passes on
their first spikes (:meth:`SpikingConv.izhikevich_forward`); a decision layer of them
decides by its earliest spike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastspike import ops
from fastspike.encoding import Encoder
from fastspike.layers import SpikingConv
from fastspike.neurons import Izhikevich
from fastspike.spec import (
    RSTDP,
    Conv,
    DecisionReadout,
    Inhibit,
    LinearReadout,
    NetworkSpec,
    Pad,
    Parallel,
    Pool,
    VoteReadout,
)

__all__ = ["Network", "ParallelConv", "majority_vote"]


class ParallelConv(nn.Module):
    """A :class:`~fastspike.spec.Parallel` block: convs side by side on one input map.

    Branches (thresholded): :meth:`forward` runs every branch, pads each output with
    "never" to the largest, centred, and concatenates them along channels in order.
    Heads (decision layers): :meth:`Network.decide` runs each head and votes.
    The members are ``self.convs[b]`` (:class:`~fastspike.layers.SpikingConv`).
    """

    def __init__(self, block: Parallel, convs: list[SpikingConv]):
        super().__init__()
        self.name = block.name
        self.names = [c.name for c in block.convs]
        self.convs = nn.ModuleList(convs)
        self.is_heads = block.is_heads
        self.kernel_size = min(c.kernel_size for c in convs)  # the largest output
        self.out_channels = sum(c.out_channels for c in convs)

    @property
    def threshold(self):
        """``None`` for a block of heads (it decides); else the first branch's threshold."""
        return None if self.is_heads else self.convs[0].threshold

    def forward(self, times_in: Tensor, T: int, border: int = 0, values: bool = False) -> tuple[Tensor, None]:
        if self.is_heads:
            raise ValueError(f"block {self.name!r} holds decision heads: use Network.decide")
        outs = [self.centre(conv, conv(times_in, T, values=False)[0], T) for conv in self.convs]
        return torch.cat(outs, dim=1), None

    def centre(self, conv: SpikingConv, x: Tensor, fill: float) -> Tensor:
        """Member ``conv``'s output map ``x`` padded with ``fill`` to the block's largest output, centred."""
        p = (conv.kernel_size - self.kernel_size) // 2
        return F.pad(x, (p,) * 4, value=fill) if p else x


def majority_vote(votes: Tensor, fallback: int, n_classes: int) -> Tensor:
    """Heads' classes ``[B, H]`` (-1 = silent) -> the vote ``[B]`` (:class:`~fastspike.spec.VoteReadout`).

    A class with at least 2 votes and more votes than any other class wins; otherwise the
    vote of head ``fallback``, or, when it is silent, of the first head that is not; -1
    when every head is silent.
    """
    B, H = votes.shape
    counts = torch.zeros(B, n_classes + 1, dtype=torch.int64, device=votes.device)
    counts.scatter_add_(1, votes + 1, torch.ones_like(votes))
    counts = counts[:, 1:]  # silence does not vote
    top, cls = counts.max(1)
    unique = (counts == top.unsqueeze(1)).sum(1) == 1
    speaking = votes >= 0
    first = torch.where(speaking.any(1), speaking.to(torch.int8).argmax(1), 0)
    first_vote = votes.gather(1, first.unsqueeze(1)).squeeze(1)
    fb = votes[:, fallback]
    other = torch.where(fb >= 0, fb, first_vote)
    return torch.where((top >= 2) & unique, cls, other)


class _Op:
    """One compiled step between convs: ``kind`` is "pad", "pool" or "inhibit"."""

    __slots__ = ("kind", "kernel", "stride", "padding", "out_padding", "train_only")

    def __init__(
        self,
        kind: str,
        kernel: int = 0,
        stride: int = 0,
        padding: int = 0,
        out_padding: int = 0,
        train_only: bool = True,
    ):
        self.kind, self.kernel, self.stride, self.padding = kind, kernel, stride, padding
        self.out_padding, self.train_only = out_padding, train_only

    def __repr__(self) -> str:
        if self.kind == "pad":
            return f"pad({self.padding})"
        if self.kind == "pool":
            return f"pool({self.kernel}/{self.stride}, pad {self.padding}, out_pad {self.out_padding})"
        return f"inhibit(train_only={self.train_only})"

    def size(self, n: int) -> int:
        """Output size along one axis for an input of ``n``."""
        if self.kind == "pad":
            return n + 2 * self.padding
        if self.kind == "pool":
            return (n + 2 * self.padding - self.kernel) // self.stride + 1 + 2 * self.out_padding
        return n

    def source_rows(self, u: int, n_in: int) -> int:
        """How many leading input rows (of ``n_in``) the first ``u`` output rows read."""
        if u <= 0:
            return 0
        if self.kind == "pad":
            return min(n_in, max(0, u - self.padding))
        if self.kind == "pool":
            u -= self.out_padding
            if u <= 0:
                return 0
            pooled = (n_in + 2 * self.padding - self.kernel) // self.stride + 1
            u = min(u, pooled)
            return min(n_in, max(0, (u - 1) * self.stride + self.kernel - self.padding))
        return min(n_in, u)


def _compile(layers: list) -> list[_Op]:
    """Pad / Pool / Inhibit specs -> ops, with every pad folded into the pool (or pad)
    before it; pads move in front of inhibitions (they commute: padded cells never fire)."""
    out: list[_Op] = []
    for layer in layers:
        if isinstance(layer, Pad):
            if layer.padding == 0:
                continue
            i = len(out)
            while i > 0 and out[i - 1].kind == "inhibit":
                i -= 1
            if i > 0 and out[i - 1].kind == "pool":
                out[i - 1].out_padding += layer.padding
            elif i > 0 and out[i - 1].kind == "pad":
                out[i - 1].padding += layer.padding
            else:
                out.insert(i, _Op("pad", padding=layer.padding))
        elif isinstance(layer, Pool):
            out.append(_Op("pool", kernel=layer.kernel, stride=layer.step, padding=layer.padding))
        elif isinstance(layer, Inhibit):
            out.append(_Op("inhibit", train_only=layer.train_only))
    return out


class Network(nn.Module):
    """A convolutional STDP network built from a :class:`~fastspike.spec.NetworkSpec`.

    Input: first-spike times ``[B, C, H, W]`` from :attr:`encoder` (uint8, ``T`` =
    never). The convs are :class:`~fastspike.layers.SpikingConv` modules named
    ``conv1``, ``conv2``, ... in layer order (``conv("S2")`` finds one by its spec
    name). Layers below the one being trained run plain ``fire`` (no competition).

    Args:
        spec: the network description.
        compat: reproduce the reference's quirks (float32 k-WTA score, whole-tensor clamp).
        seed: initial weights ``N(mean, std)`` drawn conv after conv from one generator.
    """

    def __init__(self, spec: NetworkSpec, compat: bool = False, seed: int | None = 0):
        super().__init__()
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
        self.spec, self.T, self.n_classes, self.compat = spec, spec.T, spec.n_classes, compat
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        stages: list[list] = [[]]
        self._names: list[str] = []
        self._members: dict[str, tuple[int, int]] = {}  # conv of a block -> (unit, member)

        def make(layer: Conv) -> SpikingConv:
            rule = layer.rule
            lb, ub = (rule.lb, rule.ub) if rule is not None else (-float("inf"), float("inf"))
            n = layer.neuron
            conv = SpikingConv(
                layer.in_channels,
                layer.out_channels,
                layer.kernel,
                threshold=layer.threshold,
                k=layer.k,
                radius=layer.radius,
                lb=lb,
                ub=ub,
                stabilize=rule.stabilize if rule is not None else False,
                weight_mean=layer.weight_mean,
                weight_std=layer.weight_std,
                compat=compat,
                generator=g,
                neuron=None if n is None else Izhikevich(a=n.a, b=n.b, c=n.c, d=n.d, dt=n.dt, n_sub=n.n_sub),
                gain=1.0 if n is None else n.gain,
            )
            conv.pointwise = layer.pointwise
            return conv

        for layer in spec.layers:
            if isinstance(layer, (Conv, Parallel)):
                if isinstance(layer, Conv):
                    unit = make(layer)
                else:
                    unit = ParallelConv(layer, [make(c) for c in layer.convs])
                    for b, c in enumerate(layer.convs):
                        self._members[c.name] = (len(self._names), b)
                self.add_module(f"conv{len(self._names) + 1}", unit)
                self._names.append(layer.name)
                stages.append([])
            else:
                stages[-1].append(layer)
        self._stages = [_compile(s) for s in stages[:-1]]
        self._tail = _compile(stages[-1])
        self._plans: dict = {}
        shape = spec.shapes()[-1]
        self.feature_size = shape[0] * shape[1] * shape[2]
        if isinstance(spec.readout, LinearReadout):
            # the fitted linear readout: scores = features @ weight.T + bias
            self.register_buffer("readout_weight", torch.zeros(spec.n_classes, self.feature_size))
            self.register_buffer("readout_bias", torch.zeros(spec.n_classes))
            self.register_buffer("readout_fitted", torch.zeros((), dtype=torch.bool))
        self._encoder: Encoder | None = None

    # ------------------------------------------------------------------ structure
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def spiking_layers(self) -> list[SpikingConv | ParallelConv]:
        """The convs in layer order (a :class:`~fastspike.spec.Parallel` block is one
        :class:`ParallelConv`)."""
        return [getattr(self, f"conv{i + 1}") for i in range(len(self._names))]

    @property
    def layer_names(self) -> list[str]:
        """The names of :attr:`spiking_layers` (a block's name for a block)."""
        return list(self._names)

    def named_convs(self) -> list[tuple[str, SpikingConv]]:
        """Every conv with its spec name, in layer order, a block's members in block order."""
        out = []
        for name, unit in zip(self._names, self.spiking_layers, strict=True):
            if isinstance(unit, ParallelConv):
                out.extend(zip(unit.names, unit.convs, strict=True))
            else:
                out.append((name, unit))
        return out

    def index(self, layer: int | str) -> int:
        """0-based index in :attr:`spiking_layers` of ``layer`` (its spec name, the name of
        a member of a block, or its 1-based number)."""
        if isinstance(layer, str):
            if layer in self._members:
                return self._members[layer][0]
            if layer not in self._names:
                raise ValueError(f"layer: expected one of {self._names + list(self._members)}, got {layer!r}")
            return self._names.index(layer)
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= len(self._names):
            raise ValueError(
                f"layer: expected a name in {self._names} or 1..{len(self._names)}, got {layer!r}"
            )
        return layer - 1

    def conv(self, layer: int | str) -> SpikingConv | ParallelConv:
        """The conv called ``layer`` (a block's member too), or a whole block by its name."""
        if isinstance(layer, str) and layer in self._members:
            u, b = self._members[layer]
            return self.spiking_layers[u].convs[b]
        return self.spiking_layers[self.index(layer)]

    @property
    def is_decision(self) -> bool:
        """The network decides by itself (a decision layer, or heads voting)."""
        return isinstance(self.spec.readout, (DecisionReadout, VoteReadout))

    @property
    def is_vote(self) -> bool:
        return isinstance(self.spec.readout, VoteReadout)

    @property
    def encoder(self) -> Encoder:
        """The spec's input encoder (uint8 images ``[B, H, W]`` -> times ``[B, C, H, W]``)."""
        if self._encoder is None:
            e = self.spec.encoder
            self._encoder = Encoder(
                specs=e.dog,
                padding=e.padding,
                threshold=e.threshold,
                norm_radius=e.norm_radius,
                T=self.T,
                mode=e.mode,
                tie_consistent=e.tie_consistent,
            )
        return self._encoder

    def extra_repr(self) -> str:
        return f"spec={self.spec.name!r}, T={self.T}, compat={self.compat}"

    # ------------------------------------------------------------------ planning
    def _run_ops(self, ops_: list[_Op], x: Tensor, training: bool, crop: tuple[int, int] | None) -> Tensor:
        T = self.T
        for n, op in enumerate(ops_):
            last = n == len(ops_) - 1
            if op.kind == "pad":
                if last and crop is not None:
                    # pad and crop in one op (a negative pad crops): no second copy
                    p, (H, W) = op.padding, x.shape[-2:]
                    x = F.pad(x, (p, crop[1] - p - W, p, crop[0] - p - H), value=T)
                    crop = None
                else:
                    x = F.pad(x, (op.padding,) * 4, value=T)
            elif op.kind == "pool":
                x = ops.pool_times(x, op.kernel, op.stride, op.padding, T, op.out_padding, validate=False)
            elif training or not op.train_only:
                ones = torch.ones(x.shape, dtype=torch.float32, device=x.device)
                x = ops.pointwise_inhibition(x, ones, T, validate=False)[0]
        if crop is not None and (crop[0] < x.shape[-2] or crop[1] < x.shape[-1]):
            x = x[..., : crop[0], : crop[1]]
        return x

    def _following(self, end: int) -> list[_Op]:
        return self._stages[end] if end < len(self._names) else self._tail

    def _plan(self, start: int, n_in: int, end: int) -> list[int]:
        """Input rows of convs ``start..end-1`` needed for the whole output of the ops after
        conv ``end-1`` (conv ``end``'s input, or the tail's map), given ``n_in`` input rows
        of conv ``start``."""
        key = (start, n_in, end)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        convs = self.spiking_layers
        ins, outs, m = [], [], n_in
        for i in range(start, end):
            if i > start:
                for op in self._stages[i]:
                    m = op.size(m)
            ins.append(m)
            m = m - convs[i].kernel_size + 1
            outs.append(m)
        u = self._back(self._following(end), None, outs[-1])
        plan = [0] * (end - start)
        for i in reversed(range(start, end)):
            u_in = min(ins[i - start], u + convs[i].kernel_size - 1)
            if isinstance(convs[i], ParallelConv):
                u_in = ins[i - start]  # centred branches: read the whole input
            plan[i - start] = u_in
            if i > start:
                u = self._back(self._stages[i], u_in, outs[i - 1 - start])
        self._plans[key] = plan
        return plan

    @staticmethod
    def _back(ops_: list[_Op], u: int | None, n: int) -> int:
        """Rows of an ``n``-row map that the first ``u`` rows after ``ops_`` read (``None`` = all)."""
        sizes = [n]
        for op in ops_:
            sizes.append(op.size(sizes[-1]))
        if u is None:
            u = sizes[-1]
        for op, m in zip(reversed(ops_), reversed(sizes[:-1]), strict=False):
            u = op.source_rows(u, m)
        return u

    def _border(self, i: int) -> int:
        """Rows of padding around conv ``i``'s (uncropped) input: the decision kernel skips them."""
        st = self._stages[i]
        if not st:
            return 0
        op = st[-1]
        return op.padding if op.kind == "pad" else op.out_padding if op.kind == "pool" else 0

    def _run(self, x: Tensor, start: int, end: int, training: bool, first_stage: bool) -> Tensor:
        """Run convs ``start..end-1`` (thresholded, plain fire) from conv ``start``'s input
        (or, with ``first_stage``, from the raw input of stage 0) and return the input of
        conv ``end`` (after the last conv: the tail's map)."""
        convs = self.spiking_layers
        n_conv_in = x.shape[-2:]
        if first_stage:
            for op in self._stages[0]:
                n_conv_in = (op.size(n_conv_in[0]), op.size(n_conv_in[1]))
        if end > start:
            plan_h = self._plan(start, n_conv_in[0], end)
            plan_w = self._plan(start, n_conv_in[1], end)
        for i in range(start, end):
            crop = (plan_h[i - start], plan_w[i - start])
            if i > start or first_stage:
                x = self._run_ops(self._stages[i], x, training, crop)
            elif crop[0] < x.shape[-2] or crop[1] < x.shape[-1]:
                x = x[..., : crop[0], : crop[1]]
            if convs[i].threshold is None:
                raise ValueError(
                    f"layer {self._names[i]!r} is a decision layer: it has no spike map to pass on"
                )
            x = convs[i](x, self.T, values=False)[0]
        return self._run_ops(self._following(end), x, training, None)

    # ------------------------------------------------------------------ forward
    def _check_times(self, times: Tensor) -> None:
        C = self.spec.encoder.channels
        if not isinstance(times, Tensor):
            raise TypeError(
                f"times: expected encoded input [B, {C}, H, W] (a tensor), got {type(times).__name__}"
            )
        H, W = self.spec.encoder.output_size(tuple(self.spec.input_size))
        if times.dim() != 4 or times.shape[1] != C:
            raise ValueError(f"times: expected encoded input [B, {C}, {H}, {W}], got {tuple(times.shape)}")
        if tuple(times.shape[2:]) != (H, W):
            raise ValueError(
                f"times: {self.spec.name!r} is built for {self.spec.input_size[0]}x{self.spec.input_size[1]} "
                f"images (encoded [B, {C}, {H}, {W}]), got encoded input {tuple(times.shape)}; build it for "
                "this size with spec.replace(input_size=(H, W))"
            )
        if times.dtype != ops.times_dtype(self.T):
            raise TypeError(f"times: expected {ops.times_dtype(self.T)} first-spike times, got {times.dtype}")

    @torch.no_grad()
    def layer_input(self, layer: int | str, times: Tensor, training: bool = False) -> Tensor:
        """Padded input ``[B, C, Hp, Wp]`` of conv ``layer`` for encoded input ``times``.

        Lower layers run plain ``fire``; ``training`` applies the training-only
        inhibitions (as while ``layer`` trains). Only what reaches ``layer`` is computed.
        """
        j = self.index(layer)
        self._check_times(times)
        if j == 0:
            return self._run_ops(self._stages[0], times, training, None)
        return self._run(times, 0, j, training, first_stage=True)

    @torch.no_grad()
    def next_input(self, layer: int | str, x: Tensor, training: bool = False) -> Tensor:
        """Conv ``layer``'s padded input -> the next conv's padded input (or, after the last
        conv, the final map). Only what the next conv reads is computed."""
        i = self.index(layer)
        return self._run(x, i, i + 1, training, first_stage=False)

    @torch.no_grad()
    def next_inputs(self, start: int, end: int, x: Tensor, training: bool = False) -> Tensor:
        """Conv ``start``'s padded input (0-based) -> conv ``end``'s padded input (``end > start``)."""
        return self._run(x, start, end, training, first_stage=False)

    @torch.no_grad()
    def decision_input(self, layer: int | str, spikes: Tensor) -> Tensor:
        """Conv ``layer``'s output spikes -> the decision layer's padded input (training mode:
        the inhibitions between them apply), e.g. for a layer rewarded jointly with it."""
        i, d = self.index(layer), len(self._names) - 1
        x = self._run_ops(self._following(i + 1), spikes, True, None)
        if d > i + 1:
            x = self._run(x, i + 1, d, True, first_stage=False)
        return x

    @torch.no_grad()
    def output_map(self, times: Tensor) -> Tensor:
        """The final first-spike map (after the last conv and its pooling), eval mode."""
        self._check_times(times)
        n = len(self._names)
        if self.spiking_layers[-1].threshold is None:
            raise ValueError("output_map: this network ends in a decision layer; use decide() or forward()")
        return self._run(times, 0, n, False, first_stage=True)

    @torch.no_grad()
    def features(self, times: Tensor) -> Tensor:
        """Whether each neuron of the final map spiked at all: ``[B, N]`` uint8 0/1,
        flattened in (c, y, x) order (the linear readout's input)."""
        return self.features_of(self.output_map(times))

    def features_of(self, out_map: Tensor) -> Tensor:
        """:meth:`features` from an already computed :meth:`output_map`."""
        return (out_map < self.T).flatten(1).to(torch.uint8)

    @torch.no_grad()
    def decide(self, x_last: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decision from the decision layer's padded input.

        Returns ``(classes [B] int64 (-1 = silence), winners [B, k, 3], times [B, F, H, W])``;
        for a vote network the classes are the vote and ``winners`` and ``times`` are lists,
        one entry per head (:meth:`decide_heads`).
        """
        if not self.is_decision:
            raise ValueError(f"decide: {self.spec.name!r} has a linear readout, not a decision layer")
        if self.is_vote:
            classes, winners, times, _ = self.decide_heads(x_last)
            return classes, winners, times
        times, values = self.spiking_layers[-1](x_last, self.T, border=self._border(len(self._names) - 1))
        return (*self.decide_from(times, values), times)

    @torch.no_grad()
    def decide_heads(self, x_last: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor], Tensor]:
        """The heads of a vote network on their (shared) padded input.

        Returns ``(vote [B], winners per head [B, k, 3], times per head [B, F, H, W],
        classes per head [B, H])`` (-1 = silence).
        """
        block = self.spiking_layers[-1]
        border = self._border(len(self._names) - 1)
        winners, times, votes = [], [], []
        for conv in block.convs:
            t, v = conv(x_last, self.T, border=border)
            w = conv.winners(t, v, self.T, pointwise=False)
            f = w[:, 0, 0].long()
            per_class = conv.out_channels // self.n_classes
            votes.append(torch.where(f >= 0, torch.div(f, per_class, rounding_mode="floor"), -1))
            winners.append(w)
            times.append(t)
        votes_t = torch.stack(votes, 1)
        fallback = block.names.index(self.spec.readout.fallback)
        return majority_vote(votes_t, fallback, self.n_classes), winners, times, votes_t

    @torch.no_grad()
    def decide_from(self, times: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """The decision layer's output ``(times, values = P[T-1])`` ``[B, F, H, W]`` (an
        Izhikevich decision layer: its first spikes and ``P`` there) ->
        ``(classes [B] int64 (-1 = silence), winners [B, k, 3])``."""
        conv = self.spiking_layers[-1]
        winners = conv.winners(times, values, self.T, pointwise=False)
        f = winners[:, 0, 0].long()
        per_class = conv.out_channels // self.n_classes
        classes = torch.where(f >= 0, torch.div(f, per_class, rounding_mode="floor"), -1)
        return classes, winners

    @torch.no_grad()
    def layer_outputs(self, times: Tensor) -> list[tuple[Tensor, Tensor | None]]:
        """Every conv's whole output map for encoded input ``times``, in one pass (eval mode,
        nothing cropped): ``(times [B, F, H, W], values)`` per conv, where ``values`` is the
        decision layer's ``P[T-1]`` and ``None`` for thresholded convs."""
        self._check_times(times)
        x = self._run_ops(self._stages[0], times, False, None)
        out = []
        for i, conv in enumerate(self.spiking_layers):
            if isinstance(conv, ParallelConv) and conv.is_heads:
                # every head's map, centred in the largest and concatenated like branches
                ts, vs = [], []
                for head in conv.convs:
                    t, v = head(x, self.T, border=self._border(i))
                    ts.append(conv.centre(head, t, self.T))
                    vs.append(conv.centre(head, v, 0.0))
                out.append((torch.cat(ts, 1), torch.cat(vs, 1)))
                break
            if conv.threshold is None:
                out.append(conv(x, self.T, border=self._border(i)))
                break
            t = conv(x, self.T, values=False)[0]
            out.append((t, None))
            x = self._run_ops(self._following(i + 1), t, False, None)
        return out

    @torch.no_grad()
    def classify_features(self, feats: Tensor) -> Tensor:
        """Linear readout of features ``[B, N]`` -> classes ``[B]`` (-1 where no neuron spiked)."""
        if not bool(self.readout_fitted):
            raise RuntimeError("the linear readout is not fitted yet: train the 'readout' phase first")
        scores = feats.to(self.readout_weight.dtype) @ self.readout_weight.T + self.readout_bias
        classes = scores.argmax(1)
        return torch.where((feats > 0).any(1), classes, -1)

    @torch.no_grad()
    def forward(self, times: Tensor) -> Tensor:
        """Encoded input ``[B, C, H, W]`` -> classes ``[B]`` int64 (-1 = silence)."""
        if self.is_decision:
            return self.decide(self.layer_input(len(self._names), times))[0]
        return self.classify_features(self.features(times))

    # ------------------------------------------------------------------ training helpers
    def layer_spec(self, layer: int | str) -> Conv | Parallel:
        """The spec of the conv (or block) ``layer``."""
        name = layer if isinstance(layer, str) and layer in self._members else self._names[self.index(layer)]
        for c in self.spec.convs:
            if c.name == name:
                return c
        return self.spec.units[self.index(layer)]

    def rule(self, layer: int | str):
        """The learning rule spec of ``layer`` (``None`` for a block)."""
        s = self.layer_spec(layer)
        return s.rule if isinstance(s, Conv) else None

    def is_rstdp(self, layer: int | str) -> bool:
        return isinstance(self.rule(layer), RSTDP)
