"""Typed Python wrappers and fake (shape) kernels for ``torch.ops.fastspike``.

Conventions (ALGORITHMS.md 0-1): ``T`` is the number of time steps; a
first-spike map ("times") holds for every neuron the first step at which it
fires, and the value ``T`` itself means "never". Times are uint8 (T <= 255) or
int16. Potentials are float32 (fire / first_spike also take float16 and
bfloat16). Batched tensors have a leading batch dimension ``B``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_finite",
    "check_times",
    "check_weights",
    "conv_fire",
    "fire",
    "first_spike",
    "final_potential",
    "final_potential_tap_sums",
    "first_spike_from_wave",
    "kwta",
    "pointwise_inhibition",
    "pool_times",
    "spike_wave",
    "stdp_update",
    "times_dtype",
    "validate_winners",
]

_ops = torch.ops.fastspike


def times_dtype(T: int) -> torch.dtype:
    """Smallest first-spike dtype that can hold ``T`` (the "never" value)."""
    return torch.uint8 if T <= 255 else torch.int16


# --------------------------------------------------------------------------- fire
def fire(potentials: Tensor, threshold: float | None, return_thresholded: bool = False):
    """Cumulative fire (ALGORITHMS.md 3).

    Args:
        potentials: ``[B, T, ...]`` float potentials.
        threshold: spike where ``P[t] > threshold`` (strict, ``threshold >= 0``);
            ``None`` is the "no threshold" mode: spike only at ``T-1`` where ``P[T-1] > 0``.
        return_thresholded: also return ``P`` where it spikes and 0 elsewhere.

    Returns:
        ``(spikes, thresholded)``: uint8 ``[B, T, ...]`` and, on request, the
        thresholded potentials ``[B, T, ...]`` (else ``None``).
    """
    _expect_tensor(potentials, "potentials", "a float tensor [B, T, ...]")
    spikes, thr = _ops.fire(potentials, threshold, return_thresholded)
    return spikes, (thr if return_thresholded else None)


@torch.library.register_fake("fastspike::fire")
def _fire_fake(potentials, threshold, return_thresholded=False):
    spikes = potentials.new_empty(potentials.shape, dtype=torch.uint8)
    thr = potentials.new_empty(potentials.shape if return_thresholded else (0,))
    return spikes, thr


# --------------------------------------------------------------------------- first spike
def first_spike(potentials: Tensor, threshold: float | None):
    """Fused fire + first-spike extraction; no spike wave is materialised.

    Args:
        potentials: ``[B, T, ...]`` float potentials.
        threshold: as in :func:`fire` (``None``: spike at ``T-1`` if ``P[T-1] > 0``).

    Returns:
        ``(times, values)``: ``[B, ...]`` first-spike times (uint8 if ``T <= 255``
        else int16; ``T`` = never) and the potential at the first spike (0 if never).
    """
    _expect_tensor(potentials, "potentials", "a float tensor [B, T, ...]")
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
    _expect_tensor(spikes, "spikes", "a spike wave [B, T, ...]")
    if _on_device(spikes, validate=validate) and spikes.dim() >= 2:
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
    _expect_tensor(times, "times", "first-spike times [B, ...]")
    if _on_device(times, validate=validate):
        check_times(times, T)
    return _ops.spike_wave(times, T)


@torch.library.register_fake("fastspike::spike_wave")
def _spike_wave_fake(times, T):
    return times.new_empty((times.shape[0], T, *times.shape[1:]), dtype=torch.uint8)


# --------------------------------------------------------------------------- inhibition
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
    if _on_device(times, validate=validate):
        check_times(times, T)
        check_finite(values, "values")
    return _ops.pointwise_inhibition(times, values, T)


@torch.library.register_fake("fastspike::pointwise_inhibition")
def _pointwise_inhibition_fake(times, values, T):
    return torch.empty_like(times), torch.empty_like(values)


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
    if _on_device(times, validate=validate):
        check_times(times, T)
        check_finite(values, "values")
    return _ops.kwta(times, values, T, k, radius, compat)


@torch.library.register_fake("fastspike::kwta")
def _kwta_fake(times, values, T, k, radius, compat=False):
    return times.new_empty((times.shape[0], k, 3), dtype=torch.int32)


# --------------------------------------------------------------------------- validation
# The CPU kernels check the data they read (times in [0, T], finite values, weights);
# on other devices that needs a host synchronisation, so the wrappers below do it when
# ``validate`` is true (the default) and the tensors are not on the CPU. The model
# layer, which makes its own inputs, passes ``validate=False``.
_FLOAT_MAX = torch.finfo(torch.float32).max


def _on_device(*tensors, validate: bool | None) -> bool:
    return (validate is None or validate) and any(
        isinstance(t, Tensor) and t.device.type != "cpu" for t in tensors
    )


def _expect_tensor(value, name: str, what: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: expected {what}, got {type(value).__name__}")


def check_times(times: Tensor, T: int, name: str = "times") -> None:
    """Raise ``ValueError`` unless every first-spike time is in ``[0, T]`` (``T`` = never).
    One host sync on a GPU."""
    if times.numel() and not bool(((times >= 0) & (times <= T)).all()):
        flat = times.reshape(-1)
        e = int(((flat < 0) | (flat > T)).nonzero()[0])
        raise ValueError(
            f"{name}: expected first-spike times in [0, T = {T}] (T = never), got {int(flat[e])} "
            f"at flat index {e}"
        )


def check_finite(t: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless every value is finite (no NaN, no infinity)."""
    if t.numel() and not bool(torch.isfinite(t).all()):
        flat = t.reshape(-1)
        e = int((~torch.isfinite(flat)).nonzero()[0])
        raise ValueError(f"{name}: expected finite values, got {float(flat[e])} at flat index {e}")


