"""The reference of every operator on spike waves (docs/reference/semantics.md).

Each operator works on a whole wave (float32 ``[T, C, H, W]``, ``S[t] = 1`` from the first
spike on) the way the classic simulators do: the integrate-and-fire convolution is one
``F.conv2d`` with time as its batch (:func:`conv_potentials`); fire (:func:`fire`), first spikes
(:func:`first_spike`), pointwise inhibition (:func:`pointwise_inhibition`) and pooling
(:func:`pool`) act on every time step and position at once; k-winners-take-all
(:func:`get_k_winners`) ranks all candidates once, then walks that ranking (the only Python
loop); STDP (:func:`stdp`) updates every winner's feature in one elementwise computation.
:func:`izhikevich_conv` is a conv of Izhikevich neurons (:mod:`fastspike.reference.neurons`).

:func:`f32` (float32 rounding of a Python float) and the winner type ``Winner`` are shared by
the networks of this package.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.reference.encoding import times_to_wave
from fastspike.reference.neurons import izhikevich_reference

__all__ = [
    "Winner",
    "conv_potentials",
    "f32",
    "fire",
    "fire_in_place",
    "fire_spikes",
    "first_spike",
    "get_k_winners",
    "izhikevich_conv",
    "pad",
    "pointwise_inhibition",
    "pool",
    "stdp",
]

Winner = tuple[int, int, int]  # (feature, row, col)


def f32(x: float) -> float:
    """Round a Python float to the nearest float32 value (returned as a Python float)."""
    return torch.tensor(x, dtype=torch.float32).item()


def pad(wave: Tensor, p: int) -> Tensor:
    """Zero-pad the last two dims by ``p`` on every side: padded cells never spike.

    ``[T, C, H, W]`` -> ``[T, C, H + 2p, W + 2p]``.
    """
    return F.pad(wave, (p, p, p, p))


def conv_potentials(wave: Tensor, weight: Tensor) -> Tensor:
    """Integrate-and-fire potentials ``P[t] = W (*) S[t]`` (docs/reference/semantics.md#if-convolution).

    Stride 1, no bias, no implicit padding; the T time steps go through one ``conv2d`` as its
    batch.

    Args:
        wave: ``[T, C, Hp, Wp]`` float32 (already padded).
        weight: ``[F, C, kh, kw]`` float32.

    Returns:
        ``[T, F, Hp - kh + 1, Wp - kw + 1]`` float32.
    """
    return F.conv2d(wave, weight)


def fire(potentials: Tensor, threshold: float | None) -> tuple[Tensor, Tensor]:
    """Threshold potentials (docs/reference/semantics.md#fire).

    With a threshold: ``P~[t] = P[t]`` where ``P[t] > threshold`` (strict), else 0. With
    ``threshold=None``: every step but the last is zeroed and ``P~[T-1] = P[T-1]``, so a neuron
    spikes only at ``T-1`` and only if ``P[T-1] > 0`` (that wave is not cumulative).

    Each output is one float32 elementwise pass over the wave, as a float32 simulator computes
    it (``F.threshold`` is exactly "keep ``x`` where ``x > threshold``, else the value"): with a
    threshold ``P~ >= 0``, so the spikes ``[P~ > 0]`` are its sign.

    Args:
        potentials: ``[T, ...]`` float32 (finite).
        threshold: ``>= 0``, or ``None``.

    Returns:
        ``(spikes, thresholded)``: float32 0/1 spikes ``[T, ...]`` and ``P~`` ``[T, ...]``.
    """
    if threshold is None:
        thresholded = torch.zeros_like(potentials)
        thresholded[-1] = potentials[-1]
        spikes = torch.zeros_like(potentials)
        spikes[-1] = (potentials[-1] > 0).to(torch.float32)
        return spikes, thresholded
    thresholded = F.threshold(potentials, _checked(threshold), 0.0)
    return thresholded.sign(), thresholded


def _checked(threshold: float) -> float:
    if threshold < 0:
        raise ValueError(f"threshold: expected a value >= 0 or None, got {threshold}")
    return threshold


def fire_in_place(potentials: Tensor, threshold: float | None) -> Tensor:
    """``fire(potentials, threshold)[1]`` (``P~``), made in place in a layer's fresh potentials
    that nothing else reads (no second ``[T, ...]`` tensor)."""
    if threshold is None:
        potentials[:-1] = 0
        return potentials
    return F.threshold_(potentials, _checked(threshold), 0.0)


def fire_spikes(potentials: Tensor, threshold: float | None) -> Tensor:
    """``fire(potentials, threshold)[0]`` for a layer whose ``P~`` nobody reads (one that does not
    learn now), made in place in its fresh potentials."""
    if threshold is None:
        return fire(potentials, None)[0]
    return fire_in_place(potentials, threshold).sign_()


def first_spike(spikes: Tensor, thresholded: Tensor, compat: bool = False) -> tuple[Tensor, Tensor]:
    """First spike time and the potential there (docs/reference/semantics.md#first-spike).

    ``tau = T - sum_t S[t]`` and ``V = P~[tau]``.

    Args:
        spikes: ``[T, ...]`` spike wave.
        thresholded: ``[T, ...]`` thresholded potentials ``P~``.
        compat: gather at ``min(tau, T-1)``, so a neuron that never fires gets ``P~[T-1]`` (the
            reference); otherwise it gets 0.

    Returns:
        ``(times, values)``: ``[...]`` times (``T`` = never), uint8 for ``T <= 255`` and int16
        above, as fastspike's, and float32 ``[...]``.
    """
    T = spikes.shape[0]
    tau = T - (spikes != 0).sum(0)
    values = thresholded.gather(0, tau.clamp(max=T - 1).unsqueeze(0)).squeeze(0)
    if not compat:
        values = torch.where(tau < T, values, torch.zeros_like(values))
    return tau.to(torch.uint8 if T <= 255 else torch.int16), values


def pointwise_inhibition(thresholded: Tensor) -> Tensor:
    """Keep one feature per position: the earliest, then the strongest
    (docs/reference/semantics.md#pointwise-inhibition).

    At each ``(y, x)``: ``t* = T - sum_t [max_f P~[t, f] > 0]`` (the earliest spike of any
    feature); the winner is the first ``f`` with the largest ``P~[t*, f]``; every other feature is
    zeroed at all time steps. A position where nothing fires is all zeros.

    Args:
        thresholded: ``[T, F, H, W]`` thresholded potentials.

    Returns:
        ``[T, F, H, W]``: the winners' traces, zeros elsewhere.
    """
    T, nf = thresholded.shape[:2]
    any_fired = thresholded.amax(dim=1) > 0  # [T, H, W]
    t_star = T - any_fired.sum(0)  # [H, W]
    at_t_star = thresholded.gather(0, t_star.clamp(max=T - 1).expand(1, nf, *t_star.shape))[0]  # [F, H, W]
    winner = at_t_star.max(dim=0).indices  # the first maximal feature (max returns the first index)
    feature = torch.arange(nf, device=thresholded.device).reshape(nf, 1, 1)
    keep = (feature == winner) & (t_star < T)
    return thresholded * keep.to(thresholded.dtype)


def _unravel(q: int, H: int, W: int) -> Winner:
    return q // (H * W), (q // W) % H, q % W


def get_k_winners(
    thresholded: Tensor, k: int, radius: int = 0, compat: bool = False, spikes: Tensor | None = None
) -> list[Winner]:
    """k-winners-take-all with lateral inhibition (docs/reference/semantics.md#kwta).

    Candidates are the neurons that fire. Up to ``k`` times: take the best remaining candidate,
    record it, remove its whole feature and, if ``radius > 0``, every feature in rows
    ``[y-r, y+r]`` and columns ``[x-r, x+r]`` (clipped). Stops early when no candidate is left.

    * clean: best = earliest ``tau``, then largest ``V = P~[tau]``, then lowest flat index
      ``q = f*H*W + y*W + x``; exact, no float rounding involved.
    * compat: the reference's float32 score. ``v = T * max(spikes * V)``; every spiking step
      contributes ``V + v``; the steps are summed one after the other in float32; best = largest
      score, then lowest flat index; a zero best score stops the loop.

    Removing candidates never changes the others' ranks, so the candidates are ranked once, best
    first (a stable sort of their keys, so that ties keep the lowest ``q`` first), and the
    selection walks that ranking, skipping every candidate an earlier winner inhibits: the first
    one left is each time the best remaining candidate. The clean key packs ``(T - tau, V)`` into
    one int64 (docs/reference/semantics.md#kwta-ranking): ``(T - tau) << 32 | bits(V)``, the bits of a
    float32 ``V >= 0`` sorting like the float.

    Args:
        thresholded: ``[T, F, H, W]`` thresholded potentials (usually after pointwise inhibition),
            non-negative (as :func:`fire` makes them from non-negative weights).
        k: maximum number of winners.
        radius: lateral inhibition radius (0 = none).
        compat: rank by the reference's float32 score instead of the exact key.
        spikes: ``thresholded.sign()`` when the caller already has it.

    Returns:
        Up to ``k`` ``(feature, row, col)`` tuples, best first.
    """
    T, nf, H, W = thresholded.shape
    if spikes is None:
        spikes = thresholded.sign()
    count = spikes.sum(0)  # [F, H, W]: the number of spiking steps, T - tau

    if compat:
        tau = T - count.long()
        V = thresholded.gather(0, tau.clamp(max=T - 1).unsqueeze(0)).squeeze(0)
        per_step = spikes * V  # V, from the first spike on
        v = per_step.max() * T
        per_step = per_step + spikes * v
        score = torch.zeros_like(V)
        for t in range(T):  # the score is defined as this sequential float32 sum over time
            score = score + per_step[t]
        score = score.reshape(-1)
        q = (score > 0).nonzero()[:, 0]  # the candidates (a zero score is never chosen), q ascending
        key = score[q]
    else:
        count = count.reshape(-1)
        q = (count > 0).nonzero()[:, 0]  # the candidates, those that fire (tau < T), q ascending
        fired = count[q].long()  # T - tau
        V = thresholded.reshape(T, -1)[T - fired, q]  # P~[tau]
        key = (fired << 32) | V.view(torch.int32).long()
    ranked = q[torch.sort(key, descending=True, stable=True).indices].tolist()

    winners: list[Winner] = []
    for flat in ranked:
        if len(winners) == k:
            break
        f, y, x = _unravel(flat, H, W)
        inhibited = any(
            f == wf or (radius > 0 and abs(y - wy) <= radius and abs(x - wx) <= radius)
            for wf, wy, wx in winners
        )
        if not inhibited:
            winners.append((f, y, x))
    return winners


def stdp(
    weight: Tensor,
    input_wave: Tensor,
    output_wave: Tensor,
    winners: list[Winner],
    lr: Tensor,
    stabilize: bool = True,
    lb: float = 0.0,
    ub: float = 1.0,
    clamp_all: bool = True,
) -> None:
    """One sample's STDP update, in place (docs/reference/semantics.md#stdp-rule).

    For a winner ``(f, y, x)`` and every synapse ``(c, i, j)`` of feature ``f``: LTP if the input
    ``(c, y+i, x+j)`` spiked at least as many steps as the output ``(f, y, x)`` (i.e.
    ``t_pre <= t_post``), else LTD. The rate is ``a+`` or ``a-``, times ``(W - lb)(ub - W)`` with
    the stabiliser. All deltas are computed from the weights as they were before the call and
    then added (a feature listed twice gets the last listed winner's delta [quirk]); then the
    weights are clamped to ``[lb, ub]``.

    Every winner updates its own feature ``W[f]`` only, so the winners' updates are independent
    and are made together, as one elementwise computation over ``[winners, C, kh, kw]``.

    Args:
        weight: ``[F, C, kh, kw]`` float32, updated in place.
        input_wave: ``[T, C, Hp, Wp]`` the layer's padded input wave.
        output_wave: ``[T, F, Hp - kh + 1, Wp - kw + 1]`` the layer's output spikes.
        winners: ``(f, y, x)`` tuples, usually from :func:`get_k_winners`.
        lr: ``[F, 2]`` per-feature or ``[2]`` shared ``(a_plus, a_minus)``; a negative ``a_plus``
            gives anti-STDP.
        stabilize: multiply the rate by ``(W - lb)(ub - W)``.
        lb, ub: weight bounds.
        clamp_all: clamp the whole tensor, even with no winners (the reference); otherwise
            clamp only the updated features.
    """
    nf, _, kh, kw = weight.shape
    lr = lr.to(device=weight.device, dtype=torch.float32)
    if lr.dim() == 1:
        lr = lr.expand(nf, 2)

    last = {f: (y, x) for f, y, x in winners}  # one entry per feature, the last listed winner's
    if last:
        f = torch.tensor(list(last), device=weight.device)
        y, x = torch.tensor(list(last.values()), device=weight.device).unbind(1)
        pre_count = input_wave.sum(0)  # [C, Hp, Wp]: T - t_pre
        fields = pre_count.unfold(1, kh, 1).unfold(2, kw, 1)  # [C, H, W, kh, kw]: receptive fields
        pre = fields[:, y, x].transpose(0, 1)  # [n, C, kh, kw]: each winner's inputs
        post = output_wave[:, f, y, x].sum(0).reshape(-1, 1, 1, 1)  # [n, 1, 1, 1]: T - t_post
        rate = torch.where(pre >= post, lr[f, 0].reshape(-1, 1, 1, 1), lr[f, 1].reshape(-1, 1, 1, 1))
        w = weight[f]  # [n, C, kh, kw]
        if stabilize:
            rate = rate * ((w - lb) * (ub - w))
        w = w + rate
        weight[f] = w if clamp_all else w.clamp(lb, ub)

    if clamp_all:
        weight.clamp_(lb, ub)


def pool(wave: Tensor, kernel: int, stride: int, padding: int = 0) -> Tensor:
    """Max-pool a wave (``[T, C, H, W]``), floor mode: a pooled cell fires when any input does.

    ``F.max_pool2d`` runs on a channels-last copy (the same maxima; torch's channels-first CPU
    kernel is several times slower) and the result comes back in the usual layout.
    """
    pooled = F.max_pool2d(wave.contiguous(memory_format=torch.channels_last), kernel, stride, padding)
    return pooled.contiguous()


def izhikevich_conv(wave: Tensor, weight: Tensor, neuron, threshold: float | None) -> tuple[Tensor, Tensor]:
    """A conv of Izhikevich neurons on its padded input wave (docs/reference/semantics.md#izhikevich-conv).

    * ``P[t] = W (*) S[t]`` summed in float64 and rounded once to float32 (subnormal weights count
      as 0): the exactly rounded potential, as for a decision layer's ``P[T-1]``;
    * the current ``I[t] = fl(gain * fl(max(fl(P[t] - threshold), 0)))`` (``threshold=None``: 0);
    * the neurons, at rest (``v = c``, ``u = b c``), run the ``T`` steps of ``I`` one step at a time
      (:func:`izhikevich_reference`);
    * a neuron's first spike is its first spike at a step where ``I > 0`` (a neuron no current has
      reached yet does not count as firing).

    Args:
        wave: ``[T, C, Hp, Wp]`` float32 cumulative input wave (already padded).
        weight: ``[F, C, kh, kw]`` float32.
        neuron: a :class:`fastspike.spec.IzhikevichNeuron` (``a, b, c, d, dt, n_sub, gain``).
        threshold: the conv's threshold, or ``None``.

    Returns:
        ``(spikes, thresholded)``: the cumulative output wave ``S[t] = [t >= tau]`` and
        ``P~[t] = P[t] S[t]`` (``> 0`` wherever ``S`` is 1), both ``[T, F, H, W]`` float32, the
        form :func:`pointwise_inhibition`, :func:`get_k_winners` and :func:`stdp` read.
    """
    T = wave.shape[0]
    w = torch.where(weight.abs() < torch.finfo(torch.float32).tiny, torch.zeros_like(weight), weight)
    potentials = F.conv2d(wave.double(), w.double()).to(torch.float32)  # [T, F, H, W]
    theta = 0.0 if threshold is None else float(threshold)
    current = torch.clamp_min(potentials - theta, 0.0) * float(neuron.gain)
    params = _IzhikevichParams(
        float(neuron.a),
        float(neuron.b),
        float(neuron.c),
        float(neuron.d),
        float(neuron.dt),
        neuron.n_sub,
        False,
    )
    v0 = torch.full((1, *potentials.shape[1:]), params.c, dtype=torch.float32, device=wave.device)
    raw = izhikevich_reference(current.unsqueeze(0), params, v0, v0 * params.b)[0][0]  # [T, F, H, W]
    driven = (raw > 0) & (current > 0)  # [T, F, H, W]
    tau = torch.where(driven.any(0), driven.to(torch.uint8).argmax(0), T)
    spikes = times_to_wave(tau, T)
    return spikes, potentials * spikes


class _IzhikevichParams(NamedTuple):
    a: float
    b: float
    c: float
    d: float
    dt: float
    n_sub: int
    compat: bool
