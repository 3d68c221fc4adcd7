"""``fastspike::stdp_update`` (csrc/ops/stdp_update.cpp): batched STDP / anti-STDP of a
convolution's weights, in place, samples in order."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_finite, check_times, on_device, validate_winners

__all__ = ["stdp_update"]

_ops = torch.ops.fastspike


def stdp_update(
    weight: Tensor,
    times_in: Tensor,
    times_out: Tensor,
    winners: Tensor,
    lr: Tensor,
    T: int,
    *,
    stabilize: bool = True,
    lb: float = 0.0,
    ub: float = 1.0,
    clamp_all: bool = False,
    validate: bool | None = None,
) -> None:
    """Batched STDP / anti-STDP, in place, applied in sample order (docs/reference/semantics.md#batched-stdp).

    For each sample ``b`` and winner ``(f, y, x)``, every synapse ``(c, i, j)`` of
    feature ``f`` gets ``a+`` if ``tau_in[b, c, y+i, x+j] <= tau_out[b, f, y, x]``
    (pre before or with post), else ``a-``; with ``stabilize`` the rate is
    multiplied by ``(W - lb)(ub - W)``; then ``W`` is clamped to ``[lb, ub]``.
    ``B = 1`` is exactly the sequential rule.

    Args:
        weight: ``[F, C, kh, kw]`` float32, contiguous; updated in place.
        times_in: ``[B, C, Hp, Wp]`` the layer's padded input times.
        times_out: ``[B, F, Hp-kh+1, Wp-kw+1]`` the layer's output times.
        winners: ``[B, k, 3]`` int32/int64 from :func:`fastspike.ops.kwta` (``-1`` rows skipped).
        lr: ``[B, 2]`` or ``[B, F, 2]`` float32 ``(a_plus, a_minus)``; use
            negative ``a_plus`` for anti-STDP (R-STDP punishment), zeros to skip.
        T: number of time steps.
        stabilize, lb, ub: stabiliser flag and weight bounds (``lb <= ub``).
        clamp_all: clamp the whole weight after every sample, winners or not (reference quirk:
            each sample is one call of the reference's rule).
        validate: check the winners, times, rates and weights on CUDA too (one host
            sync; the CPU kernel always checks). Defaults to True.
    """
    if on_device(weight, validate=validate):
        check_times(times_in, T, "times_in")
        check_times(times_out, T, "times_out")
        check_finite(lr, "lr")
        check_finite(weight, "weight")
        validate_winners(winners, times_out, T)
    _ops.stdp_update(weight, times_in, times_out, winners, lr, T, stabilize, lb, ub, clamp_all)
    # the operator writes in place without autograd's bookkeeping: bump the
    # version counter so that anything keyed on it (layer caches) sees the change
    torch.autograd.graph.increment_version(weight)


@torch.library.register_fake("fastspike::stdp_update")
def _stdp_update_fake(weight, times_in, times_out, winners, lr, T, stabilize, lb, ub, clamp_all=False):
    return None