def check_weights(weight: Tensor, name: str = "weight") -> None:
    """Raise ``ValueError`` unless every weight is finite and ``>= 0`` (the CPU kernels'
    check; NaN and infinities fail it). One host sync on a GPU."""
    if weight.numel() and not bool(((weight >= 0) & (weight <= _FLOAT_MAX)).all()):
        bad = ~((weight >= 0) & (weight <= _FLOAT_MAX))
        e = int(bad.reshape(-1).nonzero()[0])
        raise ValueError(
            f"{name}: expected finite, non-negative weights (the integrate-and-fire convolution "
            f"assumes non-decreasing potentials), got {float(weight.reshape(-1)[e])} at flat index {e}"
        )


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
    if _on_device(times_in, weight, validate=validate):
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


# --------------------------------------------------------------------------- pooling
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
    if _on_device(times, validate=validate):
        check_times(times, T)
    return _ops.pool_times(times, kernel, stride, padding, T, out_padding)


@torch.library.register_fake("fastspike::pool_times")
def _pool_times_fake(times, kernel, stride, padding, T, out_padding=0):
    B, C, H, W = times.shape
    Ho = (H + 2 * padding - kernel) // stride + 1 + 2 * out_padding
    Wo = (W + 2 * padding - kernel) // stride + 1 + 2 * out_padding
    return times.new_empty((B, C, Ho, Wo))


# --------------------------------------------------------------------------- decision potential
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
    _expect_tensor(times_in, "times_in", "first-spike times [B, C, H, W]")
    _expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
    if _on_device(times_in, weight, validate=validate):
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
    _expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
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


# --------------------------------------------------------------------------- STDP
def validate_winners(winners: Tensor, times_out: Tensor, T: int) -> None:
    """Raise ``ValueError`` unless every winner row is ``-1`` padding or an in-range,
    fired neuron with at most one winner per feature per sample (one host sync)."""
    if winners.dim() != 3 or winners.shape[-1] != 3:
        raise ValueError(f"winners: expected shape [B, k, 3], got {tuple(winners.shape)}")
    B, F, H, W = times_out.shape
    w = winners.long()
    live = w[..., 0] >= 0
    f, y, x = w.unbind(-1)
    pad = ~live & ((f != -1) | (y != -1) | (x != -1))
    if bool(pad.any()):
        b, r = (int(v) for v in pad.nonzero()[0])
        raise ValueError(
            f"winners: sample {b} row {r} = {tuple(w[b, r].tolist())} is neither a winner nor a "
            "(-1, -1, -1) padding row"
        )
    bad = live & ((f >= F) | (y < 0) | (y >= H) | (x < 0) | (x >= W))
    if bool(bad.any()):
        b, r = (int(v) for v in bad.nonzero()[0])
        raise ValueError(
            f"winners: sample {b} row {r} = {tuple(w[b, r].tolist())} is out of range "
            f"for output [{F}, {H}, {W}]"
        )
    if w.shape[1] > 1:
        same = (f.unsqueeze(2) == f.unsqueeze(1)) & live.unsqueeze(2) & live.unsqueeze(1)
        same &= ~torch.eye(w.shape[1], dtype=torch.bool, device=w.device)
        if bool(same.any()):
            b = int(same.nonzero()[0, 0])
            raise ValueError(
                f"winners: sample {b} lists a feature twice; k-WTA gives each feature "
                "at most one winner per sample"
            )
    if bool(live.any()):
        bi = torch.arange(B, device=w.device).unsqueeze(1).expand_as(f)
        tp = times_out[bi[live], f[live], y[live], x[live]]
        if bool((tp.long() >= T).any()):
            raise ValueError(f"winners: a winner did not fire (times_out >= T = {T})")


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
    """Batched STDP / anti-STDP, in place, applied in sample order (ALGORITHMS.md 7-8).

    For each sample ``b`` and winner ``(f, y, x)``, every synapse ``(c, i, j)`` of
    feature ``f`` gets ``a+`` if ``tau_in[b, c, y+i, x+j] <= tau_out[b, f, y, x]``
    (pre before or with post), else ``a-``; with ``stabilize`` the rate is
    multiplied by ``(W - lb)(ub - W)``; then ``W`` is clamped to ``[lb, ub]``.
    ``B = 1`` is exactly the sequential rule.

    Args:
        weight: ``[F, C, kh, kw]`` float32, contiguous; updated in place.
        times_in: ``[B, C, Hp, Wp]`` the layer's padded input times.
        times_out: ``[B, F, Hp-kh+1, Wp-kw+1]`` the layer's output times.
        winners: ``[B, k, 3]`` int32/int64 from :func:`kwta` (``-1`` rows skipped).
        lr: ``[B, 2]`` or ``[B, F, 2]`` float32 ``(a_plus, a_minus)``; use
            negative ``a_plus`` for anti-STDP (R-STDP punishment), zeros to skip.
        T: number of time steps.
        stabilize, lb, ub: stabiliser flag and weight bounds (``lb <= ub``).
        clamp_all: clamp the whole weight after every sample, winners or not (reference quirk:
            each sample is one call of the reference's rule).
        validate: check the winners, times, rates and weights on CUDA too (one host
            sync; the CPU kernel always checks). Defaults to True.
    """
    if _on_device(weight, validate=validate):
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
