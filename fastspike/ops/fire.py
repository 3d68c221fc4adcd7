"""``fastspike::fire`` (csrc/ops/fire.cpp): cumulative fire of potentials ``[B, T, ...]``."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import expect_tensor

__all__ = ["fire"]

_ops = torch.ops.fastspike


def fire(potentials: Tensor, threshold: float | None, return_thresholded: bool = False):
    """Cumulative fire (docs/reference/semantics.md#fire).

    Args:
        potentials: ``[B, T, ...]`` float potentials.
        threshold: spike where ``P[t] > threshold`` (strict, ``threshold >= 0``);
            ``None`` is the "no threshold" mode: spike only at ``T-1`` where ``P[T-1] > 0``.
        return_thresholded: also return ``P`` where it spikes and 0 elsewhere.

    Returns:
        ``(spikes, thresholded)``: uint8 ``[B, T, ...]`` and, on request, the
        thresholded potentials ``[B, T, ...]`` (else ``None``).
    """
    expect_tensor(potentials, "potentials", "a float tensor [B, T, ...]")
    spikes, thr = _ops.fire(potentials, threshold, return_thresholded)
    return spikes, (thr if return_thresholded else None)


@torch.library.register_fake("fastspike::fire")
def _fire_fake(potentials, threshold, return_thresholded=False):
    spikes = potentials.new_empty(potentials.shape, dtype=torch.uint8)
    thr = potentials.new_empty(potentials.shape if return_thresholded else (0,))
    return spikes, thr
