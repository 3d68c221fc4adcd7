"""Pure-PyTorch reference of every fastspike operation, of the Mozafari 2018 network and of any
network described by a :class:`fastspike.spec.NetworkSpec` (:class:`ReferenceNetwork`).

This module is the yardstick: the tests compare the compiled kernels against it and the
benchmark times it as "today's simulator". It follows ``ALGORITHMS.md`` sections 0-10 (and
``ZOO.md`` sections 0-4 for parallel blocks, vote readouts and joint R-STDP phases) and works the
way the classic simulators do:

* one sample at a time, with no batch dimension;
* spike *waves*: float32 ``[T, C, H, W]`` tensors holding ``S[t] = 1`` from the first spike on
  (cumulative), rather than first-spike maps;
* the integrate-and-fire convolution is a single ``F.conv2d`` that treats time as the batch;
* everything else is whole-wave tensor operations too: fire, first spikes, pointwise inhibition
  and pooling act on every time step and position at once; k-winners-take-all ranks all
  candidates once, then picks the winners one after another along that ranking (its sequential
  semantics kept: the walk is the only Python loop); STDP updates every winner's feature in one
  elementwise computation.

Every step is written plainly, so that the code can be read against the specification. It is
written from the specification only and shares no code with any other simulator.

Shapes: ``T`` time steps, ``C`` input channels, ``F`` output features, ``(H, W)`` spatial size,
``(Hp, Wp)`` the size after explicit padding. First-spike maps ("times") are uint8 with ``T``
meaning "never", so ``T <= 255``.

The only dependencies are ``torch``, ``math``, ``typing`` and the pure-Python network descriptions
of :mod:`fastspike.spec`; nothing here calls the compiled operators.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.registry import KHERADPISHEH_DOG as _KHERADPISHEH_DOG
from fastspike.registry import MOZAFARI_DOG as _MOZAFARI_DOG
from fastspike.registry import mozafari2018 as _mozafari2018
from fastspike.spec import (
    RSTDP,
    STDP,
    Conv,
    DecisionReadout,
    DoublingRates,
    FixedRates,
    Inhibit,
    NetworkSpec,
    Pad,
    Parallel,
    Phase,
    Pool,
    VoteReadout,
)

__all__ = [
    "KHERADPISHEH_DOG",
    "MOZAFARI_DOG",
    "Decision",
    "ReferenceMozafari2018",
    "ReferenceNetwork",
    "VoteDecision",
    "conv_potentials",
    "dog_bank",
    "dog_kernel",
    "encode_image",
    "filter_image",
    "fire",
    "first_spike",
    "get_k_winners",
    "izhikevich_conv",
    "local_normalization",
    "pad",
    "pointwise_inhibition",
    "pool",
    "rank_order_times",
    "stdp",
    "times_to_wave",
    "vote",
    "wave_to_times",
]

Winner = tuple[int, int, int]  # (feature, row, col)


def _f32(x: float) -> float:
    """Round a Python float to the nearest float32 value (returned as a Python float)."""
    return torch.tensor(x, dtype=torch.float32).item()


# =============================================================================================
# Input encoding (ALGORITHMS.md 2)
# =============================================================================================

#: The DoG banks as ``(size, sigma1, sigma2)`` (ALGORITHMS.md 2.1), from the registry (the numbers live
#: in one place): Mozafari's ON/OFF pairs at three scales, Kheradpisheh's ON and OFF 7x7 filters.
MOZAFARI_DOG: list[tuple[int, float, float]] = [tuple(d) for d in _MOZAFARI_DOG]
KHERADPISHEH_DOG: list[tuple[int, float, float]] = [tuple(d) for d in _KHERADPISHEH_DOG]


def dog_kernel(size: int, sigma1: float, sigma2: float) -> Tensor:
    """Difference-of-Gaussians kernel (ALGORITHMS.md 2.1).

    ``D = (g_sigma1 - g_sigma2) / (2 pi)`` with ``g_sigma = exp(-rho^2 / (2 sigma^2)) / sigma^2`` on
    the integer grid ``[-size//2, size//2]^2``; then the window mean is subtracted and the result
    divided by its maximum. ``sigma1 < sigma2`` gives an ON-centre kernel, ``sigma1 > sigma2`` an
    OFF-centre one.

    Args:
        size: odd window size.
        sigma1, sigma2: the two Gaussian widths.

    Returns:
        ``[size, size]`` float32 (computed in float64).
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size: expected an odd positive window size, got {size}")
    half = size // 2
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    rho2 = x * x + y * y
    g1 = torch.exp(-rho2 / (2.0 * sigma1 * sigma1)) / (sigma1 * sigma1)
    g2 = torch.exp(-rho2 / (2.0 * sigma2 * sigma2)) / (sigma2 * sigma2)
    dog = (g1 - g2) / (2.0 * math.pi)
    dog = dog - dog.mean()
    dog = dog / dog.max()
    return dog.to(torch.float32)


def dog_bank(specs: list[tuple[int, float, float]]) -> Tensor:
    """Stack DoG kernels into a conv2d weight.

    Args:
        specs: ``n`` triples ``(size, sigma1, sigma2)``.

    Returns:
        ``[n, 1, S, S]`` float32, ``S`` the largest size; smaller kernels are centred and
        zero-padded.
    """
    S = max(size for size, _, _ in specs)
    bank = torch.zeros(len(specs), 1, S, S, dtype=torch.float32)
    for n, (size, sigma1, sigma2) in enumerate(specs):
        off = (S - size) // 2
        bank[n, 0, off : off + size, off : off + size] = dog_kernel(size, sigma1, sigma2)
    return bank


def filter_image(image: Tensor, bank: Tensor, padding: int, threshold: float = 50.0) -> Tensor:
    """Correlate an 8-bit image with a DoG bank and drop weak responses (ALGORITHMS.md 2.2).

    The pixel value is ``fl(fl(k / 255) * 255)`` (ToTensor, then x255). The correlation is done in
    float64 with zero padding and the result is rounded to float32; then every value *strictly
    below* ``threshold`` becomes 0 (so exactly ``threshold`` survives and negatives vanish).

    Args:
        image: ``[H, W]`` or ``[1, H, W]`` uint8.
        bank: ``[n, 1, S, S]`` float32 kernels (see :func:`dog_bank`).
        padding: zero padding on each side (6 for Mozafari, 3 for Kheradpisheh).
        threshold: responses below this become 0.

    Returns:
        ``[n, H + 2p - S + 1, W + 2p - S + 1]`` float32 (``[n, 28, 28]`` for MNIST).
    """
    if image.dim() == 3:
        if image.shape[0] != 1:
            raise ValueError(f"image: expected [H, W] or [1, H, W], got {tuple(image.shape)}")
        image = image[0]
    if image.dim() != 2:
        raise ValueError(f"image: expected [H, W] or [1, H, W], got {tuple(image.shape)}")
    pixels = (image.to(torch.float32) / 255) * 255
    bank = bank.to(image.device)
    response = F.conv2d(pixels.to(torch.float64)[None, None], bank.to(torch.float64), padding=padding)
    response = response[0].to(torch.float32)
    return torch.where(response < threshold, torch.zeros_like(response), response)


def local_normalization(x: Tensor, radius: int = 8, eps: float = 1e-12) -> Tensor:
    """Divide every value by its local mean (ALGORITHMS.md 2.3), channel by channel.

    ``mean = box_sum_{(2R+1)^2}(x) / (2R+1)^2 + eps`` with zero padding, so the divisor is always
    ``(2R+1)^2`` even at the borders. Box sum and division are done in float64.

    The box sum is separable: the sum over each window's ``2R+1`` rows, then over its ``2R+1``
    columns. In float64 every partial sum is exact whenever the non-zero magnitudes of ``x`` lie
    within a factor ``2^20`` of each other (53 bits hold 24 bits of mantissa, 9 bits of the
    ``289``-term sum and 20 bits of spread), so the order of the additions does not matter: the
    DoG responses it normalises are 0 or in ``[50, 2^16)``.

    Args:
        x: ``[C, H, W]`` float32.
        radius: ``R``.
        eps: added to the mean.

    Returns:
        ``[C, H, W]`` float32.
    """
    side = 2 * radius + 1
    x64 = x.to(torch.float64)
    padded = F.pad(x64, (radius, radius, radius, radius))
    box_sum = padded.unfold(1, side, 1).sum(-1).unfold(2, side, 1).sum(-1)  # [C, H, W]
    mean = box_sum / (side * side) + eps
    return (x64 / mean).to(torch.float32)


def rank_order_times(x: Tensor, T: int = 15, mode: str = "clean", tie_consistent: bool = False) -> Tensor:
    """Intensity-to-latency (rank-order) coding (ALGORITHMS.md 2.4).

    All values are ranked together, strongest first; ties keep (c, y, x) order (a stable
    descending sort). With ``n`` non-zero values and ``b = n // T``, the value at rank ``q`` fires
    at ``tau = q // b`` if ``q < T*b``: every time step gets exactly ``b`` values, the weakest
    ``n mod T`` non-zero values and all zeros never fire.

    Args:
        x: ``[C, H, W]`` non-negative intensities.
        T: number of time steps (at most 255).
        mode: ``"clean"``: no non-zero value gives all-never and ``0 < n < T`` uses ``b = 1``;
            ``"compat"``: raise ``ValueError`` when ``n < T`` (the reference crashes there).
        tie_consistent: every member of a group of equal values gets the ``tau`` of the group's
            first rank (so a group never straddles a bin boundary).

    Returns:
        ``[C, H, W]`` uint8 first-spike times, ``T`` = never.
    """
    if mode not in ("clean", "compat"):
        raise ValueError(f"mode: expected 'clean' or 'compat', got {mode!r}")
    if not 1 <= T <= 255:
        raise ValueError(f"T: expected 1 <= T <= 255 for uint8 times, got {T}")
    flat = x.reshape(-1)
    times = torch.full_like(flat, T, dtype=torch.uint8)
    position = flat.nonzero()[:, 0]  # the non-zero values, in (c, y, x) order; zeros never fire
    n = position.numel()
    if n < T and mode == "compat":
        raise ValueError(
            f"rank_order_times: only {n} non-zero values for T = {T} time steps "
            "(the reference fails here); use mode='clean'"
        )
    if n == 0:
        return times.reshape(x.shape)
    b = max(n // T, 1)
    spiking = min(T * b, n)  # number of ranks that get a time

    # The values are non-negative, so the non-zero ones hold ranks 0..n-1 of the whole sort.
    sorted_values, order = torch.sort(flat[position], descending=True, stable=True)
    rank = torch.arange(n, device=x.device)
    if tie_consistent:
        # Replace every rank by the first rank of its group of equal values.
        group_start = torch.ones_like(sorted_values, dtype=torch.bool)
        group_start[1:] = sorted_values[1:] != sorted_values[:-1]
        rank = torch.where(group_start, rank, torch.zeros_like(rank)).cummax(0).values
    tau_sorted = torch.where(rank < spiking, rank // b, torch.full_like(rank, T))
    times[position[order]] = tau_sorted.to(torch.uint8)
    return times.reshape(x.shape)


_BANK_CACHE: dict[tuple, Tensor] = {}


def encode_image(
    image: Tensor,
    specs: list[tuple[int, float, float]] = MOZAFARI_DOG,
    padding: int = 6,
    threshold: float = 50.0,
    norm_radius: int = 8,
    T: int = 15,
    mode: str = "clean",
    tie_consistent: bool = False,
) -> Tensor:
    """Full input encoding: DoG filtering, local normalisation, rank-order coding.

    Args:
        image: ``[28, 28]`` (or ``[1, 28, 28]``) uint8.
        specs, padding, threshold: the DoG bank and filtering (see :func:`filter_image`).
        norm_radius: local normalisation radius.
        T, mode, tie_consistent: see :func:`rank_order_times`.

    Returns:
        ``[C, 28, 28]`` uint8 first-spike times (``C = len(specs)``; ``T`` = never).
    """
    key = (tuple(tuple(spec) for spec in specs), str(image.device))
    bank = _BANK_CACHE.get(key)
    if bank is None:  # built once per filter set, as a simulator's input transform would
        bank = _BANK_CACHE[key] = dog_bank(specs).to(image.device)
    filtered = filter_image(image, bank, padding, threshold)
    normalised = local_normalization(filtered, norm_radius)
    return rank_order_times(normalised, T, mode, tie_consistent)


def times_to_wave(times: Tensor, T: int) -> Tensor:
    """First-spike times ``[...]`` -> cumulative float32 wave ``[T, ...]`` with ``S[t] = (t >= tau)``."""
    steps = torch.arange(T, device=times.device).reshape(T, *([1] * times.dim()))
    return (steps >= times.long()).to(torch.float32)


def wave_to_times(wave: Tensor) -> Tensor:
    """Wave ``[T, ...]`` -> uint8 times ``[...]``: ``tau = T - sum_t (S[t] != 0)``.

    Lossless when the wave is cumulative.
    """
    T = wave.shape[0]
    return (T - (wave != 0).sum(0)).to(torch.uint8)


# =============================================================================================
# Operators on waves (ALGORITHMS.md 1, 3-7)
# =============================================================================================


def pad(wave: Tensor, p: int) -> Tensor:
    """Zero-pad the last two dims by ``p`` on every side: padded cells never spike.

    ``[T, C, H, W]`` -> ``[T, C, H + 2p, W + 2p]``.
    """
    return F.pad(wave, (p, p, p, p))


def conv_potentials(wave: Tensor, weight: Tensor) -> Tensor:
    """Integrate-and-fire potentials ``P[t] = W (*) S[t]`` (ALGORITHMS.md 1).

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
    """Threshold potentials (ALGORITHMS.md 3).

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


def _fire_in_place(potentials: Tensor, threshold: float | None) -> Tensor:
    """``fire(potentials, threshold)[1]`` (``P~``), made in place in a layer's fresh potentials
    that nothing else reads (no second ``[T, ...]`` tensor)."""
    if threshold is None:
        potentials[:-1] = 0
        return potentials
    return F.threshold_(potentials, _checked(threshold), 0.0)


def _fire_spikes(potentials: Tensor, threshold: float | None) -> Tensor:
    """``fire(potentials, threshold)[0]`` for a layer whose ``P~`` nobody reads (one that does not
    learn now), made in place in its fresh potentials."""
    if threshold is None:
        return fire(potentials, None)[0]
    return _fire_in_place(potentials, threshold).sign_()


def first_spike(spikes: Tensor, thresholded: Tensor, compat: bool = False) -> tuple[Tensor, Tensor]:
    """First spike time and the potential there (ALGORITHMS.md 4).

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
    """Keep one feature per position: the earliest, then the strongest (ALGORITHMS.md 5).

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
    """k-winners-take-all with lateral inhibition (ALGORITHMS.md 6).

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
    one int64 (ALGORITHMS.md 6, "packing the key"): ``(T - tau) << 32 | bits(V)``, the bits of a
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
    """One sample's STDP update, in place (ALGORITHMS.md 7.1).

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
    """A conv of Izhikevich neurons on its padded input wave (ALGORITHMS.md 1, 11).

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


# =============================================================================================
# Mozafari et al. 2018 network (ALGORITHMS.md 9, 7.2, 7.3)
# =============================================================================================


class Decision(NamedTuple):
    """What the decision layer saw and chose for one sample."""

    decision: int  #: class ``f // 20``, or -1 for silence
    winner: Winner | None  #: the winning S3 neuron ``(f, y, x)``, or None
    input_wave: Tensor  #: ``[T, 250, 8, 8]`` padded S3 input wave
    output_spikes: Tensor  #: ``[T, 200, 4, 4]`` S3 spikes (only at ``T-1``)


class ReferenceMozafari2018:
    """The Mozafari et al. 2018 MNIST network, one sample at a time on float32 waves.

    ============  ============================================  ==============
    stage         operation                                     output
    ============  ============================================  ==============
    input         encoded wave (:func:`encode_image`)           6 x 28 x 28
    S1            pad 2, conv 6->30 5x5, threshold 15           30 x 28 x 28
    C1            max-pool 2/2, pad 1                           30 x 16 x 16
    S2            conv 30->250 3x3, threshold 10                250 x 14 x 14
    C2            max-pool 3/3, pad 2                           250 x 8 x 8
    S3            conv 250->200 5x5, no threshold               200 x 4 x 4
    decision      1 winner over ``P[T-1]``; class = f // 20     int
    ============  ============================================  ==============

    Layers 1 and 2 learn by STDP with k-WTA (k, r) = (5, 3) and (8, 1) and the doubling rate
    schedule; layer 3 learns by reward-modulated STDP with adaptive rates.

    Args:
        T: number of time steps.
        compat: reproduce the reference's quirks (float32 k-WTA score, gather at ``T-1`` for
            silent neurons, whole-tensor clamp on every STDP call). In clean mode the weights are
            clamped to their bounds once, here, and STDP clamps only what it updates.
        seed: seed of the generator the initial weights ``N(0.8, 0.05)`` are drawn from (w1,
            then w2, then w3); ``None`` draws a non-deterministic seed.
    """

    # The paper's numbers come from the registered spec (one place); the semantics below are this
    # module's own, independent of the compiled network.
    _SPEC = _mozafari2018()
    THRESHOLDS = tuple(c.threshold for c in _SPEC.convs)  # (15, 10, None)
    KWTA = tuple((c.k, c.radius) for c in _SPEC.convs[:2])  # (k, radius) for S1 and S2: (5, 3), (8, 1)
    BOUNDS = tuple((c.rule.lb, c.rule.ub) for c in _SPEC.convs)  # [0, 1], [0, 1], [0.2, 0.8]
    FEATURES_PER_CLASS = _SPEC.convs[2].out_channels // _SPEC.n_classes  # 20
    # STDP schedule (7.2), in float32.
    A_PLUS = _f32(_SPEC.convs[0].rule.rates.a_plus)  # 0.004
    A_MINUS = _f32(_SPEC.convs[0].rule.rates.a_minus)  # -0.003
    A_PLUS_MAX = _f32(_SPEC.convs[0].rule.rates.cap)  # 0.15
    SCHEDULE_PERIOD = _SPEC.convs[0].rule.rates.period  # 500
    # R-STDP (7.3), in float32.
    REWARD = tuple(_f32(a) for a in _SPEC.convs[2].rule.rates.reward)  # (0.004, -0.003)
    PUNISH = tuple(_f32(a) for a in _SPEC.convs[2].rule.rates.punish)  # (-0.004, 0.0005)
    ADAPT_CHUNK = _SPEC.convs[2].rule.rates.chunk  # 1000

    def __init__(self, T: int = 15, compat: bool = False, seed: int | None = 0) -> None:
        self.T = T
        self.compat = compat
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        self.w1, self.w2, self.w3 = (
            torch.empty(c.out_channels, c.in_channels, c.kernel, c.kernel).normal_(
                c.weight_mean, c.weight_std, generator=gen
            )
            for c in self._SPEC.convs
        )
        if not compat:
            for w, (lb, ub) in zip(self.weights, self.BOUNDS, strict=True):
                w.clamp_(lb, ub)
        # Per-layer STDP schedules: samples seen and current (a_plus, a_minus).
        self._samples = [0, 0]
        self._rates = [(self.A_PLUS, self.A_MINUS), (self.A_PLUS, self.A_MINUS)]
        # R-STDP rates and the current chunk's counts.
        self.reward_rates = self.REWARD
        self.punish_rates = self.PUNISH
        self._chunk_calls = 0
        self._chunk_hits = 0
        self._chunk_misses = 0

    # ----------------------------------------------------------------------------- state
    @property
    def weights(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.w1, self.w2, self.w3

    @property
    def lr1(self) -> tuple[float, float]:
        """Current layer-1 ``(a_plus, a_minus)``."""
        return self._rates[0]

    @property
    def lr2(self) -> tuple[float, float]:
        """Current layer-2 ``(a_plus, a_minus)``."""
        return self._rates[1]

    def to(self, device: torch.device | str) -> ReferenceMozafari2018:
        """Move the weights to ``device``; inputs must live there too."""
        self.w1, self.w2, self.w3 = (w.to(device) for w in self.weights)
        return self

    @classmethod
    def stdp_rates(cls, i: int) -> tuple[float, float]:
        """Closed-form schedule rates for the 0-based training sample ``i`` of a layer (7.2).

        ``a_plus = min(0.004 * 2^((i+1) // 500), 0.15)`` and ``a_minus = -0.75 * a_plus``, in float32.
        """
        doublings = min((i + 1) // cls.SCHEDULE_PERIOD, 64)
        a_plus = min(cls.A_PLUS * 2.0**doublings, cls.A_PLUS_MAX)
        return a_plus, _f32(-0.75 * a_plus)

    def _next_rates(self, layer: int) -> tuple[float, float]:
        """Advance layer ``layer``'s sample counter; on every 500th sample double ``a_plus``."""
        self._samples[layer] += 1
        if self._samples[layer] % self.SCHEDULE_PERIOD == 0:
            a_plus = min(_f32(2.0 * self._rates[layer][0]), self.A_PLUS_MAX)
            self._rates[layer] = (a_plus, _f32(-0.75 * a_plus))
        return self._rates[layer]

    # ----------------------------------------------------------------------------- forward
    def s2_input(self, wave: Tensor) -> Tensor:
        """Plain S1 (no competition), C1 and padding: ``[T, 6, 28, 28]`` -> ``[T, 30, 16, 16]``."""
        s1_spikes = _fire_spikes(conv_potentials(pad(wave, 2), self.w1), self.THRESHOLDS[0])
        return pad(pool(s1_spikes, 2, 2), 1)

    def s3_input(self, wave: Tensor) -> Tensor:
        """Plain S1, C1, S2, C2 and padding: ``[T, 6, 28, 28]`` -> ``[T, 250, 8, 8]``."""
        s2_spikes = _fire_spikes(conv_potentials(self.s2_input(wave), self.w2), self.THRESHOLDS[1])
        return pad(pool(s2_spikes, 3, 3), 2)

    def forward_s1(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """S1 on a ``[T, 6, 28, 28]`` wave.

        Returns (padded input ``[T, 6, 32, 32]``, spikes, thresholded ``[T, 30, 28, 28]``).
        """
        s1_in = pad(wave, 2)
        spikes, thresholded = fire(conv_potentials(s1_in, self.w1), self.THRESHOLDS[0])
        return s1_in, spikes, thresholded

    def forward_s2(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Plain S1, C1, S2: -> (S2 input ``[T, 30, 16, 16]``, spikes, thresholded ``[T, 250, 14, 14]``)."""
        s2_in = self.s2_input(wave)
        spikes, thresholded = fire(conv_potentials(s2_in, self.w2), self.THRESHOLDS[1])
        return s2_in, spikes, thresholded

    def forward_s3(self, wave: Tensor, s3_in: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Plain S1..S3: -> (S3 input ``[T, 250, 8, 8]``, spikes, thresholded ``[T, 200, 4, 4]``).

        ``s3_in``: the wave's :meth:`s3_input`, computed before (frozen S1 and S2)."""
        if s3_in is None:
            s3_in = self.s3_input(wave)
        spikes, thresholded = fire(conv_potentials(s3_in, self.w3), self.THRESHOLDS[2])
        return s3_in, spikes, thresholded

    # ----------------------------------------------------------------------------- training
    def _stdp_layer(self, layer: int, weight: Tensor, s_in: Tensor) -> list[Winner]:
        """Train a layer on its padded input: fire, pointwise inhibition, k-WTA, STDP."""
        thresholded = _fire_in_place(conv_potentials(s_in, weight), self.THRESHOLDS[layer])
        inhibited = pointwise_inhibition(thresholded)
        spikes = inhibited.sign()
        k, radius = self.KWTA[layer]
        winners = get_k_winners(inhibited, k, radius, self.compat, spikes)
        a_plus, a_minus = self._next_rates(layer)
        lr = torch.tensor([a_plus, a_minus], dtype=torch.float32, device=weight.device)
        lb, ub = self.BOUNDS[layer]
        stdp(weight, s_in, spikes, winners, lr, stabilize=True, lb=lb, ub=ub, clamp_all=self.compat)
        return winners

    def stdp1(self, wave: Tensor) -> list[Winner]:
        """Train S1 on one ``[T, 6, 28, 28]`` wave; returns the k-WTA winners."""
        return self._stdp_layer(0, self.w1, pad(wave, 2))

    def stdp2(self, wave: Tensor, s2_in: Tensor | None = None) -> list[Winner]:
        """Train S2 on one ``[T, 6, 28, 28]`` wave (S1 without inhibition); returns the winners.

        ``s2_in``: the wave's :meth:`s2_input`, when the frozen S1 was run once per dataset (as
        a trainer caches it); ``wave`` is then not read."""
        return self._stdp_layer(1, self.w2, self.s2_input(wave) if s2_in is None else s2_in)

    def decide(self, wave: Tensor, s3_in: Tensor | None = None) -> Decision:
        """Run the whole network on one ``[T, 6, 28, 28]`` wave and pick the decision neuron.

        ``s3_in`` as in :meth:`forward_s3`."""
        s3_in, spikes, thresholded = self.forward_s3(wave, s3_in)
        winners = get_k_winners(thresholded, 1, 0, self.compat)
        if not winners:
            return Decision(-1, None, s3_in, spikes)
        return Decision(winners[0][0] // self.FEATURES_PER_CLASS, winners[0], s3_in, spikes)

    def predict(self, wave: Tensor) -> int:
        """Class of one ``[T, 6, 28, 28]`` wave, or -1 when no decision neuron fires."""
        return self.decide(wave).decision

    def rstdp(self, wave: Tensor, label: int, s3_in: Tensor | None = None) -> int:
        """One R-STDP step on S3 (7.3); returns the decision (-1 = silence). ``s3_in`` as in
        :meth:`forward_s3`.

        Right: STDP with the reward rates; wrong: with the punishment (anti-STDP) rates; silent:
        nothing. After every 1000 calls the rates are rescaled from their initial values by the
        chunk's miss fraction (reward) and hit fraction (punishment).
        """
        d = self.decide(wave, s3_in)
        if d.winner is not None:
            hit = d.decision == int(label)
            if hit:
                self._chunk_hits += 1
                rates = self.reward_rates
            else:
                self._chunk_misses += 1
                rates = self.punish_rates
            lr = torch.tensor(rates, dtype=torch.float32, device=self.w3.device)
            lb, ub = self.BOUNDS[2]
            stdp(
                self.w3,
                d.input_wave,
                d.output_spikes,
                [d.winner],
                lr,
                stabilize=False,
                lb=lb,
                ub=ub,
                clamp_all=self.compat,
            )
        self._chunk_calls += 1
        if self._chunk_calls == self.ADAPT_CHUNK:
            hits = self._chunk_hits / self.ADAPT_CHUNK
            misses = self._chunk_misses / self.ADAPT_CHUNK
            self.reward_rates = (_f32(self.REWARD[0] * misses), _f32(self.REWARD[1] * misses))
            self.punish_rates = (_f32(self.PUNISH[0] * hits), _f32(self.PUNISH[1] * hits))
            self._chunk_calls = self._chunk_hits = self._chunk_misses = 0
        return d.decision


# =============================================================================================
# Any network described by a NetworkSpec (ALGORITHMS.md 1-10, ZOO.md 0-4)
# =============================================================================================


class VoteDecision(NamedTuple):
    """What the decision heads of a vote readout saw and chose for one sample."""

    decision: int  #: the vote (see :func:`vote`), or -1 when every head is silent
    heads: tuple[Decision, ...]  #: each head's own decision, in block order


def vote(head_classes: list[int], fallback: int) -> int:
    """The majority rule of a vote readout (ZOO.md 4).

    Silent heads (-1) do not vote. A class with at least 2 votes and strictly more votes than
    any other class wins; otherwise the answer is the vote of the ``fallback`` head, and when
    that head is silent, the vote of the first head (in order) that is not; when every head is
    silent, -1.

    Args:
        head_classes: each head's class, -1 for a silent head, in block order.
        fallback: index of the fallback head in ``head_classes``.

    Returns:
        The class, or -1.
    """
    votes: dict[int, int] = {}
    for c in head_classes:
        if c >= 0:
            votes[c] = votes.get(c, 0) + 1
    if votes:
        most = max(votes.values())
        leaders = [c for c, n in votes.items() if n == most]
        if most >= 2 and len(leaders) == 1:
            return leaders[0]
    if head_classes[fallback] >= 0:
        return head_classes[fallback]
    for c in head_classes:
        if c >= 0:
            return c
    return -1


class ReferenceNetwork:
    """Any :class:`fastspike.spec.NetworkSpec`, one sample at a time on float32 waves.

    The layers run in order on a ``[T, C, H, W]`` wave:

    * ``Pad(p)``: :func:`pad` (padded cells never fire);
    * ``Pool(k, stride, padding)``: :func:`pool`, floor mode, padded cells never fire;
    * ``Inhibit(train_only)``: :func:`pointwise_inhibition` of the spike wave itself (every value is
      1, so per position the lowest feature index among the earliest firing keeps its spikes;
      ALGORITHMS.md 5 [quirk]); a ``train_only`` one acts only in training mode, i.e. while a layer
      above it trains (:meth:`stdp_step`, :meth:`rstdp`);
    * ``Conv``: :func:`conv_potentials` then :func:`fire`; a conv with Izhikevich neurons
      (``conv.neuron``): :func:`izhikevich_conv`. Convs below the one being trained use plain
      ``fire`` (no competition, ALGORITHMS.md 9 "Inhibition");
    * ``Parallel`` (ZOO.md 3): every conv of the block reads the block's input and fires plainly;
      each output is padded with never-firing cells by ``(k - k_min) // 2`` on every side (``k``
      its kernel, ``k_min`` the block's smallest), so that the maps are centred, and the maps are
      concatenated along the channels in block order. (A block of decision heads is only
      concatenated by :meth:`forward` / :meth:`stages`; its readout is :meth:`decide`.)

    Training a thresholded conv (:meth:`stdp_step`, a standalone conv or one branch of a block):
    its thresholded potentials go through pointwise inhibition (when ``conv.pointwise``), then
    k-WTA ``(conv.k, conv.radius)``, then :func:`stdp` with the rule's bounds, stabiliser and
    current rates. Doubling rates are advanced one sample at a time (a per-conv counter that
    persists across calls); fixed rates are constant. A branch is trained alone, on the block's
    input, with its own counter and rates.

    A decision network (:class:`fastspike.spec.DecisionReadout`) decides by k-WTA
    ``(conv.k, conv.radius)`` over ``P[T-1]`` of its last conv (:meth:`decide`) and trains it by
    R-STDP with adaptive rates (:meth:`rstdp`). A phase with ``joint`` convs (ZOO.md 2) rewards
    their k-WTA winners with the decision layer's, by the phase's ``schedule``. A vote network
    (:class:`fastspike.spec.VoteReadout`, ZOO.md 4) decides by every head of its last block and
    :func:`vote`; :meth:`rstdp` rewards each head by its own vote. A linear-readout network gives
    "spiked at any time" of its final map (:meth:`features`).

    R-STDP state: every conv that learns by R-STDP (a decision conv or head by its ``rule``, a
    thresholded conv by its ``reward_rule``) has its own base rates, current reward and
    punishment rates (:meth:`layer_rates`) and rescaling after each chunk. The counts of the
    current chunk and the number of chunks completed belong to the phase being trained: they are
    reset by :meth:`begin_phase`, which :meth:`rstdp` calls itself when it is given a phase other
    than the current one.

    Args:
        spec: the network.
        compat: reproduce the reference's quirks (float32 k-WTA score, whole-tensor clamp on every
            STDP call). In clean mode each learned weight tensor is clamped to its rule's bounds
            once, here, and STDP clamps only what it updates.
        seed: seed of the single generator the initial weights ``N(weight_mean, weight_std)`` are
            drawn from, conv by conv in ``spec.convs`` order (a block's convs in block order);
            ``None`` draws a non-deterministic seed.
        exact_decision: compute a decision conv's ``P[T-1]`` exactly rounded (the sum taken in
            float64, rounded once to float32), as fastspike's compiled decision layer does. By
            default it comes from the float32 ``conv2d`` like every potential, whose rounding
            depends on the summation order, and with it the winner among (near-)tied neurons
            (ALGORITHMS.md 1, "Numerics"); decision weights clamped at their bounds make exact
            ties common.

    Attributes:
        weights: ``{conv name: [F, C, k, k] float32}``, in ``spec.convs`` order; updated in place.
        reward_rates, punish_rates: the single decision layer's current R-STDP rates.
        reward_base, punish_base, chunk: its base rates and chunk length (zeros and 0 when the
            network has no single decision layer).
    """

    def __init__(
        self, spec: NetworkSpec, compat: bool = False, seed: int | None = 0, exact_decision: bool = False
    ) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
        self.spec = spec
        self.compat = compat
        self.exact_decision = exact_decision
        self.T = spec.T
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        self.weights: dict[str, Tensor] = {}
        for conv in spec.convs:
            shape = (conv.out_channels, conv.in_channels, conv.kernel, conv.kernel)
            w = torch.empty(shape).normal_(conv.weight_mean, conv.weight_std, generator=gen)
            if not compat and conv.rule is not None:
                w.clamp_(conv.rule.lb, conv.rule.ub)
            self.weights[conv.name] = w
        self._convs = {conv.name: conv for conv in spec.convs}
        self._blocks = {layer.name: layer for layer in spec.layers if isinstance(layer, Parallel)}

        # STDP layers: samples seen and current (a_plus, a_minus), in float32.
        self._samples: dict[str, int] = {}
        self._rates: dict[str, tuple[float, float]] = {}
        for conv in spec.convs:
            if isinstance(conv.rule, STDP):
                self._samples[conv.name] = 0
                self._rates[conv.name] = (_f32(conv.rule.rates.a_plus), _f32(conv.rule.rates.a_minus))

        # R-STDP layers: base and current (reward, punish) rates, each a float32 (a_plus, a_minus).
        self._rstdp_base: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        self._rstdp_rates: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        for conv in spec.convs:
            rule = _rstdp_rule(conv)
            if rule is not None:
                reward, punish = rule.rates.reward, rule.rates.punish
                base = ((_f32(reward[0]), _f32(reward[1])), (_f32(punish[0]), _f32(punish[1])))
                self._rstdp_base[conv.name] = self._rstdp_rates[conv.name] = base

        # The readout: a single decision layer, or the block of heads of a vote.
        last = spec.convs[-1]
        self._decision = last if isinstance(spec.readout, DecisionReadout) and last.is_decision else None
        self._heads: Parallel | None = None
        if isinstance(spec.readout, VoteReadout):
            self._heads = spec.layers[-1]
            names = [conv.name for conv in self._heads.convs]
            self._fallback = names.index(spec.readout.fallback)
            chunks = {conv.rule.rates.chunk for conv in self._heads.convs if isinstance(conv.rule, RSTDP)}
            if len(chunks) > 1:
                raise ValueError(
                    f"{self._heads.name}: the heads are rescaled together, so their R-STDP rules need one "
                    f"chunk length, got {sorted(chunks)}"
                )

        # The phase being trained by R-STDP and its counts (see begin_phase).
        self._phase: Phase | None = None
        self._chunk_calls = 0
        self._chunk_hits = 0  # the decision's (or the vote's) right answers in the current chunk
        self._chunk_misses = 0  # its wrong answers (silence is neither)
        heads = [conv.name for conv in self._heads.convs] if self._heads is not None else []
        self._head_hits = dict.fromkeys(heads, 0)  # each head's own right answers in the chunk
        self._head_misses = dict.fromkeys(heads, 0)  # and its wrong ones
        self._chunks_done = 0

    # ----------------------------------------------------------------------------- state
    def conv(self, name: str) -> Conv:
        """The conv layer called ``name`` (standalone, or a branch or head of a block)."""
        if name not in self._convs:
            raise KeyError(f"layer: no conv layer named {name!r} (have {list(self._convs)})")
        return self._convs[name]

    def rates(self, name: str) -> tuple[float, float]:
        """Current ``(a_plus, a_minus)`` of the STDP layer ``name`` (those of its last sample)."""
        if name not in self._rates:
            raise KeyError(f"layer: {name!r} is not a conv layer with an STDP rule")
        return self._rates[name]

    def samples_seen(self, name: str) -> int:
        """Number of STDP samples the layer ``name`` has trained on."""
        self.rates(name)
        return self._samples[name]

    def layer_rates(self, name: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """Current ``(reward, punish)`` rates of the R-STDP-trained conv ``name`` (a decision conv
        or head by its ``rule``, a thresholded conv by its ``reward_rule``), each a float32
        ``(a_plus, a_minus)``."""
        if name not in self._rstdp_rates:
            raise KeyError(f"layer: {name!r} is not a conv layer that learns by R-STDP")
        return self._rstdp_rates[name]

    @property
    def reward_rates(self) -> tuple[float, float]:
        """Current reward ``(a_plus, a_minus)`` of the single decision layer."""
        return self._single_rates()[0]

    @reward_rates.setter
    def reward_rates(self, rates: tuple[float, float]) -> None:
        name = self._decision_conv().name
        self._rstdp_rates[name] = (tuple(rates), self._rstdp_rates[name][1])

    @property
    def punish_rates(self) -> tuple[float, float]:
        """Current punishment ``(a_plus, a_minus)`` of the single decision layer."""
        return self._single_rates()[1]

    @punish_rates.setter
    def punish_rates(self, rates: tuple[float, float]) -> None:
        name = self._decision_conv().name
        self._rstdp_rates[name] = (self._rstdp_rates[name][0], tuple(rates))

    @property
    def reward_base(self) -> tuple[float, float]:
        """Base reward rates of the single decision layer."""
        return self._single_rates(base=True)[0]

    @property
    def punish_base(self) -> tuple[float, float]:
        """Base punishment rates of the single decision layer."""
        return self._single_rates(base=True)[1]

    @property
    def chunk(self) -> int:
        """Chunk length of the single decision layer's adaptive rates (0 without one)."""
        conv = self._decision
        return conv.rule.rates.chunk if conv is not None and isinstance(conv.rule, RSTDP) else 0

    def _single_rates(self, base: bool = False) -> tuple[tuple[float, float], tuple[float, float]]:
        conv = self._decision
        if conv is None or conv.name not in self._rstdp_rates:
            return (0.0, 0.0), (0.0, 0.0)
        return (self._rstdp_base if base else self._rstdp_rates)[conv.name]

    def to(self, device: torch.device | str) -> ReferenceNetwork:
        """Move the weights to ``device``; inputs must live there too."""
        self.weights = {name: w.to(device) for name, w in self.weights.items()}
        return self

    def _next_rates(self, name: str) -> tuple[float, float]:
        """Advance the layer's sample counter and return the rates for this sample (7.2).

        Doubling rates: on every ``period``-th sample, before its update,
        ``a+ <- min(fl(factor * a+), fl(cap))`` and ``a- <- fl(ratio * a+)``.
        """
        rates = self.conv(name).rule.rates
        self._samples[name] += 1
        if isinstance(rates, DoublingRates) and self._samples[name] % rates.period == 0:
            a_plus = min(_f32(rates.factor * self._rates[name][0]), _f32(rates.cap))
            self._rates[name] = (a_plus, _f32(rates.ratio * a_plus))
        elif not isinstance(rates, (DoublingRates, FixedRates)):
            kind = type(rates).__name__
            raise TypeError(f"{name}.rule.rates: expected doubling or fixed rates, got {kind}")
        return self._rates[name]

    # ----------------------------------------------------------------------------- forward
    def encode(self, image: Tensor) -> Tensor:
        """One uint8 image ``[H, W]`` -> its input wave ``[T, C, H', W']`` (the spec's encoder)."""
        enc = self.spec.encoder
        times = encode_image(
            image,
            list(enc.dog),
            enc.padding,
            enc.threshold,
            enc.norm_radius,
            self.T,
            enc.mode,
            enc.tie_consistent,
        )
        return times_to_wave(times, self.T)

    def _apply(self, layer, wave: Tensor, training: bool) -> Tensor:
        """One layer on a wave, without competition (plain ``fire`` for a conv)."""
        if isinstance(layer, Pad):
            return pad(wave, layer.padding)
        if isinstance(layer, Pool):
            return pool(wave, layer.kernel, layer.step, layer.padding)
        if isinstance(layer, Inhibit):
            if training or not layer.train_only:
                return pointwise_inhibition(wave)
            return wave
        if isinstance(layer, Conv):
            return self._spikes(layer, wave)
        if isinstance(layer, Parallel):
            return self._parallel(layer, wave)
        raise TypeError(f"layer: unknown layer type {type(layer).__name__}")

    def _parallel(self, block: Parallel, wave: Tensor) -> Tensor:
        """A block on its input wave: every conv fires plainly on ``wave``; each output is padded
        with never-firing cells by ``(k - k_min) // 2`` on every side and the padded maps are
        concatenated along the channels in block order."""
        k_min = min(conv.kernel for conv in block.convs)
        outputs = []
        for conv in block.convs:
            if (conv.kernel - k_min) % 2:
                raise ValueError(
                    f"{block.name}: {conv.name!r}'s {conv.kernel}x{conv.kernel} map cannot be centred on "
                    f"the {k_min}x{k_min} one (kernels must differ by even numbers)"
                )
            outputs.append(pad(self._spikes(conv, wave), (conv.kernel - k_min) // 2))
        return torch.cat(outputs, dim=1)

    def _spikes(self, conv: Conv, wave: Tensor) -> Tensor:
        """A conv's output spikes on its padded input wave: plain ``fire`` (integrate-and-fire) or
        :func:`izhikevich_conv` (``conv.neuron``)."""
        if conv.neuron is not None:
            return izhikevich_conv(wave, self.weights[conv.name], conv.neuron, conv.threshold)[0]
        return _fire_spikes(conv_potentials(wave, self.weights[conv.name]), conv.threshold)

    def _run(self, layers, wave: Tensor, training: bool) -> Tensor:
        """``layers`` one after the other on a wave, without competition."""
        for layer in layers:
            wave = self._apply(layer, wave, training)
        return wave

    def _position(self, name: str) -> int:
        """Index in ``spec.layers`` of the conv ``name``, of the block holding it, or of the block
        called ``name``."""
        for i, layer in enumerate(self.spec.layers):
            if isinstance(layer, Conv) and layer.name == name:
                return i
            if isinstance(layer, Parallel) and (
                layer.name == name or any(conv.name == name for conv in layer.convs)
            ):
                return i
        have = [*self._convs, *self._blocks]
        raise KeyError(f"layer: no conv layer or block named {name!r} (have {have})")

    def stages(self, wave: Tensor, training: bool = False) -> list[Tensor]:
        """The wave after each layer of ``spec.layers`` (one entry per layer, in order)."""
        out = []
        for layer in self.spec.layers:
            wave = self._apply(layer, wave, training)
            out.append(wave)
        return out

    def forward(self, wave: Tensor, training: bool = False) -> Tensor:
        """All layers on an input wave; returns the final wave."""
        return self._run(self.spec.layers, wave, training)

    def layer_input(self, name: str, wave: Tensor, training: bool = False) -> Tensor:
        """The (padded) input wave of the conv ``name``: the layers below it run on ``wave``.

        ``name`` may be a standalone conv, a conv of a block (a branch or a head) or a block: for
        the last two it is the block's input.
        """
        return self._run(self.spec.layers[: self._position(name)], wave, training)

    def features(self, wave: Tensor) -> Tensor:
        """Whether each neuron of the final map spiked at any time (eval mode, no ``train_only``
        inhibition): its wave at the last step, flattened in (c, y, x) order; float32 0/1 ``[C*H*W]``."""
        return self.forward(wave, training=False)[-1].reshape(-1).clone()

    # ----------------------------------------------------------------------------- STDP
    def stdp_step(self, name: str, wave: Tensor) -> list[Winner]:
        """One sample of STDP on the conv ``name`` from an input wave; returns its k-WTA winners.

        The layers below run in training mode (``train_only`` inhibitions act, lower convs fire
        plainly); the conv's thresholded potentials go through pointwise inhibition (when
        ``conv.pointwise``) and k-WTA; then :func:`stdp` with this sample's rates. A branch of a
        block is computed alone, on the block's input, and competes only within itself.
        """
        conv = self.conv(name)
        rule = conv.rule
        if not isinstance(rule, STDP):
            raise ValueError(f"layer {name!r}: STDP needs a conv with an STDP rule, got {rule!r}")
        s_in = self.layer_input(name, wave, training=True)
        _, spikes, winners = self._compete(conv, s_in)
        self._update(name, rule, s_in, spikes, winners, self._next_rates(name))
        return winners

    def _update(
        self,
        name: str,
        rule: STDP | RSTDP,
        s_in: Tensor,
        spikes: Tensor,
        winners: list[Winner],
        rates: tuple[float, float],
    ) -> None:
        """:func:`stdp` of the conv ``name``'s winners with ``rates`` ``(a+, a-)`` and ``rule``'s
        stabiliser and bounds (the whole tensor clamped in compat mode)."""
        weight = self.weights[name]
        lr = torch.tensor(rates, dtype=torch.float32, device=weight.device)
        stdp(
            weight,
            s_in,
            spikes,
            winners,
            lr,
            stabilize=rule.stabilize,
            lb=rule.lb,
            ub=rule.ub,
            clamp_all=self.compat,
        )

    def _compete(self, conv: Conv, s_in: Tensor) -> tuple[Tensor, Tensor, list[Winner]]:
        """A thresholded conv on its padded input as while it learns: fire, pointwise inhibition
        (when ``conv.pointwise``), k-WTA ``(conv.k, conv.radius)``.

        Returns ``(thresholded, spikes, winners)``: its thresholded potentials ``P~`` before the
        inhibition, its spikes after it and its winners.
        """
        if conv.neuron is not None:
            thresholded = izhikevich_conv(s_in, self.weights[conv.name], conv.neuron, conv.threshold)[1]
        else:
            thresholded = _fire_in_place(conv_potentials(s_in, self.weights[conv.name]), conv.threshold)
        inhibited = pointwise_inhibition(thresholded) if conv.pointwise else thresholded
        spikes = inhibited.sign()
        return thresholded, spikes, get_k_winners(inhibited, conv.k, conv.radius, self.compat, spikes)

    # ----------------------------------------------------------------------------- decision
    def _decision_conv(self) -> Conv:
        if self._decision is None:
            raise ValueError(
                f"{self.spec.name}: not a decision network (its readout is "
                f"{type(self.spec.readout).__name__})"
            )
        return self._decision

    def _decide_conv(self, conv: Conv, s_in: Tensor) -> Decision:
        """One decision conv on its padded input: the first of a k-WTA ``(conv.k, conv.radius)``
        over its ``P[T-1]`` wins (Izhikevich neurons: over their first spikes, :func:`izhikevich_conv`);
        class = ``f // (F // n_classes)``, or -1 (silence)."""
        weight = self.weights[conv.name]
        per_class = conv.out_channels // self.spec.n_classes
        if conv.neuron is not None:  # the earliest spike decides (ties: larger P there, lower index)
            spikes, thresholded = izhikevich_conv(s_in, weight, conv.neuron, None)
            winners = get_k_winners(thresholded, conv.k, conv.radius, self.compat, spikes)
            if not winners:
                return Decision(-1, None, s_in, spikes)
            return Decision(winners[0][0] // per_class, winners[0], s_in, spikes)
        potentials = conv_potentials(s_in, weight)
        if self.exact_decision:  # P[T-1] summed in float64 (exactly, for such weights), rounded once
            potentials[-1] = F.conv2d(s_in[-1:].double(), weight.double())[0].to(torch.float32)
        spikes, thresholded = fire(potentials, None)
        winners = get_k_winners(thresholded, conv.k, conv.radius, self.compat)
        if not winners:
            return Decision(-1, None, s_in, spikes)
        return Decision(winners[0][0] // per_class, winners[0], s_in, spikes)

    def decide(self, wave: Tensor, training: bool = False) -> Decision | VoteDecision:
        """Run the network on one input wave and pick the decision neuron.

        The winner is the first of a k-WTA ``(conv.k, conv.radius)`` over the decision layer's
        ``P[T-1]``; class = ``f // (F // n_classes)``, or -1 (silence) when no neuron fires.
        A vote network runs every head this way on the block's input and returns a
        :class:`VoteDecision`: the :func:`vote` of the heads' classes and each head's
        :class:`Decision`. ``training``: run the layers below in training mode (as :meth:`rstdp`
        does).
        """
        if self._heads is not None:
            s_in = self.layer_input(self._heads.name, wave, training)
            heads = tuple(self._decide_conv(conv, s_in) for conv in self._heads.convs)
            return VoteDecision(vote([h.decision for h in heads], self._fallback), heads)
        conv = self._decision_conv()
        return self._decide_conv(conv, self.layer_input(conv.name, wave, training))

    def predict(self, wave: Tensor) -> int:
        """Class of one input wave (eval mode), or -1 when no decision neuron fires (every head,
        for a vote)."""
        return self.decide(wave).decision

    # ----------------------------------------------------------------------------- R-STDP
    def begin_phase(self, phase: Phase | None = None) -> None:
        """Start an R-STDP phase: forget the current chunk's counts and the chunks completed.

        The rates are kept: each layer's rates are its own state, rescaled only after a chunk.
        :meth:`rstdp` calls this itself when it is given a phase other than the current one
        (``phase=None`` continues the current phase).
        """
        self._phase = phase
        self._new_chunk()
        self._chunks_done = 0

    def _new_chunk(self) -> None:
        """Zero the current chunk's counts (calls, the decision's hits and misses, each head's)."""
        self._chunk_calls = self._chunk_hits = self._chunk_misses = 0
        self._head_hits = dict.fromkeys(self._head_hits, 0)
        self._head_misses = dict.fromkeys(self._head_misses, 0)

    def _rescale(self, name: str, hits: int, misses: int, chunk: int) -> None:
        """New rates of the R-STDP layer ``name`` after a chunk (7.3): its base reward rates times
        the miss fraction, its base punishment rates times the hit fraction, the products taken in
        float64 and stored in float32."""
        (r_plus, r_minus), (p_plus, p_minus) = self._rstdp_base[name]
        hit, miss = hits / chunk, misses / chunk
        self._rstdp_rates[name] = (
            (_f32(r_plus * miss), _f32(r_minus * miss)),
            (_f32(p_plus * hit), _f32(p_minus * hit)),
        )

    def _reinforce(
        self, conv: Conv, s_in: Tensor, spikes: Tensor, winners: list[Winner], reward: bool
    ) -> None:
        """One R-STDP update of ``conv``: :func:`stdp` of its winners with its reward rates (right
        answer) or punishment rates (wrong one), with its R-STDP rule's stabiliser and bounds."""
        rates = self._rstdp_rates[conv.name][0 if reward else 1]
        self._update(conv.name, _rstdp_rule(conv), s_in, spikes, winners, rates)

    def rstdp(self, wave: Tensor, label: int, phase: Phase | None = None, epoch: int = 0) -> int:
        """One R-STDP step of an R-STDP phase (7.3); returns the decision (-1 = silence).

        * A single decision layer (``phase`` ``None`` or without ``joint``): right, STDP of the
          winner with the reward rates; wrong, with the punishment rates; silent, nothing. After
          every ``chunk`` calls the rates are rescaled from their bases by the chunk's miss
          fraction (reward) and hit fraction (punishment), the products taken in float64 and
          stored in float32.
        * A vote network (``phase`` ``None`` or naming the block of heads): see
          :meth:`_rstdp_heads`.
        * A phase with ``joint`` convs: see :meth:`_rstdp_joint`.

        Args:
            wave: the input wave.
            label: the sample's class.
            phase: the phase being trained (:meth:`begin_phase` is called when it is not the
                current one); ``None`` trains the readout as the current phase.
            epoch: the 0-based epoch within the phase (read by the ``"repo_compat"`` schedule).
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch: expected an integer >= 0, got {epoch!r}")
        if self._heads is not None:
            if phase is not None and phase.layer != self._heads.name:
                raise ValueError(f"phase {phase.layer!r}: R-STDP trains the heads {self._heads.name!r}")
            if phase is not None and phase != self._phase:
                self.begin_phase(phase)
            return self._rstdp_heads(wave, int(label))
        conv = self._decision_conv()
        rule = conv.rule
        if not isinstance(rule, RSTDP):
            raise ValueError(f"layer {conv.name!r}: R-STDP needs an RSTDP rule, got {rule!r}")
        if phase is not None and phase.layer != conv.name:
            raise ValueError(f"phase {phase.layer!r}: R-STDP trains the decision layer {conv.name!r}")
        if phase is not None and phase != self._phase:
            self.begin_phase(phase)
        if phase is not None and phase.joint:
            return self._rstdp_joint(wave, int(label), phase, epoch)
        d = self.decide(wave, training=True)
        if d.winner is not None:
            hit = d.decision == int(label)
            if hit:
                self._chunk_hits += 1
            else:
                self._chunk_misses += 1
            self._reinforce(conv, d.input_wave, d.output_spikes, [d.winner], hit)
        self._chunk_calls += 1
        if self._chunk_calls == rule.rates.chunk:
            self._rescale(conv.name, self._chunk_hits, self._chunk_misses, rule.rates.chunk)
            self._new_chunk()
        return d.decision

    def _rstdp_heads(self, wave: Tensor, label: int) -> int:
        """One R-STDP step of the heads of a vote network (ZOO.md 4); returns the vote.

        Every head decides on the block's input (layers below in training mode). A head that does
        not stay silent is updated by its own answer: reward rates when its class is the label,
        punishment rates otherwise; a silent head is not updated. After every ``chunk`` calls
        every head is rescaled from its bases: ``adapt="head"`` by its own hit and miss fractions
        in the chunk, ``adapt="majority"`` by the vote's (a silent vote is neither).
        """
        block = self._heads
        d = self.decide(wave, training=True)
        for conv, head in zip(block.convs, d.heads, strict=True):
            if head.winner is None:
                continue
            hit = head.decision == label
            if hit:
                self._head_hits[conv.name] += 1
            else:
                self._head_misses[conv.name] += 1
            self._reinforce(conv, head.input_wave, head.output_spikes, [head.winner], hit)
        if d.decision == label:
            self._chunk_hits += 1
        elif d.decision >= 0:
            self._chunk_misses += 1
        self._chunk_calls += 1
        chunk = block.convs[0].rule.rates.chunk
        if self._chunk_calls == chunk:
            for conv in block.convs:
                if self.spec.readout.adapt == "head":
                    self._rescale(conv.name, self._head_hits[conv.name], self._head_misses[conv.name], chunk)
                else:
                    self._rescale(conv.name, self._chunk_hits, self._chunk_misses, chunk)
            self._new_chunk()
        return d.decision

    @staticmethod
    def _selected(phase: Phase, epoch: int, chunks_done: int) -> list[str]:
        """The learners of a joint phase that learn in chunk ``chunks_done`` (0-based) of it.

        ``"joint"``: every learner (the joint convs, then the decision conv);
        ``"alternate_chunks"``: learner ``chunks_done mod n``; ``"repo_compat"``: the joint conv
        when ``epoch + (chunks_done mod 2) == 0`` (the published precedence), else the decision
        conv.
        """
        learners = [*phase.joint, phase.layer]
        if phase.schedule == "joint":
            return learners
        if phase.schedule == "alternate_chunks":
            return [learners[chunks_done % len(learners)]]
        if phase.schedule == "repo_compat":
            return [phase.joint[0] if epoch + (chunks_done % 2) == 0 else phase.layer]
        raise ValueError(f"phase {phase.layer!r}: unknown schedule {phase.schedule!r}")

    def _rstdp_joint(self, wave: Tensor, label: int, phase: Phase, epoch: int) -> int:
        """One R-STDP step of a decision phase with ``joint`` convs (ZOO.md 2); returns the decision.

        1. Each joint conv runs as while it trains (on its input, layers below in training mode):
           fire, pointwise inhibition (when ``pointwise``), k-WTA ``(k, radius)``.
        2. The decision conv reads the highest joint conv's *uninhibited* spikes, through the
           layers between them (training mode), and decides as :meth:`decide` does.
        3. Right answer: every learner selected by the schedule for this chunk is rewarded (its
           winners, its reward rates, its R-STDP rule's stabiliser and bounds); wrong answer:
           punished; silence: nothing learns.
        4. Every sample counts in the chunk. After ``chunk`` samples (the decision rule's), the
           chunk counter advances; ``"joint"`` and ``"alternate_chunks"`` rescale every learner
           from its own bases by the chunk's fractions, ``"repo_compat"`` only the learner that
           the new counter selects (with the current ``epoch``).
        """
        decision_conv = self.conv(phase.layer)
        learned: dict[str, tuple[Tensor, Tensor, list[Winner]]] = {}
        top, top_spikes = None, None
        for name in sorted(phase.joint, key=self._position):
            s_in = self.layer_input(name, wave, training=True)
            thresholded, spikes, winners = self._compete(self.conv(name), s_in)
            learned[name] = (s_in, spikes, winners)
            top, top_spikes = name, thresholded.sign()  # plain fire: the spikes before inhibition
        between = self.spec.layers[self._position(top) + 1 : self._position(decision_conv.name)]
        d = self._decide_conv(decision_conv, self._run(between, top_spikes, training=True))
        learned[decision_conv.name] = (d.input_wave, d.output_spikes, [d.winner])

        if d.winner is not None:
            hit = d.decision == label
            if hit:
                self._chunk_hits += 1
            else:
                self._chunk_misses += 1
            for name in self._selected(phase, epoch, self._chunks_done):
                self._reinforce(self.conv(name), *learned[name], hit)
        self._chunk_calls += 1
        chunk = decision_conv.rule.rates.chunk
        if self._chunk_calls == chunk:
            self._chunks_done += 1
            if phase.schedule == "repo_compat":
                rescaled = self._selected(phase, epoch, self._chunks_done)
            else:
                rescaled = [*phase.joint, phase.layer]
            for name in rescaled:
                self._rescale(name, self._chunk_hits, self._chunk_misses, chunk)
            self._new_chunk()
        return d.decision


def _rstdp_rule(conv: Conv) -> RSTDP | None:
    """The R-STDP rule ``conv`` learns by, if any: a decision conv's ``rule``, a thresholded conv's
    ``reward_rule``."""
    if isinstance(conv.rule, RSTDP):
        return conv.rule
    return conv.reward_rule


# --------------------------------------------------------------------------- multi-spike neurons
# ALGORITHMS.md 11, one time step at a time over the whole layer, as the established simulators
# run them. Parameters come as the fastspike.neurons dataclasses (plain numbers); every float
# operation is float32, in the order the kernels' shared header pins.
def lif_reference(current: Tensor, params, v0: Tensor, ref0: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LIF with a refractory period over ``current [B, T, ...]`` -> ``(spikes uint8 [B, T, ...],
    v, ref, v trace [B, T, ...])``."""
    k, alpha, beta = params.coefficients()
    v, ref = v0.clone(), ref0.clone()
    spikes, trace = [], []
    for t in range(current.shape[1]):
        i_t = current[:, t]
        held = ref > 0
        if params.exact:
            v_new = (params.v_rest + (v - params.v_rest) * alpha) + (params.R * i_t) * beta
        else:
            v_new = v + k * ((params.v_rest - v) + params.R * i_t)
        s = ~held & (v_new >= params.v_th)
        v = torch.where(held | s, torch.full_like(v, params.v_reset), v_new)
        ref = torch.where(held, ref - 1, torch.where(s, torch.full_like(ref, params.n_ref), ref))
        spikes.append(s.to(torch.uint8))
        trace.append(v)
    return torch.stack(spikes, 1), v, ref, torch.stack(trace, 1)


def izhikevich_reference(
    current: Tensor, params, v0: Tensor, u0: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Izhikevich neurons over ``current [B, T, ...]`` -> ``(spikes, v, u, v trace)``."""
    h = params.dt / params.n_sub
    v, u = v0.clone(), u0.clone()
    spikes, trace = [], []

    def reset(v, u):
        s = v >= 30.0
        return s, torch.where(s, torch.full_like(v, params.c), v), torch.where(s, u + params.d, u)

    for t in range(current.shape[1]):
        i_t = current[:, t]
        if params.compat:
            s, v, u = reset(v, u)
        for _ in range(params.n_sub):
            v = v + h * ((((0.04 * v) * v + 5.0 * v) + 140.0 - u) + i_t)
        u = u + params.dt * (params.a * (params.b * v - u))
        if not params.compat:
            s, v, u = reset(v, u)
        spikes.append(s.to(torch.uint8))
        trace.append(v)
    return torch.stack(spikes, 1), v, u, torch.stack(trace, 1)
