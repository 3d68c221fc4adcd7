"""The reference of the multi-spike neurons (docs/reference/semantics.md#neurons): LIF and Izhikevich.

One time step at a time over the whole layer, as the established simulators run them.
Parameters come as the :mod:`fastspike.neurons` dataclasses (plain numbers, passed in; nothing
is imported from there); every float operation is float32, in the order the kernels' shared
header pins.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["izhikevich_reference", "lif_reference"]


def lif_reference(current: Tensor, params, v0: Tensor, ref0: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LIF with a refractory period over ``current [B, T, ...]`` -> ``(spikes uint8 [B, T, ...],
    v, ref, v trace [B, T, ...])``."""
    k, alpha, beta = params.coefficients()
    v, ref = v0.clone(), ref0.clone()
    spikes, trace = [], []
    for t in range(current.shape[1]):
        i_t = current[:, t]
        held = ref > 0
        if params.exact:
            v_new = (params.v_rest + (v - params.v_rest) * alpha) + (params.R * i_t) * beta
        else:
            v_new = v + k * ((params.v_rest - v) + params.R * i_t)
        s = ~held & (v_new >= params.v_th)
        v = torch.where(held | s, torch.full_like(v, params.v_reset), v_new)
        ref = torch.where(held, ref - 1, torch.where(s, torch.full_like(ref, params.n_ref), ref))
        spikes.append(s.to(torch.uint8))
        trace.append(v)
    return torch.stack(spikes, 1), v, ref, torch.stack(trace, 1)


def izhikevich_reference(
    current: Tensor, params, v0: Tensor, u0: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Izhikevich neurons over ``current [B, T, ...]`` -> ``(spikes, v, u, v trace)``."""
    h = params.dt / params.n_sub
    v, u = v0.clone(), u0.clone()
    spikes, trace = [], []

    def reset(v, u):
        s = v >= 30.0
        return s, torch.where(s, torch.full_like(v, params.c), v), torch.where(s, u + params.d, u)

    for t in range(current.shape[1]):
        i_t = current[:, t]
        if params.compat:
            s, v, u = reset(v, u)
        for _ in range(params.n_sub):
            v = v + h * ((((0.04 * v) * v + 5.0 * v) + 140.0 - u) + i_t)
        u = u + params.dt * (params.a * (params.b * v - u))
        if not params.compat:
            s, v, u = reset(v, u)
        spikes.append(s.to(torch.uint8))
        trace.append(v)
    return torch.stack(spikes, 1), v, u, torch.stack(trace, 1)
