"""``fastspike::conv_fire`` (csrc/ops/conv_fire.cpp): the integrate-and-fire convolution
on first-spike times, fused with fire."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_times, check_weights, on_device

__all__ = ["conv_fire"]

_ops = torch.ops.fastspike


def conv_fire(
    times_in: Tensor,
    weight: Tensor,
    T: int,
    threshold: float | None,
    return_potentials: bool = False,
    validate: bool | None = None,
    return_values: bool = True,
):
    """Integrate-and-fire convolution on first-spike times, fused with fire.

    ``P[t, f, y, x] = sum_{c,i,j: tau_in[c, y+i, x+j] <= t} W[f, c, i, j]`` (stride
    1, no padding: pad ``times_in`` with ``T`` beforehand), accumulated in fp32 in
    ``(c, i, j)`` order on every backend.

    Args:
        times_in: ``[B, C, Hp, Wp]`` uint8/int16 input times.
        weight: ``[F, C, kh, kw]`` float32, non-negative.
        T: number of time steps.
        threshold: spike where ``P[t] > threshold``; ``None``: spike at ``T-1`` where ``P[T-1] > 0``.
        return_potentials: also return the full ``[B, T, F, H, W]`` potentials.
        validate: check the times and that the weights are finite and ``>= 0`` on CUDA
            too (one host sync; the CPU kernel always checks). Defaults to True.
        return_values: return the values; ``False`` (inference: only the times
            go on) returns ``None`` instead and spares writing them.

    Returns:
        ``(times, values, potentials)``: ``[B, F, Hp-kh+1, Wp-kw+1]`` times (dtype of
        ``times_in``), float32 values at the first spike (0 if never) or ``None``,
        and the potentials or ``None``.
    """
    if on_device(times_in, weight, validate=validate):
        check_times(times_in, T, "times_in")
        check_weights(weight, "weight")
    times, values, pot = _ops.conv_fire(times_in, weight, T, threshold, return_potentials, return_values)
    return times, (values if return_values else None), (pot if return_potentials else None)


@torch.library.register_fake("fastspike::conv_fire")
def _conv_fire_fake(times_in, weight, T, threshold, return_potentials=False, return_values=True):
    B, _, Hp, Wp = times_in.shape
    F, _, kh, kw = weight.shape
    shape = (B, F, Hp - kh + 1, Wp - kw + 1)
    pot_shape = (B, T, *shape[1:]) if return_potentials else (0,)
    return (
        times_in.new_empty(shape),
        times_in.new_empty(shape if return_values else (0,), dtype=torch.float32),
        times_in.new_empty(pot_shape, dtype=torch.float32),
    )
