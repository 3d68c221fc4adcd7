"""``fastspike::final_potential`` (csrc/ops/final_potential.cpp): ``P[T-1]`` of an
integrate-and-fire convolution, exactly rounded (the decision layer's potential)."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_times, check_weights, expect_tensor, on_device

__all__ = ["final_potential", "final_potential_tap_sums"]

_ops = torch.ops.fastspike


def final_potential(
    times_in: Tensor,
    weight: Tensor,
    T: int,
    border: int = 0,
    weight_rows: Tensor | None = None,
    max_event_fraction: float = 1.0,
    tap_sums: Tensor | None = None,
    validate: bool | None = None,
):
    """``P[T-1]`` of an integrate-and-fire convolution, exactly rounded.

    The sum of the weights of every input that fires at all (``tau < T``),
    accumulated in float64 and rounded once to float32. Whenever float64 holds
    the sums exactly (weights whose exponents span fewer than about 25 binades,
    such as the decision layer's ``[0.2, 0.8]``), this is the correctly rounded
    exact sum: it does not depend on the order of the additions, the batch or
    the device. It is what a decision layer without threshold (``theta =
    None``) needs: ``tau = T-1`` where ``P > 0``.

    Args:
        times_in: ``[B, C, Hp, Wp]`` padded first-spike times.
        weight: ``[F, C, kh, kw]`` float32, non-negative.
        border: how many outer rows/columns of ``times_in`` are padding (they
            must never fire; the CPU kernel skips them).
        weight_rows: ``weight.permute(1, 2, 3, 0).contiguous()``, if the caller
            keeps it (the operator reads the weights in that layout).
        max_event_fraction: the CPU kernel visits, per sample, the inputs that
            fire or those that do not, whichever are fewer ("events"); a sample
            with more events than this fraction of its inner inputs is left to
            the caller (0 in the output, ``False`` in ``done``). 1.0: all.
        tap_sums: :func:`final_potential_tap_sums` of these weights, if the
            caller keeps it while they do not change. The CPU kernel otherwise
            reads every weight on every call for these sums (the decision
            layer's 5 MB: ~0.2 ms, most of a batch-of-one call). When it is
            given, the weights are not re-checked for negative values.
        validate: check that the weights are finite and ``>= 0`` on other devices too
            (one host sync; the CPU kernel always checks). Defaults to True.

    Returns:
        ``(P, done)``: ``P`` ``[B, F, Hp - kh + 1, Wp - kw + 1]`` float32 and
        ``done`` ``[B]`` bool, the samples that were computed.
    """
    expect_tensor(times_in, "times_in", "first-spike times [B, C, H, W]")
    expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
    if on_device(times_in, weight, validate=validate):
        check_times(times_in, T, "times_in")
        check_weights(weight, "weight")
    if weight_rows is None:
        if weight.dim() != 4:
            raise ValueError(f"weight: expected a 4-D tensor [F, C, kh, kw], got shape {tuple(weight.shape)}")
        weight_rows = weight.permute(1, 2, 3, 0).contiguous()
    return _ops.final_potential(times_in, weight_rows, T, border, max_event_fraction, tap_sums)


def final_potential_tap_sums(weight: Tensor) -> Tensor:
    """``[kh, kw, F]`` float64: the weights summed over the input channels, with
    subnormal weights counted as 0 as in the CPU kernels (exact whenever the sums
    are, see :func:`final_potential`), for ``final_potential(..., tap_sums=)``.
    Raises ``ValueError`` on negative weights."""
    expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
    if weight.dim() != 4 or weight.dtype != torch.float32:
        raise ValueError(f"weight: expected [F, C, kh, kw] float32, got {weight.dtype} {tuple(weight.shape)}")
    check_weights(weight, "weight")
    w = torch.where(weight.abs() < torch.finfo(torch.float32).tiny, 0.0, weight.double())
    return w.sum(1).permute(1, 2, 0).contiguous()


@torch.library.register_fake("fastspike::final_potential")
def _final_potential_fake(times_in, weight_rows, T, border=0, max_event_fraction=1.0, tap_sums=None):
    B, _, Hp, Wp = times_in.shape
    _, kh, kw, F = weight_rows.shape
    return (
        times_in.new_empty((B, F, Hp - kh + 1, Wp - kw + 1), dtype=torch.float32),
        times_in.new_empty((B,), dtype=torch.bool),
    )
