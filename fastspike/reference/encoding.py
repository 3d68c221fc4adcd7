"""The reference input encoding (docs/reference/semantics.md#encoding) and the wave format.

An 8-bit image becomes first-spike times in three plain steps: a Difference-of-Gaussians filter
bank (:func:`dog_kernel`, :func:`dog_bank`, :func:`filter_image`), local normalisation
(:func:`local_normalization`) and intensity-to-latency rank-order coding
(:func:`rank_order_times`); :func:`encode_image` chains them. :func:`times_to_wave` and
:func:`wave_to_times` convert between first-spike times and the cumulative float32 spike waves
the rest of the reference runs on.

The filter banks are arguments: the models' banks live in :mod:`fastspike.registry`
(``MOZAFARI_DOG``, ``KHERADPISHEH_DOG``) and the callers pass them, so this module depends on
nothing but torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "dog_bank",
    "dog_kernel",
    "encode_image",
    "filter_image",
    "local_normalization",
    "rank_order_times",
    "times_to_wave",
    "wave_to_times",
]


def dog_kernel(size: int, sigma1: float, sigma2: float) -> Tensor:
    """Difference-of-Gaussians kernel (docs/reference/semantics.md#dog).

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


def dog_bank(specs: Sequence[tuple[int, float, float]]) -> Tensor:
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
    """Correlate an 8-bit image with a DoG bank and drop weak responses
    (docs/reference/semantics.md#filtering).

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
    """Divide every value by its local mean, channel by channel
    (docs/reference/semantics.md#local-normalisation).

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
    """Intensity-to-latency (rank-order) coding (docs/reference/semantics.md#rank-order).

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
    specs: Sequence[tuple[int, float, float]],
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
        specs: the DoG bank, ``(size, sigma1, sigma2)`` triples (:func:`dog_bank`); the caller
            passes the model's, e.g. :data:`fastspike.registry.MOZAFARI_DOG` (padding 6) or
            :data:`fastspike.registry.KHERADPISHEH_DOG` (padding 3).
        padding, threshold: the filtering (see :func:`filter_image`).
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
