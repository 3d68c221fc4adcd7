"""``fastspike::pointwise_inhibition`` (csrc/ops/pointwise_inhibition.cpp): per position,
only the earliest feature keeps its spike."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_finite, check_times, on_device

__all__ = ["pointwise_inhibition"]

_ops = torch.ops.fastspike


def pointwise_inhibition(times: Tensor, values: Tensor, T: int, validate: bool | None = None):
    """Per position, keep only the earliest feature (ties: larger value, then lower index).

    Args:
        times: ``[B, F, H, W]`` uint8/int16 first-spike times (``T`` = never).
        values: ``[B, F, H, W]`` float32 potentials at the first spike.
        T: number of time steps.

        validate: check the times and values on a GPU too (one host sync).

    Returns:
        ``(times, values)`` with every loser set to never (``T``) and 0.
    """
    if on_device(times, validate=validate):
        check_times(times, T)
        check_finite(values, "values")
    return _ops.pointwise_inhibition(times, values, T)


@torch.library.register_fake("fastspike::pointwise_inhibition")
def _pointwise_inhibition_fake(times, values, T):
    return torch.empty_like(times), torch.empty_like(values)
