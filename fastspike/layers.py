"""Reusable spiking layers on first-spike times (docs/reference/semantics.md).

Every layer consumes and produces first-spike maps ``[B, C, H, W]`` (uint8,
``T`` = never) and is built on the compiled ``torch.ops.fastspike`` operators.
Weights are buffers, not parameters: nothing here is trained by autograd.
A :class:`SpikingConv` runs integrate-and-fire neurons, or Izhikevich neurons
driven by its potential (``neuron``); both pass on first-spike times.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastspike import ops
from fastspike.neurons import Izhikevich, izhikevich
from fastspike.ops.final_potential import FinalPotentialCache

__all__ = ["Pad", "Pool", "SpikingConv", "pad_times", "pool_times"]


def pad_times(times: Tensor, padding: int, T: int) -> Tensor:
    """Pad the last two dims with "never" (``T``): padded cells never spike."""
    if padding < 0:
        raise ValueError(f"padding: expected >= 0, got {padding}")
    return F.pad(times, (padding,) * 4, value=T) if padding else times


def pool_times(
    times: Tensor, kernel: int, stride: int | None = None, padding: int = 0, T: int = 15, out_padding: int = 0
) -> Tensor:
    """Max-pooling of a spike wave = min-pooling of its first-spike times.

    Padded cells count as never; output size ``floor((H + 2p - k) / s) + 1``,
    then ``out_padding`` rows/columns of never around it (the next layer's
    padding, fused). Runs as the compiled ``fastspike::pool_times`` operator.
    """
    stride = kernel if stride is None else stride
    return ops.pool_times(times, kernel, stride, padding, T, out_padding, validate=False)


class Pad(nn.Module):
    def __init__(self, padding: int):
        super().__init__()
        self.padding = padding

    def forward(self, times: Tensor, T: int) -> Tensor:
        return pad_times(times, self.padding, T)

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


class Pool(nn.Module):
    """Max-pooling on first-spike times (floor mode), optionally followed by
    ``out_padding`` rows/columns of never (the next layer's padding)."""

    def __init__(self, kernel: int, stride: int | None = None, padding: int = 0, out_padding: int = 0):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, (kernel if stride is None else stride), padding
        self.out_padding = out_padding

    def forward(self, times: Tensor, T: int) -> Tensor:
        return pool_times(times, self.kernel, self.stride, self.padding, T, self.out_padding)

    def extra_repr(self) -> str:
        return (
            f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
            f"out_padding={self.out_padding}"
        )


class SpikingConv(nn.Module):
    """Non-leaky integrate-and-fire convolution with STDP (docs/reference/semantics.md#stdp).

    Args:
        in_channels, out_channels, kernel_size: convolution geometry (stride 1,
            no implicit padding: use :class:`Pad`).
        threshold: fire where ``P[t] > threshold``; ``None`` for a decision
            layer that spikes at ``T-1`` where ``P[T-1] > 0``.
        k, radius: k-WTA winners and lateral-inhibition radius used in training.
        lb, ub: weight bounds of the learning rule.
        stabilize: multiply the rate by ``(W - lb)(ub - W)``.
        weight_mean, weight_std: initial weights ``N(mean, std)``.
        compat: reproduce the reference's quirks (float32 k-WTA score,
            whole-tensor clamp on every update); default clean.
        generator: RNG for the initial weights.
        neuron, gain: Izhikevich neurons (:class:`fastspike.neurons.Izhikevich`) instead
            of integrate-and-fire, driven by ``I[t] = gain * max(P[t] - threshold, 0)``
            (``threshold`` ``None``: 0); see :meth:`izhikevich_forward`.
    """

    #: at most this many neuron-steps (``B * T * F * H * W``) per chunk of an Izhikevich
    #: forward pass (its potentials, currents and spikes are ``[B, T, F, H, W]``)
    izhikevich_chunk = 1 << 24

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        threshold: float | None,
        k: int = 1,
        radius: int = 0,
        lb: float = 0.0,
        ub: float = 1.0,
        stabilize: bool = True,
        weight_mean: float = 0.8,
        weight_std: float = 0.05,
        compat: bool = False,
        generator: torch.Generator | None = None,
        neuron: Izhikevich | None = None,
        gain: float = 1.0,
    ):
        super().__init__()
        if threshold is not None and threshold < 0:
            raise ValueError(f"threshold: expected >= 0 or None, got {threshold}")
        if k < 1:
            raise ValueError(f"k: expected >= 1, got {k}")
        if radius < 0:
            raise ValueError(f"radius: expected >= 0, got {radius}")
        if lb > ub:
            raise ValueError(f"lb, ub: expected lb <= ub, got {lb} > {ub}")
        if neuron is not None and not isinstance(neuron, Izhikevich):
            raise TypeError(
                f"neuron: expected a fastspike.neurons.Izhikevich or None, got {type(neuron).__name__}"
            )
        if not (isinstance(gain, (int, float)) and not isinstance(gain, bool) and 0 < gain < float("inf")):
            raise ValueError(f"gain: expected a positive finite number, got {gain!r}")
        self.neuron, self.gain = neuron, float(gain)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.threshold, self.k, self.radius = threshold, k, radius
        self.lb, self.ub, self.stabilize, self.compat = lb, ub, stabilize, compat
        w = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        w.normal_(weight_mean, weight_std, generator=generator)
        if not compat:
            # clean: clamp once when the rule is attached (docs/reference/semantics.md#stdp-clamp)
            w.clamp_(lb, ub)
        self.register_buffer("weight", w)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"threshold={self.threshold}, k={self.k}, radius={self.radius}, "
            f"bounds=({self.lb}, {self.ub}), stabilize={self.stabilize}, compat={self.compat}"
            + ("" if self.neuron is None else f", neuron={self.neuron}, gain={self.gain}")
        )

    def forward(
        self, times_in: Tensor, T: int, border: int = 0, values: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """Padded input times ``[B, C, Hp, Wp]`` -> output ``(times, values)`` ``[B, F, H, W]``.

        ``border``: how many outer rows/columns of ``times_in`` are padding (never
        fire); the CPU path of a decision layer then skips them.
        ``values=False``: only the times are needed (inference through a
        thresholded layer); ``values`` is then ``None``.
        """
        if self.neuron is not None:
            return self.izhikevich_forward(times_in, T, border, values)
        if self.threshold is None:
            p = self.decision_potential(times_in, T, border)
            # fires at T - 1 iff P[T-1] > 0 (else never: T); the value is P, which is
            # >= 0 (final_potential rejects negative weights), so 0 where silent
            times = (p <= 0).to(times_in.dtype).add_(T - 1)
            return times, p
        times, v, _ = ops.conv_fire(
            times_in, self.weight, T, self.threshold, validate=False, return_values=values
        )
        return times, v

    def potentials(self, times_in: Tensor, T: int, border: int = 0) -> Tensor:
        """``P[t]`` at every step ``[B, T, F, H, W]`` float32, each exactly rounded as
        :meth:`decision_potential` rounds ``P[T-1]`` (``P[t]`` is the final potential of the
        inputs that fire by ``t``): one definition on every device, batch and CPU."""
        B, C, Hp, Wp = times_in.shape
        steps = torch.arange(T, device=times_in.device, dtype=times_in.dtype).view(1, T, 1, 1, 1)
        # sample (b, t): the inputs that fire by t fire (at 0), the others never (T)
        later = torch.gt(times_in.unsqueeze(1), steps)  # [B, T, C, Hp, Wp] bool
        by_t = (later.view(torch.uint8) if times_in.dtype == torch.uint8 else later.to(times_in.dtype)).mul_(
            T
        )
        by_t = by_t.view(B * T, C, Hp, Wp)
        p = self.decision_potential(by_t, T, border)
        return p.view(B, T, *p.shape[1:])

    @torch.no_grad()
    def izhikevich_forward(
        self, times_in: Tensor, T: int, border: int = 0, values: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """An Izhikevich layer (docs/reference/semantics.md#izhikevich-conv): ``(times, values)``
        ``[B, F, H, W]``.

        The neurons start at rest (``v = c``, ``u = b c``) and run the ``T`` steps of the
        current ``I[t] = gain * max(P[t] - threshold, 0)`` (float32, in that order of
        operations; a decision layer's threshold counts as 0), with ``P`` from
        :meth:`potentials`, in one fused :func:`fastspike.neurons.izhikevich` call. A
        neuron's time is its first spike at a step where its current is positive (``T`` =
        never; spikes of a neuron no current has reached yet, which some parameters give,
        do not count); its value is ``P`` at that step (0 if never), which breaks the
        k-WTA's ties between equal times. Batches are cut in chunks of at most
        :attr:`izhikevich_chunk` neuron-steps (the result does not depend on it).
        """
        B = times_in.shape[0]
        kh, kw = self.weight.shape[2:]
        H, W = times_in.shape[2] - kh + 1, times_in.shape[3] - kw + 1
        per_sample = max(1, T * self.out_channels * H * W)
        step = max(1, self.izhikevich_chunk // per_sample)
        if B > step:
            parts = [
                self.izhikevich_forward(times_in[s : s + step], T, border, values) for s in range(0, B, step)
            ]
            return torch.cat([t for t, _ in parts]), (torch.cat([v for _, v in parts]) if values else None)
        p = self.potentials(times_in, T, border)  # [B, T, F, H, W]
        theta = 0.0 if self.threshold is None else float(self.threshold)
        # I = gain * max(P - theta, 0); P >= 0, so theta = 0 leaves P, and gain 1 leaves it too
        current = p.sub(theta).clamp_min_(0.0) if theta != 0.0 else p.clone()
        if self.gain != 1.0:
            current.mul_(self.gain)
        spikes = izhikevich(current, self.neuron, validate=False).spikes  # [B, T, F, H, W] uint8
        # the first spike: T - tau is the largest (T - t) over the steps t that spike (0: never)
        rev = torch.arange(T, 0, -1, device=p.device).to(torch.uint8).view(1, T, *[1] * (p.dim() - 2))
        first = spikes.mul_(rev).amax(1)
        tau = first.neg().add_(T).long()  # [B, F, H, W]
        at = tau.clamp(max=T - 1).unsqueeze(1)
        fired = first > 0
        undriven = fired & (current.gather(1, at).squeeze(1) <= 0)
        if bool(undriven.any()):
            # a spike before any current reached the neuron (only parameters that spike at rest
            # give one): the first spike is the first at a step with current (the current never
            # decreases, so it comes after); rare, so recomputed here for the whole chunk
            first = spikes.mul_(current > 0).amax(1)
            tau = first.neg().add_(T).long()
            at = tau.clamp(max=T - 1).unsqueeze(1)
            fired = first > 0
        times = tau.to(times_in.dtype)
        if not values:
            return times, None
        return times, p.gather(1, at).squeeze(1).masked_fill_(~fired, 0.0)

    def decision_potential(self, times_in: Tensor, T: int, border: int = 0) -> Tensor:
        """``P[T-1]`` of a decision layer: the float64 sum of the weights of every input
        that fires at all, rounded once to float32 (subnormal weights count as 0). One
        definition on every device, batch and CPU: for weights in a few binades (the
        R-STDP bounds [0.2, 0.8]) the float64 sums are exact, so the result is the
        correctly rounded exact sum whatever the order of the additions.

        On CPU the event-driven :func:`fastspike.ops.final_potential` (the inputs that
        fire, or the complement when most fire); on other devices its float64
        convolution. (A dense float32 convolution would be faster on CPU for trained
        networks, where about a third of the inputs fire, but its order of additions is
        the library's and the machine's: its last bits differ by device and CPU.)
        """
        p, _ = self._final_potential_cache()(times_in, T, border)
        return p

    def _final_potential_cache(self) -> FinalPotentialCache:
        """The :class:`~fastspike.ops.final_potential.FinalPotentialCache` of the weight
        tensor: its kernel layout and tap sums on the CPU, kept while the weight does not
        change (a new one when the buffer was replaced, e.g. by ``.to()``)."""
        cache = getattr(self, "_fp_cache", None)
        if cache is None or cache.weight is not self.weight:
            cache = self._fp_cache = FinalPotentialCache(self.weight)
        return cache

    def winners(self, times: Tensor, values: Tensor, T: int, pointwise: bool = True) -> Tensor:
        """Training-time competition: pointwise inhibition then k-WTA -> ``[B, k, 3]``."""
        if pointwise:
            times, values = ops.pointwise_inhibition(times, values, T, validate=False)
        return ops.kwta(times, values, T, self.k, self.radius, self.compat, validate=False)

    @torch.no_grad()
    def stdp(
        self,
        times_in: Tensor,
        times_out: Tensor,
        winners: Tensor,
        lr: Tensor,
        T: int,
        rule: tuple[bool, float, float] | None = None,
    ) -> None:
        """Apply the batched (R-)STDP update in sample order; ``lr`` is ``[B, 2]`` or ``[B, F, 2]``.

        ``rule``: ``(stabilize, lb, ub)`` of another rule than the layer's own (a thresholded
        layer rewarded by its ``reward_rule``)."""
        stabilize, lb, ub = (self.stabilize, self.lb, self.ub) if rule is None else rule
        lr = lr.to(self.weight.device, torch.float32)
        kw = dict(stabilize=stabilize, lb=lb, ub=ub, clamp_all=self.compat, validate=False)
        cache = getattr(self, "_fp_cache", None)
        if cache is not None and cache.weight is self.weight:
            # the decision path's kept weight layout and tap sums follow the update
            # (patched for the winners' features, not rebuilt, where they can be)
            cache.stdp_update(times_in, times_out, winners, lr, T, **kw)
        else:
            ops.stdp_update(self.weight, times_in, times_out, winners, lr, T, **kw)
