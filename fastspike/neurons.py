"""Neurons that spike more than once: fused multi-step LIF and Izhikevich layers.

A layer's whole simulation over ``T`` steps is one call (``torch.ops.fastspike.lif_run``
and ``izhikevich_run``, CPU and CUDA kernels; :mod:`fastspike.ops.neurons` has their typed
wrappers and fake kernels for ``torch.compile``; this module checks the arguments): each
neuron's state stays in registers, the per-step input current ``[B, T, ...]`` is read once,
and the update rule is written once, in ``csrc/include/fastspike/neuron.h``, for both
devices (docs/reference/semantics.md#neurons). :mod:`fastspike.reference` has the plain per-step loops they
are tested against (same spikes, same step, same neuron; the same float32 states).

* :class:`LIF`: leaky integrate-and-fire with a refractory period, Euler or
  exact-exponential integration; spike when ``v >= v_th``.
* :class:`Izhikevich`: the 2003 model (regular spiking by default), ``n_sub`` Euler
  sub-steps for ``v`` (2: the published half-step scheme), ``compat`` for the original
  script's test-before-integrate order (every spike one step later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from fastspike.ops.checks import check_finite, on_device
from fastspike.ops.neurons import izhikevich_run, lif_run

__all__ = ["LIF", "Izhikevich", "NeuronRun", "izhikevich", "lif"]


class NeuronRun(NamedTuple):
    """``spikes`` uint8 ``[B, T, ...]``; the state after the last step (``v`` and ``ref``
    for LIF, ``v`` and ``u`` for Izhikevich); ``trace``: ``v`` after every step or ``None``."""

    spikes: Tensor
    v: Tensor
    state: Tensor
    trace: Tensor | None


def _positive(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire with a refractory period (docs/reference/semantics.md#lif; mV, ms).

    ``n_ref = round(t_ref / dt)`` steps after a spike the neuron is held at ``v_reset``
    and ignores its input. ``exact`` integrates the leak exactly over a step
    (``exp(-dt / tau_m)``) instead of with Euler's ``dt / tau_m``."""

    tau_m: float = 20.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_th: float = -52.0
    R: float = 1.0
    t_ref: float = 2.0
    dt: float = 1.0
    exact: bool = False

    def __post_init__(self):
        _positive(self.tau_m, "tau_m")
        _positive(self.dt, "dt")
        for name in ("v_rest", "v_reset", "v_th", "R", "t_ref"):
            _finite(getattr(self, name), name)
        if self.t_ref < 0:
            raise ValueError(f"t_ref: expected a refractory period >= 0, got {self.t_ref!r}")
        if self.t_ref / self.dt > 2**30:
            raise ValueError(f"t_ref: {self.t_ref!r} is more than 2^30 steps of dt = {self.dt!r}")

    @property
    def n_ref(self) -> int:
        return int(round(self.t_ref / self.dt))

    def coefficients(self) -> tuple[float, float, float]:
        """``(k, alpha, beta)`` = ``(dt / tau_m, exp(-dt / tau_m), 1 - exp(-dt / tau_m))`` in
        float64; the kernels and the reference round each once to float32."""
        return self.dt / self.tau_m, math.exp(-self.dt / self.tau_m), -math.expm1(-self.dt / self.tau_m)


@dataclass(frozen=True)
class Izhikevich:
    """Izhikevich (2003) neurons (docs/reference/semantics.md#izhikevich); regular spiking by default."""

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    dt: float = 1.0
    n_sub: int = 2
    compat: bool = False

    def __post_init__(self):
        _positive(self.dt, "dt")
        for name in ("a", "b", "c", "d"):
            _finite(getattr(self, name), name)
        if isinstance(self.n_sub, bool) or not isinstance(self.n_sub, int) or not 1 <= self.n_sub <= 1000:
            raise ValueError(
                f"n_sub: expected an integer number of sub-steps in [1, 1000], got {self.n_sub!r}"
            )


def _check_current(current) -> None:
    if not isinstance(current, Tensor):
        raise TypeError(f"current: expected a float32 tensor [B, T, ...], got {type(current).__name__}")
    if current.dtype != torch.float32:
        raise ValueError(f"current: expected dtype float32, got {current.dtype}")
    if current.dim() < 2:
        raise ValueError(f"current: expected shape [B, T, ...], got {tuple(current.shape)}")
    if current.shape[1] == 0:
        raise ValueError("current: expected T >= 1 time steps (dimension 1), got T = 0")


def _state(x, current: Tensor, fill: float, dtype, name: str) -> Tensor:
    shape = (current.shape[0], *current.shape[2:])
    if x is None:
        return torch.full(shape, fill, dtype=dtype, device=current.device)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a tensor {list(shape)}, got {type(x).__name__}")
    return x


def lif(
    current: Tensor,
    params: LIF = LIF(),
    v0: Tensor | None = None,
    ref0: Tensor | None = None,
    return_trace: bool = False,
    validate: bool | None = None,
) -> NeuronRun:
    """Simulate LIF neurons over ``T`` steps of input current ``[B, T, ...]`` float32.

    ``v0`` (default ``v_rest``) and ``ref0`` (int32 steps of refractoriness left, default
    0) are ``[B, ...]``. Returns :class:`NeuronRun` (``state`` = refractory steps left).
    ``validate`` checks for non-finite currents on a GPU too (one host sync; the CPU
    kernel always checks)."""
    if not isinstance(params, LIF):
        raise TypeError(f"params: expected a fastspike.neurons.LIF, got {type(params).__name__}")
    _check_current(current)
    v0 = _state(v0, current, params.v_rest, torch.float32, "v0")
    ref0 = _state(ref0, current, 0, torch.int32, "ref0")
    if on_device(current, validate=validate):
        check_finite(current, "current")
        check_finite(v0, "v0")
        if ref0.numel() and bool((ref0 < 0).any()):
            raise ValueError("ref0: expected refractory steps >= 0")
    k, alpha, beta = params.coefficients()
    s, v, ref, tr = lif_run(
        current, v0, ref0, k, alpha, beta, params.v_rest, params.v_reset, params.v_th, params.R,
        params.n_ref, params.exact, return_trace,
    )  # fmt: skip
    return NeuronRun(s, v, ref, tr if return_trace else None)


def izhikevich(
    current: Tensor,
    params: Izhikevich = Izhikevich(),
    v0: Tensor | None = None,
    u0: Tensor | None = None,
    return_trace: bool = False,
    validate: bool | None = None,
) -> NeuronRun:
    """Simulate Izhikevich neurons over ``T`` steps of input current ``[B, T, ...]`` float32.

    ``v0`` defaults to ``c`` (the resting -65 mV for regular spiking) and ``u0`` to
    ``b * v0``. Returns :class:`NeuronRun` (``state`` = ``u``)."""
    if not isinstance(params, Izhikevich):
        raise TypeError(f"params: expected a fastspike.neurons.Izhikevich, got {type(params).__name__}")
    _check_current(current)
    v0 = _state(v0, current, params.c, torch.float32, "v0")
    if u0 is None and isinstance(v0, Tensor) and v0.dtype == torch.float32:
        u0 = v0 * params.b
    u0 = _state(u0, current, 0.0, torch.float32, "u0")
    if on_device(current, validate=validate):
        for t, name in ((current, "current"), (v0, "v0"), (u0, "u0")):
            check_finite(t, name)
    p = params
    s, v, u, tr = izhikevich_run(current, v0, u0, p.a, p.b, p.c, p.d, p.dt, p.n_sub, p.compat, return_trace)
    return NeuronRun(s, v, u, tr if return_trace else None)
