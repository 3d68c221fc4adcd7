"""Diehl & Cook (2015) as the established simulators run it: plain torch, one time step at
a time over the whole network (docs/reference/semantics.md#diehl-cook). The compiled operators
(``fastspike::diehl_cook_train`` / ``diehl_cook_infer``) equal it bit for bit: every float
operation here is float32, in the order of ``csrc/include/fastspike/diehl_cook.h``, with
subnormal numbers flushed to zero as the kernels do. The Poisson input is
:func:`fastspike.spiketrain.poisson_encode`'s.

One step (input only during the first ``t_present`` steps of a presentation):

1. arrivals: ``g_e += w[i]`` for each input ``i`` spiking now (ascending ``i``);
   ``g_i[j] += w_ie * (inhibitory spikes of the last step other than j's)``; the
   inhibitory neuron ``j``'s ``g_e += w_ei * (excitatory j spiked last step)``;
2. excitatory then inhibitory neurons integrate (exponential Euler), spike, reset, hold; their
   conductances decay; learning: ``theta += theta_plus`` where an excitatory neuron spiked;
3. learning: every trace decays; each input spiking now depresses its row
   (``w = max(0, w - nu_pre * y1)``) and sets ``x_pre = 1``; each excitatory neuron spiking
   now potentiates its column (``w = min(w_max, w + (nu_post * x_pre) * y2)``) and sets
   ``y1 = y2 = 1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.spiketrain import poisson_encode

__all__ = ["diehl_cook_reference", "exp_neg", "trace_stdp_reference"]


#: The order of DiehlCookParams.packed()'s floats (and of dc::Params).
_FLOAT_NAMES = (
    "k_e", "rest_e", "exc_e", "inh_e", "reset_e", "thresh_e", "decay_ge", "decay_gi", "theta_plus",
    "decay_theta", "k_i", "rest_i", "exc_i", "reset_i", "thresh_i", "w_ei", "w_ie", "nu_pre", "nu_post",
    "decay_pre", "decay_post1", "decay_post2", "w_max", "dt_s", "norm", "intensity0", "intensity_step",
)  # fmt: skip


def _f32(v: float) -> Tensor:
    return torch.tensor(v, dtype=torch.float32)


_EXP_BIG, _LOG2E, _LN2_HI, _LN2_LO = (
    torch.tensor(v, dtype=torch.float32) for v in (12582912.0, 1.44269502, 0.693145751953125, 1.42860677e-06)
)
_EXP_C = [torch.tensor(v, dtype=torch.float32) for v in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0)]


def exp_neg(x: Tensor) -> Tensor:
    """``e^x`` for ``x <= 0`` exactly as ``dc::exp_neg`` computes it (float32): round
    ``x log2(e)`` to ``n``, ``r = x - n ln2`` in two parts, a degree-6 Taylor polynomial,
    times ``2^n``; 0 below -87."""
    xc = torch.clamp_min(x, -87.0)
    n = (xc * _LOG2E + _EXP_BIG) - _EXP_BIG
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    q = _EXP_C[0].expand_as(r)
    for c in _EXP_C[1:]:
        q = q * r + c
    scale = ((n.to(torch.int32) + 127) << 23).view(torch.float32)
    return torch.where(x > -87.0, q * scale, torch.zeros_like(q))


def _relax(v: Tensor, k: Tensor, rest: Tensor, ge: Tensor, exc: Tensor, gi: Tensor, inh: Tensor) -> Tensor:
    """Exponential Euler: ``v_inf + (v - v_inf) e^{-k G}`` with the conductances held."""
    G = (1.0 + ge) + gi
    v_inf = ((rest + ge * exc) + gi * inh) / G
    return v_inf + (v - v_inf) * exp_neg(-(k * G))


class _Flush:
    """Flush subnormal floats to zero while the reference runs (as the kernels do)."""

    def __enter__(self):
        self.ok = torch.set_flush_denormal(True)

    def __exit__(self, *exc):
        torch.set_flush_denormal(False)


def diehl_cook_reference(
    x: Tensor,
    w: Tensor,
    theta: Tensor,
    params,
    seed: int,
    sample_offset: int = 0,
    learn: bool = True,
    state: Tensor | None = None,
    refs: Tensor | None = None,
    x_pre: Tensor | None = None,
) -> dict[str, Tensor]:
    """Run images ``x [B, n_in]`` (float32 intensities) through the network.

    ``params`` is a :class:`fastspike.diehlcook.DiehlCookParams`. Learning: the images in
    order with the state carried (``state [7, N]``, ``refs [4, N]``, ``x_pre [n_in]``, as
    :class:`fastspike.diehlcook.DiehlCook` holds them). Frozen (``learn=False``): every
    presentation starts from rest and has no rest period. Returns the spike counts
    ``[B, N]`` of each image's last presentation, its presentations ``[B]``, and the final
    ``w``, ``theta``, ``state``, ``refs``, ``x_pre``.
    """
    f, n = params.packed()
    c = {name: _f32(v) for name, v in zip(_FLOAT_NAMES, f, strict=True)}  # each rounded once to float32
    dt_s, norm, intensity0, intensity_step = f[23], f[24], f[25], f[26]
    rest_e, rest_i = f[1], f[11]
    n_ref_e, n_ref_i, t_present, t_rest, min_spikes, max_attempts = n
    B, n_in = x.shape
    N = w.shape[1]
    w, theta = w.clone(), theta.clone()
    state = torch.zeros(7, N) if state is None else state.clone()
    refs = torch.zeros(4, N, dtype=torch.int32) if refs is None else refs.clone()
    x_pre = torch.zeros(n_in) if x_pre is None else x_pre.clone()
    counts = torch.zeros(B, N, dtype=torch.int32)
    attempts = torch.zeros(B, dtype=torch.int32)
    zero = _f32(0.0)
    with _Flush():
        for b in range(B):
            g = sample_offset + b
            attempt = 0
            while True:
                if learn:  # each neuron's input weights sum to `norm` (the sum in float64)
                    sums = w.double().sum(0)
                    factor = torch.where(sums > 0, (norm / sums).float(), torch.ones(N))
                    w = w * factor
                else:  # from rest
                    state.zero_()
                    state[0] = rest_e
                    state[3] = rest_i
                    refs.zero_()
                ve, ge, gi, vi, gei, y1, y2 = state.unbind(0)
                ve, ge, gi, vi, gei, y1, y2 = (s.clone() for s in (ve, ge, gi, vi, gei, y1, y2))
                refe, refi, se, si = (r.clone() for r in refs.unbind(0))
                intensity = intensity0 + attempt * intensity_step
                r_max = 255.0 * intensity / 8.0
                spikes_in = poisson_encode(x[b : b + 1], (attempt + 1) * t_present, r_max, dt_s, seed, g)[
                    0, attempt * t_present :
                ]
                count = torch.zeros(N, dtype=torch.int32)
                for t in range(t_present + (t_rest if learn else 0)):
                    active = spikes_in[t].nonzero().flatten().tolist() if t < t_present else []
                    # 1. arrivals
                    for i in active:
                        ge = ge + w[i]
                    inh = int(si.sum())
                    if inh > 0:
                        gi = gi + c["w_ie"] * (inh - si).float()
                    gei = gei + c["w_ei"] * se.float()
                    # 2. neurons (exponential Euler; held neurons stay at reset)
                    v_new = _relax(ve, c["k_e"], c["rest_e"], ge, c["exc_e"], gi, c["inh_e"])
                    held = refe > 0
                    s_e = ~held & (v_new > theta + c["thresh_e"])
                    ve = torch.where(held | s_e, c["reset_e"], v_new)
                    refe = torch.where(held, refe - 1, torch.where(s_e, n_ref_e, refe)).int()
                    ge = ge * c["decay_ge"]
                    gi = gi * c["decay_gi"]
                    if learn:
                        theta = theta + torch.where(s_e, c["theta_plus"], zero)
                    v_new = _relax(vi, c["k_i"], c["rest_i"], gei, c["exc_i"], zero, zero)
                    held = refi > 0
                    s_i = ~held & (v_new > c["thresh_i"])
                    vi = torch.where(held | s_i, c["reset_i"], v_new)
                    refi = torch.where(held, refi - 1, torch.where(s_i, n_ref_i, refi)).int()
                    gei = gei * c["decay_ge"]
                    se, si = s_e.int(), s_i.int()
                    # 3. trace STDP
                    if learn:
                        x_pre = x_pre * c["decay_pre"]
                        y1 = y1 * c["decay_post1"]
                        y2 = y2 * c["decay_post2"]
                        for i in active:
                            w[i] = torch.clamp_min(w[i] - c["nu_pre"] * y1, 0.0)
                            x_pre[i] = 1.0
                        for j in s_e.nonzero().flatten().tolist():
                            w[:, j] = torch.clamp_max(w[:, j] + (c["nu_post"] * x_pre) * y2[j], c["w_max"])
                            y1[j] = 1.0
                            y2[j] = 1.0
                    if t < t_present:
                        count += se
                state = torch.stack([ve, ge, gi, vi, gei, y1, y2])
                refs = torch.stack([refe, refi, se, si]).int()
                if learn:
                    theta = theta * c["decay_theta"]
                attempt += 1
                if int(count.sum()) >= min_spikes or attempt >= max_attempts:
                    break
            counts[b] = count
            attempts[b] = attempt
    return {"counts": counts, "attempts": attempts, "w": w, "theta": theta, "state": state, "refs": refs,
            "x_pre": x_pre}  # fmt: skip


def trace_stdp_reference(
    pre: Tensor, post: Tensor, w: Tensor, x_pre: Tensor, y: Tensor, params, normalise=True
):
    """:func:`fastspike.diehlcook.trace_stdp`, one step at a time: returns the new ``w``,
    ``x_pre`` and ``y`` (the inputs are not changed)."""
    import math

    p = params
    f = lambda v: _f32(float(v))  # noqa: E731
    nu_pre, nu_post, w_max = f(p.nu_pre), f(p.nu_post), f(p.w_max)
    d_pre, d1, d2 = (f(math.exp(-p.dt / tau)) for tau in (p.tau_pre, p.tau_post1, p.tau_post2))
    w, x_pre, y1, y2 = w.clone(), x_pre.clone(), y[0].clone(), y[1].clone()
    with _Flush():
        for b in range(pre.shape[0]):
            if normalise:
                sums = w.double().sum(0)
                w = w * torch.where(sums > 0, (float(p.norm) / sums).float(), torch.ones_like(y1))
            for t in range(pre.shape[1]):
                x_pre = x_pre * d_pre
                y1 = y1 * d1
                y2 = y2 * d2
                for i in pre[b, t].nonzero().flatten().tolist():
                    w[i] = torch.clamp_min(w[i] - nu_pre * y1, 0.0)
                    x_pre[i] = 1.0
                for j in post[b, t].nonzero().flatten().tolist():
                    w[:, j] = torch.clamp_max(w[:, j] + (nu_post * x_pre) * y2[j], w_max)
                    y1[j] = 1.0
                    y2[j] = 1.0
    return w, x_pre, torch.stack([y1, y2])
