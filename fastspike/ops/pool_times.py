"""``fastspike::pool_times`` (csrc/ops/pool_times.cpp): max-pooling of spike waves in
first-spike form, fused with the next layer's padding."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_times, on_device

__all__ = ["pool_times"]

_ops = torch.ops.fastspike


def pool_times(
    times: Tensor,
    kernel: int,
    stride: int,
    padding: int,
    T: int,
    out_padding: int = 0,
    validate: bool | None = None,
) -> Tensor:
    """Max-pooling of spike waves in first-spike form, then padding with never.

    The minimum of ``tau`` over each ``kernel x kernel`` window (stride
    ``stride``, floor mode; ``padding`` cells of never around the input,
    ``padding <= kernel // 2``), then ``out_padding`` rows and columns of never
    (``T``) around the result: the next layer's explicit padding, in the same pass.

    Args:
        times: ``[B, C, H, W]`` uint8/int16 first-spike times.

    Returns:
        ``[B, C, Ho + 2*out_padding, Wo + 2*out_padding]`` with
        ``Ho = (H + 2*padding - kernel) // stride + 1`` (same for ``Wo``).

    ``validate``: check the times on a GPU too (one host sync).
    """
    if on_device(times, validate=validate):
        check_times(times, T)
    return _ops.pool_times(times, kernel, stride, padding, T, out_padding)


@torch.library.register_fake("fastspike::pool_times")
def _pool_times_fake(times, kernel, stride, padding, T, out_padding=0):
    B, C, H, W = times.shape
    Ho = (H + 2 * padding - kernel) // stride + 1 + 2 * out_padding
    Wo = (W + 2 * padding - kernel) // stride + 1 + 2 * out_padding
    return times.new_empty((B, C, Ho, Wo))
