"""``fastspike::first_spike``, ``first_spike_from_wave`` and ``spike_wave``
(csrc/ops/first_spike.cpp): between potentials or spike waves ``[B, T, ...]`` and
first-spike times ``[B, ...]``."""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_finite, check_times, expect_tensor, on_device, times_dtype

__all__ = ["first_spike", "first_spike_from_wave", "spike_wave"]

_ops = torch.ops.fastspike


def first_spike(potentials: Tensor, threshold: float | None):
    """Fused fire + first-spike extraction; no spike wave is materialised.

    Args:
        potentials: ``[B, T, ...]`` float potentials.
        threshold: as in :func:`fastspike.ops.fire` (``None``: spike at ``T-1`` if ``P[T-1] > 0``).

    Returns:
        ``(times, values)``: ``[B, ...]`` first-spike times (uint8 if ``T <= 255``
        else int16; ``T`` = never) and the potential at the first spike (0 if never).
    """
    expect_tensor(potentials, "potentials", "a float tensor [B, T, ...]")
    return _ops.first_spike(potentials, threshold)


@torch.library.register_fake("fastspike::first_spike")
def _first_spike_fake(potentials, threshold):
    shape = (potentials.shape[0], *potentials.shape[2:])
    return (
        potentials.new_empty(shape, dtype=times_dtype(potentials.shape[1])),
        potentials.new_empty(shape),
    )


def first_spike_from_wave(
    spikes: Tensor, potentials: Tensor | None = None, compat: bool = False, validate: bool | None = None
):
    """First-spike times of a cumulative spike wave: ``tau = T - sum_t S[t]``.

    Args:
        spikes: ``[B, T, ...]`` spike wave (uint8, bool or float; non-zero = spike).
        potentials: optional ``[B, T, ...]`` thresholded potentials to gather ``V = P[tau]`` from.
        compat: gather ``P[T-1]`` (not 0) for neurons that never fire, as the reference does.
        validate: check on a GPU too (one host sync) that the wave is cumulative and
            has no NaN (the CPU kernel always checks).

    Returns:
        ``(times, values)``: ``[B, ...]`` times and values (``None`` without potentials).
    """
    expect_tensor(spikes, "spikes", "a spike wave [B, T, ...]")
    if on_device(spikes, validate=validate) and spikes.dim() >= 2:
        s = spikes != 0
        if bool((s[:, :-1] & ~s[:, 1:]).any()) or (spikes.is_floating_point() and bool(spikes.isnan().any())):
            raise ValueError(
                "spikes: expected a cumulative spike wave (a neuron that spikes at t spikes at every "
                "later step; no NaN)"
            )
        if potentials is not None:
            check_finite(potentials, "potentials")
    times, values = _ops.first_spike_from_wave(spikes, potentials, compat)
    return times, (values if potentials is not None else None)


@torch.library.register_fake("fastspike::first_spike_from_wave")
def _first_spike_from_wave_fake(spikes, potentials, compat=False):
    shape = (spikes.shape[0], *spikes.shape[2:])
    times = spikes.new_empty(shape, dtype=times_dtype(spikes.shape[1]))
    values = (
        potentials.new_empty(shape) if potentials is not None else spikes.new_empty((0,), dtype=torch.float32)
    )
    return times, values


def spike_wave(times: Tensor, T: int, validate: bool | None = None) -> Tensor:
    """Inverse of first-spike extraction: ``[B, ...]`` times -> ``[B, T, ...]`` uint8 wave.

    ``S[t] = t >= tau``. ``validate``: check the times on a GPU too (one host sync).
    """
    expect_tensor(times, "times", "first-spike times [B, ...]")
    if on_device(times, validate=validate):
        check_times(times, T)
    return _ops.spike_wave(times, T)


@torch.library.register_fake("fastspike::spike_wave")
def _spike_wave_fake(times, T):
    return times.new_empty((times.shape[0], T, *times.shape[1:]), dtype=torch.uint8)
