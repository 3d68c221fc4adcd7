"""``fastspike::kwta`` (csrc/ops/kwta.cpp): k-winners-take-all with lateral inhibition."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_finite, check_times, on_device

__all__ = ["kwta"]

_ops = torch.ops.fastspike


def kwta(
    times: Tensor,
    values: Tensor,
    T: int,
    k: int,
    radius: int = 0,
    compat: bool = False,
    validate: bool | None = None,
) -> Tensor:
    """k-winners-take-all with lateral inhibition, for a whole batch, with no host sync.

    Each sample independently selects up to ``k`` winners, best first: earliest
    spike, then largest potential, then lowest flat index ``f*H*W + y*W + x``.
    A winner silences its feature everywhere and, when ``radius > 0``, every
    feature in the ``(2r+1) x (2r+1)`` window around it (clipped at the borders).

    Args:
        times: ``[B, F, H, W]`` uint8/int16 first-spike times (candidates have ``tau < T``).
        values: ``[B, F, H, W]`` float32 potentials at the first spike.
        T: number of time steps (at most 255).
        k: winners per sample (``>= 1``).
        radius: lateral inhibition radius (``>= 0``; 0 = none).
        compat: rank by the reference's float32 score ``(T - tau) * (V + T*Vmax)``.
        validate: check the times and values on a GPU too (one host sync).

    Returns:
        ``[B, k, 3]`` int32 winners ``(feature, row, col)``; rows of ``-1`` where fewer exist.
    """
    if on_device(times, validate=validate):
        check_times(times, T)
        check_finite(values, "values")
    return _ops.kwta(times, values, T, k, radius, compat)


@torch.library.register_fake("fastspike::kwta")
def _kwta_fake(times, values, T, k, radius, compat=False):
    return times.new_empty((times.shape[0], k, 3), dtype=torch.int32)
