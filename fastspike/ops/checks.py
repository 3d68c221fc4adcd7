"""Argument checks shared by the operator wrappers (and by the code that calls them).

The CPU kernels check the data they read (first-spike times in ``[0, T]``, finite values,
finite non-negative weights, well-formed winners). On other devices that takes a host
synchronisation, so the wrappers run these checks there when ``validate`` is true (the
default); the model layer, which makes its own inputs, passes ``validate=False``.
Nothing here needs the compiled library.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "FLOAT_MAX",
    "check_finite",
    "check_times",
    "check_weights",
    "expect_tensor",
    "on_device",
    "times_dtype",
    "validate_winners",
]

FLOAT_MAX = torch.finfo(torch.float32).max


def times_dtype(T: int) -> torch.dtype:
    """Smallest first-spike dtype that can hold ``T`` (the "never" value)."""
    return torch.uint8 if T <= 255 else torch.int16


def on_device(*tensors, validate: bool | None) -> bool:
    """Whether a wrapper checks its arguments itself: ``validate`` is true or ``None`` and
    one of ``tensors`` is not on the CPU (where the kernels check them)."""
    return (validate is None or validate) and any(
        isinstance(t, Tensor) and t.device.type != "cpu" for t in tensors
    )


def expect_tensor(value, name: str, what: str) -> None:
    """Raise ``TypeError`` naming the argument unless ``value`` is a tensor."""
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
    if weight.numel() and not bool(((weight >= 0) & (weight <= FLOAT_MAX)).all()):
        bad = ~((weight >= 0) & (weight <= FLOAT_MAX))
        e = int(bad.reshape(-1).nonzero()[0])
        raise ValueError(
            f"{name}: expected finite, non-negative weights (the integrate-and-fire convolution "
            f"assumes non-decreasing potentials), got {float(weight.reshape(-1)[e])} at flat index {e}"
        )


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
