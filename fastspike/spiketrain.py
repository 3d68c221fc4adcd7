"""Multi-step spike trains: a device-independent Poisson (Bernoulli-per-step)
encoder and a bit-packed spike-train container. Pure PyTorch, no C++.

Random numbers
--------------
``philox4x32`` is the Philox-4x32 counter-based generator (Salmon, Moraes, Dror
and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the Random123
library), written with int64 tensor ops that hold 32-bit values. Every
intermediate stays below 2**49: a 32x32 -> 64-bit product ``M * x`` is formed
from two 32x16-bit products ``x * (M & 0xffff)`` and ``x * (M >> 16)`` (each
< 2**48), so nothing relies on signed 64-bit overflow and the bits are the same
on every device, for any batch split and any thread count. With the default 10
rounds it reproduces the published Random123 known-answer vectors.

Poisson encoding
----------------
``poisson_encode(x, T, r_max, dt, seed)`` turns intensities ``x [B, ...]`` into
independent spikes ``uint8 [B, T, ...]`` (one Bernoulli draw per element and
step, NOT cumulative). For sample ``b`` (global index ``g = sample_offset + b``),
flat element ``e`` (row-major index into ``x[b]``) and step ``t``:

* ``p = min(1, x * r_max * dt)`` in float32: ``x`` is converted to float32,
  ``r_max`` and ``dt`` are rounded to float32, and the products are evaluated
  left to right, ``(x * r_max) * dt``, each rounded to float32 (IEEE-754, round
  to nearest even);
* the integer threshold is ``thr = floor(p * 2**32)`` (exact: ``p * 2**32`` is a
  power-of-two scaling), so ``p = 0 -> thr = 0`` (never) and ``p = 1 ->
  thr = 2**32`` (always);
* Philox-4x32-10 is evaluated at

      counter = (e, t // 4, g mod 2**32, g // 2**32),  key = (seed mod 2**32, seed // 2**32)

  and output word ``t % 4`` is the draw ``u`` for step ``t`` (one Philox call
  serves four consecutive steps of one element);
* the element spikes at step ``t`` iff ``u < thr`` (an exact integer comparison).

So a spike depends only on ``(seed, g, e, t)`` and the element's own ``p``:
never on ``B``, on how a data set is split into batches (pass the batch's first
global index as ``sample_offset``), on ``T`` (a shorter train is a prefix of a
longer one), on the chunking, or on the device. Limits: ``e < 2**32`` elements
per sample, ``0 <= seed < 2**64``, ``sample_offset + B <= 2**64``.

Packed spike trains
-------------------
``PackedSpikes`` stores a binary train ``[B, T, *shape]`` as ``bits`` ``uint8
[B, T, ceil(N / 8)]`` with ``N = prod(shape)``: neuron ``n`` (row-major flat
index) is bit ``n % 8`` (least significant first) of byte ``n // 8``; the unused
high bits of the last byte are zero. Memory per sample is ``T * ceil(N / 8)``
bytes instead of ``T * N`` as dense uint8; e.g. 784 inputs x 350 steps take
34,300 bytes instead of 274,400.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "PHILOX_M4x32",
    "PHILOX_W32",
    "PackedSpikes",
    "pack_spikes",
    "philox4x32",
    "poisson_encode",
]

PHILOX_M4x32 = (0xD2511F53, 0xCD9E8D57)  # round multipliers (Random123 PHILOX_M4x32_0/1)
PHILOX_W32 = (0x9E3779B9, 0xBB67AE85)  # Weyl key increments (Random123 PHILOX_W32_0/1)

_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF
_TWO32 = 1 << 32
_TWO64 = 1 << 64
_FLT_MAX = torch.finfo(torch.float32).max


def _mulhilo(x: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``(hi, lo)`` 32-bit halves of ``m * x`` for int64 ``x`` in [0, 2**32) and a
    32-bit constant ``m``, with every intermediate below 2**49 (no overflow)."""
    p_lo = x * (m & _MASK16)  # < 2**48
    p_hi = x * (m >> 16)  # < 2**48; m * x = p_hi * 2**16 + p_lo
    hi = (p_hi + (p_lo >> 16)) >> 16  # floor(m * x / 2**32), < 2**32
    lo = (p_lo + ((p_hi & _MASK16) << 16)) & _MASK32  # < 2**48 + 2**32 before the mask
    return hi, lo


