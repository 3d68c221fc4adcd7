"""Batched input encoding (docs/reference/semantics.md#encoding): DoG filtering, threshold, local
normalisation and rank-order (intensity-to-latency) coding, for a whole batch
of images per call, on any device.

Numerics: the DoG correlation runs in float64 and is rounded to float32 once,
so the result does not depend on the batch size or the backend's convolution
algorithm; the local box sums are exact in float64 (every filtered value is a
multiple of 2**-18 below 2**11), so any summation order gives the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.spec import KHERADPISHEH_DOG, MOZAFARI_DOG  # the DoG banks: numbers in one place

__all__ = [
    "KHERADPISHEH_DOG",
    "MOZAFARI_DOG",
    "Encoder",
    "dog_filters",
    "rank_order",
]


def dog_filters(specs: Sequence[tuple[int, float, float]]) -> Tensor:
    """Difference-of-Gaussians bank ``[n, 1, S, S]`` float32 (S = largest size).

    Each ``(size, s1, s2)`` kernel is ``(g_s1 - g_s2) / 2pi`` with
    ``g_s = exp(-r^2 / 2s^2) / s^2`` on the integer grid, made zero-mean and
    divided by its maximum (float64, stored as float32); smaller kernels are
    centred in the largest window with zeros.
    """
    if not specs:
        raise ValueError("specs: expected at least one (size, sigma1, sigma2) triple")
    S = max(int(s) for s, _, _ in specs)
    bank = torch.zeros(len(specs), 1, S, S, dtype=torch.float32)
    for n, (size, s1, s2) in enumerate(specs):
        if size < 1 or size % 2 == 0:
            raise ValueError(f"specs[{n}]: kernel size must be odd and positive, got {size}")
        r = size // 2
        g = torch.arange(-r, r + 1, dtype=torch.float64)
        rho2 = g.view(-1, 1) ** 2 + g.view(1, -1) ** 2
        d = (torch.exp(-rho2 / (2 * s1**2)) / s1**2 - torch.exp(-rho2 / (2 * s2**2)) / s2**2) / (2 * math.pi)
        d = d - d.mean()
        d = d / d.max()
        o = (S - size) // 2
        bank[n, 0, o : o + size, o : o + size] = d.float()
    return bank


def _box_sum(x: Tensor, radius: int) -> Tensor:
    """Zero-padded (2r+1)^2 box sum over the last two dims, via an integral image.

    Exact for the filtered maps (see the module docstring), so it equals the
    direct 2-D sum bit for bit.
    """
    H, W = x.shape[-2:]
    k = 2 * radius + 1
    s = F.pad(x, (radius + 1, radius, radius + 1, radius)).cumsum(-1).cumsum(-2)
    return s[..., k:, k:] - s[..., :H, k:] - s[..., k:, :W] + s[..., :H, :W]


def rank_order(x: Tensor, T: int, mode: str = "clean", tie_consistent: bool = False) -> Tensor:
    """Intensity-to-latency coding of a batch ``[B, ...]`` -> uint8 times (T = never).

    Values are ranked per sample in descending order, ties by flat index; with
    ``n`` non-zero values and ``b = n // T`` each of the ``T`` bins holds ``b``
    values (rank ``q`` -> ``q // b``); the weakest ``n mod T`` and all zeros never
    spike. ``clean``: ``0 < n < T`` uses ``b = 1``; ``compat`` raises instead.
    ``tie_consistent`` gives every member of a run of equal values the time of its
    first rank.
    """
    if mode not in ("clean", "compat"):
        raise ValueError(f"mode: expected 'clean' or 'compat', got {mode!r}")
    if not 1 <= T <= 255:
        raise ValueError(f"T: expected 1 <= T <= 255 time steps, got {T}")
    B = x.shape[0]
    flat = x.reshape(B, -1)
    N = flat.shape[1]
    n = (flat > 0).sum(1)
    if mode == "compat" and bool((n < T).any()):
        i = int((n < T).nonzero()[0])
        raise ValueError(
            f"rank_order: sample {i} has {int(n[i])} non-zero values, fewer than T = {T} "
            "(the reference fails on such images; use mode='clean')"
        )
    vals, order = torch.sort(flat, dim=1, descending=True, stable=True)
    q = torch.arange(N, device=x.device).expand(B, N)
    if tie_consistent:
        new_run = torch.ones_like(vals, dtype=torch.bool)
        new_run[:, 1:] = vals[:, 1:] != vals[:, :-1]
        q = torch.where(new_run, q, torch.zeros_like(q)).cummax(dim=1).values
    b = torch.div(n, T, rounding_mode="floor").clamp_min(1).unsqueeze(1)
    tau = torch.where(q < T * b, torch.div(q, b, rounding_mode="floor"), torch.full_like(q, T))
    tau = torch.where(vals > 0, tau, torch.full_like(tau, T))
    out = torch.empty(B, N, dtype=torch.uint8, device=x.device)
    out.scatter_(1, order, tau.to(torch.uint8))
    return out.view(x.shape)


@dataclass
class Encoder:
    """DoG + threshold + local normalisation + rank-order coding, batched.

    Calling it on uint8 images ``[B, H, W]`` (or ``[B, 1, H, W]``) returns
    first-spike times ``[B, n_filters, H, W]`` uint8 (``T`` = never).
    """

    specs: tuple[tuple[int, float, float], ...] = MOZAFARI_DOG
    padding: int = 6
    threshold: float = 50.0
    norm_radius: int = 8
    T: int = 15
    mode: str = "clean"
    tie_consistent: bool = False
    _bank: Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        import math

        def bad(name: str, expected: str, got) -> ValueError:
            return ValueError(f"Encoder.{name}: expected {expected}, got {got!r}")

        try:
            specs = tuple(tuple(s) for s in self.specs)
        except TypeError:
            raise bad("specs", "a sequence of (size, sigma1, sigma2) DoG filters", self.specs) from None
        if not specs:
            raise bad("specs", "at least one (size, sigma1, sigma2) DoG filter", self.specs)
        for i, s in enumerate(specs):
            ok = len(s) == 3 and isinstance(s[0], int) and not isinstance(s[0], bool) and s[0] >= 1
            ok = ok and s[0] % 2 == 1 and all(isinstance(v, (int, float)) and 0 < v < math.inf for v in s[1:])
            if not ok:
                raise bad(f"specs[{i}]", "(odd size >= 1, sigma1 > 0, sigma2 > 0)", s)
        for name in ("padding", "norm_radius"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1024:
                raise bad(name, "an integer in [0, 1024]", v)
        if isinstance(self.cpu_chunk, bool) or not isinstance(self.cpu_chunk, int) or self.cpu_chunk < 1:
            raise bad("cpu_chunk", "a positive integer", self.cpu_chunk)
        if not isinstance(self.threshold, (int, float)) or not 0 <= self.threshold < math.inf:
            raise bad("threshold", "a finite number >= 0", self.threshold)
        if isinstance(self.T, bool) or not isinstance(self.T, int) or not 1 <= self.T <= 255:
            raise bad("T", "1 to 255 time steps", self.T)
        if self.mode not in ("clean", "compat"):
            raise bad("mode", "'clean' or 'compat'", self.mode)

    @property
    def channels(self) -> int:
        return len(self.specs)

    def key(self) -> str:
        """A string identifying the encoding parameters (for caches)."""
        return (
            f"dog{list(self.specs)}-p{self.padding}-th{self.threshold}-r{self.norm_radius}"
            f"-T{self.T}-{self.mode}-tc{int(self.tie_consistent)}"
        )

    @staticmethod
    def _images(images) -> Tensor:
        """``images`` as uint8 ``[B, 1, H, W]``, or a clear error."""
        if not isinstance(images, Tensor):
            raise TypeError(f"images: expected a uint8 tensor [B, H, W], got {type(images).__name__}")
        if images.dtype != torch.uint8:
            raise TypeError(f"images: expected uint8 pixels, got {images.dtype}")
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dim() != 4 or images.shape[1] != 1:
            raise ValueError(f"images: expected shape [B, H, W] or [B, 1, H, W], got {tuple(images.shape)}")
        if images.shape[2] < 1 or images.shape[3] < 1:
            raise ValueError(f"images: expected images of at least 1x1 pixels, got {tuple(images.shape)}")
        return images

    def filter(self, images: Tensor) -> Tensor:
        """DoG filtering + threshold: uint8 ``[B, (1,) H, W]`` -> float32 ``[B, n, H, W]``."""
        images = self._images(images)
        if self._bank is None or self._bank.device != images.device:
            self._bank = dog_filters(self.specs).to(images.device, torch.float64)
        x = (images.float() / 255 * 255).double()
        y = F.conv2d(x, self._bank, padding=self.padding).float()
        return torch.where(y < self.threshold, torch.zeros_like(y), y)

    def normalize(self, y: Tensor) -> Tensor:
        """Local normalisation: ``y / (box_(2R+1)^2(y) / (2R+1)^2 + 1e-12)``."""
        y64 = y.double()
        mean = _box_sum(y64, self.norm_radius) / (2 * self.norm_radius + 1) ** 2 + 1e-12
        return (y64 / mean).float()

    # samples per internal chunk on CPU: the float64 convolution's im2col buffer
    # of a whole batch leaves the caches (512 MNIST images: ~0.5 GB), which made
    # a batch of 512 slower per image than one image at a time
    cpu_chunk: int = 16

    def __call__(self, images: Tensor) -> Tensor:
        images = self._images(images)
        if images.shape[0] == 0:  # an empty batch encodes to an empty batch (of the right shape)
            return self(torch.zeros((1, *images.shape[1:]), dtype=torch.uint8, device=images.device))[:0]
        if images.device.type == "cpu" and images.shape[0] > self.cpu_chunk:
            # every step is per sample, so chunking changes no result
            return torch.cat(
                [self(images[s : s + self.cpu_chunk]) for s in range(0, images.shape[0], self.cpu_chunk)]
            )
        return rank_order(self.normalize(self.filter(images)), self.T, self.mode, self.tie_consistent)
