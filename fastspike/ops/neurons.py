"""``fastspike::lif_run`` and ``izhikevich_run`` (csrc/ops/neurons.cpp): a layer of LIF or
Izhikevich neurons simulated over ``T`` steps in one call.

These are the operators' typed wrappers (the numbers as the kernels take them); the
parameter dataclasses and the functions that check a current and fill in the initial
state are :mod:`fastspike.neurons` (:func:`fastspike.neurons.lif`,
:func:`fastspike.neurons.izhikevich`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["izhikevich_run", "lif_run"]

_ops = torch.ops.fastspike


def lif_run(
    current: Tensor,
    v0: Tensor,
    ref0: Tensor,
    k: float,
    alpha: float,
    beta: float,
    v_rest: float,
    v_reset: float,
    v_th: float,
    R: float,
    n_ref: int,
    exact: bool,
    return_trace: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LIF neurons over ``T`` steps (docs/reference/semantics.md#lif).

    Args:
        current: ``[B, T, ...]`` float32 input current.
        v0: ``[B, ...]`` float32 initial potentials.
        ref0: ``[B, ...]`` int32 refractory steps left at the start.
        k, alpha, beta: ``dt / tau_m``, ``exp(-dt / tau_m)``, ``1 - exp(-dt / tau_m)``
            (:meth:`fastspike.neurons.LIF.coefficients`; rounded once to float32).
        v_rest, v_reset, v_th, R: the neuron's constants (mV; spike where ``v >= v_th``).
        n_ref: refractory steps after a spike.
        exact: integrate the leak exactly (``alpha``, ``beta``) instead of with Euler (``k``).
        return_trace: also return ``v`` after every step.

    Returns:
        ``(spikes, v, ref, trace)``: uint8 ``[B, T, ...]``, the potentials ``[B, ...]`` and
        refractory steps left ``[B, ...]`` after the last step, and ``v`` ``[B, T, ...]``
        after every step (an empty tensor without ``return_trace``).
    """
    return _ops.lif_run(
        current, v0, ref0, k, alpha, beta, v_rest, v_reset, v_th, R, n_ref, exact, return_trace
    )


def izhikevich_run(
    current: Tensor,
    v0: Tensor,
    u0: Tensor,
    a: float,
    b: float,
    c: float,
    d: float,
    dt: float,
    n_sub: int,
    compat: bool,
    return_trace: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Izhikevich (2003) neurons over ``T`` steps (docs/reference/semantics.md#izhikevich).

    Args:
        current: ``[B, T, ...]`` float32 input current.
        v0, u0: ``[B, ...]`` float32 initial membrane potential and recovery variable.
        a, b, c, d: the model's constants (regular spiking: 0.02, 0.2, -65, 8).
        dt: the step (ms); ``v`` takes ``n_sub`` Euler sub-steps per step.
        compat: test for a spike before integrating (the original script's order).
        return_trace: also return ``v`` after every step.

    Returns:
        ``(spikes, v, u, trace)``: uint8 ``[B, T, ...]``, ``v`` and ``u`` ``[B, ...]`` after
        the last step, and ``v`` ``[B, T, ...]`` after every step (an empty tensor without
        ``return_trace``).
    """
    return _ops.izhikevich_run(current, v0, u0, a, b, c, d, dt, n_sub, compat, return_trace)


def _fake(current, v0, s0, return_trace):
    spikes = current.new_empty(current.shape, dtype=torch.uint8)
    trace = current.new_empty(current.shape) if return_trace else current.new_empty((0,))
    return spikes, v0.new_empty(v0.shape), s0.new_empty(s0.shape), trace


@torch.library.register_fake("fastspike::lif_run")
def _lif_fake(current, v0, ref0, k, alpha, beta, v_rest, v_reset, v_th, R, n_ref, exact, return_trace=False):
    return _fake(current, v0, ref0, return_trace)


@torch.library.register_fake("fastspike::izhikevich_run")
def _izh_fake(current, v0, u0, a, b, c, d, dt, n_sub, compat, return_trace=False):
    return _fake(current, v0, u0, return_trace)