def _philox_words(
    c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor | int, k1: Tensor | int, rounds: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox-4x32-``rounds`` on four broadcastable int64 counter words (values in
    [0, 2**32)). The key words are Python ints or int64 tensors; the result words
    have the broadcast shape (small inputs stay cheap for the first rounds)."""
    m0, m1 = PHILOX_M4x32
    w0, w1 = PHILOX_W32
    for r in range(rounds):
        if r > 0:  # the key is bumped before every round but the first (same code for int or tensor)
            k0 = (k0 + w0) & _MASK32
            k1 = (k1 + w1) & _MASK32
        hi0, lo0 = _mulhilo(c0, m0)
        hi1, lo1 = _mulhilo(c2, m1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _uint32_words(t, name: str, n: int) -> Tensor:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected an integer tensor [..., {n}], got {type(t).__name__}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name}: expected an integer tensor (int64 holding uint32 values), got {t.dtype}")
    if t.dim() < 1 or t.shape[-1] != n:
        raise ValueError(f"{name}: expected shape [..., {n}], got {tuple(t.shape)}")
    t = t.to(torch.int64)
    if t.numel() and (bool((t < 0).any()) or bool((t > _MASK32).any())):
        raise ValueError(f"{name}: expected values in [0, 2**32), got min {int(t.min())}, max {int(t.max())}")
    return t


def philox4x32(counter: Tensor, key: Tensor, rounds: int = 10) -> Tensor:
    """Philox-4x32-``rounds`` (Random123) of ``counter [..., 4]`` under ``key [..., 2]``.

    Both are integer tensors holding uint32 values (int64 recommended); their
    leading dims broadcast. Returns int64 ``[..., 4]`` with values in
    [0, 2**32), bit-identical on every device. Word order follows Random123:
    ``counter[..., i]`` is ``ctr.v[i]``, ``key[..., i]`` is ``key.v[i]``.
    """
    if not _is_int(rounds) or rounds < 0:
        raise ValueError(f"rounds: expected a non-negative int, got {rounds!r}")
    c = _uint32_words(counter, "counter", 4)
    k = _uint32_words(key, "key", 2)
    if c.device != k.device:
        raise ValueError(f"key: expected a tensor on {c.device} (the counter's device), got {k.device}")
    words = _philox_words(c[..., 0], c[..., 1], c[..., 2], c[..., 3], k[..., 0], k[..., 1], int(rounds))
    shape = torch.broadcast_shapes(c.shape[:-1], k.shape[:-1])
    return torch.stack([w.expand(shape) for w in words], dim=-1)


def _check_inputs(x, T, r_max, dt, seed, sample_offset, chunk) -> None:
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x: expected a floating-point tensor [B, ...] of intensities, got {got}")
    if x.dim() < 1:
        raise ValueError(f"x: expected shape [B, ...] (at least 1-D), got {tuple(x.shape)}")
    if not _is_int(T) or T <= 0:
        raise ValueError(f"T: expected a positive int number of time steps, got {T!r}")
    if not _is_real(dt) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    if not 0 < abs(float(torch.tensor(float(dt), dtype=torch.float32))) <= _FLT_MAX:
        raise ValueError(f"dt: expected a value > 0 that stays finite and non-zero in float32, got {dt!r}")
    if not _is_real(r_max) or not math.isfinite(r_max) or r_max < 0:
        raise ValueError(f"r_max: expected a finite number >= 0, got {r_max!r}")
    if not math.isfinite(float(torch.tensor(float(r_max), dtype=torch.float32))):
        raise ValueError(f"r_max: expected a value that stays finite in float32, got {r_max!r}")
    if not _is_int(seed) or not 0 <= seed < _TWO64:
        raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
    if not _is_int(sample_offset) or sample_offset < 0:
        raise ValueError(f"sample_offset: expected an int >= 0, got {sample_offset!r}")
    if sample_offset + x.shape[0] > _TWO64:
        raise ValueError(
            f"sample_offset: expected sample_offset + B <= 2**64, got {sample_offset} + {x.shape[0]}"
        )
    if not _is_int(chunk) or chunk <= 0:
        raise ValueError(f"chunk: expected a positive int (Philox calls per chunk), got {chunk!r}")
    n = math.prod(x.shape[1:])
    if n > _TWO32:
        raise ValueError(f"x: expected at most 2**32 elements per sample, got {n}")


def _thresholds(x: Tensor, r_max: float, dt: float) -> Tensor:
    """``floor(min(1, (x * r_max) * dt) * 2**32)`` as int64 ``[B, N]`` (float32 maths)."""
    xf = x.reshape(x.shape[0], math.prod(x.shape[1:])).to(torch.float32)
    if not bool(torch.isfinite(xf).all()):
        raise ValueError("x: expected finite values (no NaN or inf, also after conversion to float32)")
    if xf.numel() and bool((xf < 0).any()):
        raise ValueError(f"x: expected intensities >= 0, got min {float(xf.min())}")
    r32 = torch.tensor(float(r_max), dtype=torch.float32, device=xf.device)
    d32 = torch.tensor(float(dt), dtype=torch.float32, device=xf.device)
    p = torch.clamp_max((xf * r32) * d32, 1.0)  # 0-d float32 tensors: float32 arithmetic everywhere
    return torch.floor(p * float(_TWO32)).to(torch.int64)  # exact: p * 2**32 only shifts the exponent


def poisson_encode(
    x: Tensor,
    T: int,
    r_max: float,
    dt: float,
    seed: int,
    sample_offset: int = 0,
    *,
    chunk: int = 1 << 16,
) -> Tensor:
    """Bernoulli-per-step ("Poisson") spike trains ``uint8 [B, T, ...]`` from ``x [B, ...]``.

    Element ``e`` of sample ``b`` spikes at step ``t`` independently with
    probability ``p = min(1, x * r_max * dt)`` (float32; ``r_max`` in spikes per
    unit time, ``dt`` the step length in the same unit), decided by
    ``u < floor(p * 2**32)`` where ``u`` is word ``t % 4`` of Philox-4x32-10 at
    counter ``(e, t // 4, g_lo, g_hi)`` and key ``(seed_lo, seed_hi)``, with
    ``g = sample_offset + b`` (see the module docstring). The result is the same
    on every device and for every batch split, chunk size and thread count.

    ``x``: float tensor (any floating dtype, converted to float32), finite, >= 0.
    ``chunk``: Philox calls (4 steps of one element each) evaluated at once; it
    bounds the temporary memory (about 150 bytes per call) and never changes
    the result. The output is on ``x``'s device.
    """
    _check_inputs(x, T, r_max, dt, seed, sample_offset, chunk)
    T, seed, sample_offset, chunk = int(T), int(seed), int(sample_offset), int(chunk)  # e.g. numpy ints
    r_max, dt = float(r_max), float(dt)
    B = x.shape[0]
    shape = tuple(x.shape[1:])
    N = math.prod(shape)
    dev = x.device
    thr = _thresholds(x, r_max, dt)  # [B, N] int64 in [0, 2**32]
    out = torch.empty(B, T, N, dtype=torch.uint8, device=dev)
    if B == 0 or N == 0:
        return out.view(B, T, *shape)

    k0, k1 = seed & _MASK32, seed >> 32
    TB = (T + 3) // 4  # Philox blocks of 4 steps
    ne = min(N, chunk)
    ntb = min(TB, max(1, chunk // ne))
    nb = min(B, max(1, chunk // (ne * ntb)))
    off_lo, off_hi = sample_offset & _MASK32, sample_offset >> 32

    for b0 in range(0, B, nb):
        b1 = min(B, b0 + nb)
        g = torch.arange(b0, b1, dtype=torch.int64, device=dev) + off_lo  # < 2**32 + B: no overflow
        g_lo = (g & _MASK32).view(-1, 1, 1)
        g_hi = ((g >> 32) + off_hi).view(-1, 1, 1)  # sample_offset + B <= 2**64 keeps this < 2**32
        for tb0 in range(0, TB, ntb):
            tb1 = min(TB, tb0 + ntb)
            t0, t1 = 4 * tb0, min(T, 4 * tb1)
            c1 = torch.arange(tb0, tb1, dtype=torch.int64, device=dev).view(1, -1, 1)
            for e0 in range(0, N, ne):
                e1 = min(N, e0 + ne)
                c0 = torch.arange(e0, e1, dtype=torch.int64, device=dev).view(1, 1, -1)
                words = _philox_words(c0, c1, g_lo, g_hi, k0, k1, 10)  # each [nb', ntb', ne']
                th = thr[b0:b1, e0:e1].unsqueeze(1)
                spikes = torch.stack([w < th for w in words], dim=2)  # [nb', ntb', 4, ne']: step 4*tb + k
                spikes = spikes.view(b1 - b0, 4 * (tb1 - tb0), e1 - e0)
                out[b0:b1, t0:t1, e0:e1] = spikes[:, : t1 - t0]
    return out.view(B, T, *shape)


@dataclass
class PackedSpikes:
    """A binary spike train ``[B, T, *shape]`` stored 8 neurons per byte.

    ``bits``: uint8 ``[B, T, ceil(N / 8)]`` with ``N = prod(shape)``; neuron ``n``
    (row-major flat index over ``shape``) is bit ``n % 8`` of byte ``n // 8``,
    least significant bit first; the unused high bits of the last byte are 0.
    ``shape``: the neuron shape (without B and T). Memory per sample:
    ``T * ceil(N / 8)`` bytes.
    """

    bits: Tensor
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        try:
            self.shape = tuple(int(s) for s in self.shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape: expected a tuple of ints, got {self.shape!r}") from None
        if any(s < 0 for s in self.shape):
            raise ValueError(f"shape: expected non-negative sizes, got {self.shape}")
        if not isinstance(self.bits, Tensor) or self.bits.dtype != torch.uint8 or self.bits.dim() != 3:
            got = (self.bits.dtype, tuple(self.bits.shape)) if isinstance(self.bits, Tensor) else self.bits
            raise ValueError(f"bits: expected a uint8 tensor [B, T, ceil(N/8)], got {got}")
        nbytes = (self.num_neurons + 7) // 8
        if self.bits.shape[2] != nbytes:
            raise ValueError(
                f"bits: expected last dim ceil(N/8) = {nbytes} for shape {self.shape}, "
                f"got {tuple(self.bits.shape)}"
            )
        rem = self.num_neurons % 8
        if rem and self.bits.numel() and bool((self.bits[:, :, -1] >> rem).any()):
            raise ValueError(f"bits: the {8 - rem} unused high bits of the last byte must be 0")

    @property
    def num_neurons(self) -> int:
        return math.prod(self.shape)

    @property
    def batch_size(self) -> int:
        return self.bits.shape[0]

    @property
    def T(self) -> int:
        return self.bits.shape[1]

    @property
    def bytes_per_sample(self) -> int:
        """``T * ceil(N / 8)``."""
        return self.bits.shape[1] * self.bits.shape[2]

    def unpack(self) -> Tensor:
        """Dense uint8 ``[B, T, *shape]`` with values 0/1."""
        B, T, nbytes = self.bits.shape
        planes = [(self.bits >> k) & 1 for k in range(8)]  # bit k of byte j -> neuron 8j + k
        dense = torch.stack(planes, dim=3).view(B, T, nbytes * 8)[:, :, : self.num_neurons]
        return dense.reshape(B, T, *self.shape)

    def count(self) -> Tensor:
        """Spikes per neuron over the T steps, int32 ``[B, *shape]``."""
        B, T, nbytes = self.bits.shape
        counts = torch.empty(B, nbytes, 8, dtype=torch.int32, device=self.bits.device)
        for k in range(8):
            counts[:, :, k] = ((self.bits >> k) & 1).sum(1, dtype=torch.int32)
        return counts.view(B, nbytes * 8)[:, : self.num_neurons].reshape(B, *self.shape)


def pack_spikes(dense: Tensor) -> PackedSpikes:
    """Pack a binary train ``[B, T, ...]`` (uint8 or bool, values 0/1) into ``PackedSpikes``."""
    if not isinstance(dense, Tensor) or dense.dtype not in (torch.uint8, torch.bool):
        got = dense.dtype if isinstance(dense, Tensor) else type(dense).__name__
        raise ValueError(f"dense: expected a uint8 or bool tensor [B, T, ...], got {got}")
    if dense.dim() < 2:
        raise ValueError(f"dense: expected shape [B, T, ...] (at least 2-D), got {tuple(dense.shape)}")
    if dense.dtype == torch.uint8 and dense.numel() and bool((dense > 1).any()):
        raise ValueError(f"dense: expected values 0 or 1, got max {int(dense.max())}")
    B, T = dense.shape[:2]
    shape = tuple(dense.shape[2:])
    N = math.prod(shape)
    nbytes = (N + 7) // 8
    flat = dense.reshape(B, T, N).to(torch.uint8)
    if nbytes * 8 != N:
        flat = torch.nn.functional.pad(flat, (0, nbytes * 8 - N))
    flat = flat.view(B, T, nbytes, 8)
    bits = torch.zeros(B, T, nbytes, dtype=torch.uint8, device=dense.device)
    for k in range(8):
        bits |= flat[..., k] << k
    return PackedSpikes(bits=bits, shape=shape)
