"""Unsupervised STDP of a thresholded conv (the spec's :class:`~fastspike.spec.STDP`).

Each sample's winners come from pointwise inhibition and k-WTA of the layer's own
potentials; every winner's weights move by the multiplicative rule
(``docs/reference/semantics.md#stdp-rule``) with this sample's rates ``(a+, a-)``. The
rates follow the rule's schedule over the layer's training samples, counted across
epochs and saved with the state:

* :class:`~fastspike.spec.DoublingRates`: :func:`stdp_rates` (doubling every ``period``);
* :class:`~fastspike.spec.FixedRates`: constant ``(a+, a-)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.batching import batches, progress_bar, rows, unshard
from fastspike.distributed import exchange
from fastspike.rules.base import Learner, check_batch_size
from fastspike.spec import DoublingRates, FixedRates, Phase

__all__ = ["STDPLearner", "fixed_rates", "stdp_rates"]


def stdp_rates(index: Tensor, rates: DoublingRates | None = None) -> Tensor:
    """The doubling schedule for 0-based sample indices -> ``[N, 2]`` float32.

    ``a+ = min(a_plus * factor**floor((i+1)/period), cap)``, ``a- = ratio * a+`` from
    the first doubling on, ``a_minus`` before it; all in float32 like the incremental rule.
    """
    r = DoublingRates() if rates is None else rates
    f32 = torch.float32
    doublings = torch.div(index + 1, r.period, rounding_mode="floor")
    a_plus = torch.minimum(
        torch.tensor(r.a_plus, dtype=f32) * torch.pow(r.factor, doublings.clamp_max(64).float()),
        torch.tensor(r.cap, dtype=f32),
    )
    a_minus = torch.where(
        doublings > 0, a_plus * torch.tensor(r.ratio, dtype=f32), torch.tensor(r.a_minus, dtype=f32)
    )
    return torch.stack([a_plus, a_minus], dim=1)


def fixed_rates(index: Tensor, rates: FixedRates) -> Tensor:
    """Constant rates for every sample index -> ``[N, 2]`` float32."""
    return torch.tensor([rates.a_plus, rates.a_minus], dtype=torch.float32).expand(index.shape[0], 2)


#: rate schedule of each kind of STDP rates: (sample indices, rates) -> [N, 2] float32
SCHEDULES = {DoublingRates: stdp_rates, FixedRates: fixed_rates}


class STDPLearner(Learner):
    """STDP of one thresholded conv. State: the layer's training samples so far."""

    label = "STDP"

    def __init__(self, model, phase: Phase):
        super().__init__(model, phase)
        self.rule = model.layer_spec(phase.layer).rule
        self.schedule = SCHEDULES[type(self.rule.rates)]
        self.samples = 0

    def learned(self):
        return [(self.phase.layer, self.rule)]

    def rates(self, n: int) -> Tensor:
        """``[n, 2]`` float32 rates of the next ``n`` samples."""
        return self.schedule(torch.arange(self.samples, self.samples + n), self.rule.rates)

    def state_dict(self) -> dict:
        return {"kind": "stdp", "samples": self.samples}

    def load_state_dict(self, d: dict) -> None:
        self.samples = int(d["samples"])

    @torch.no_grad()
    def train_epoch(self, x, labels=None, batch_size=64, progress=False, desc="", epoch=0):
        check_batch_size(batch_size)
        x, n, world = unshard(x)
        conv, T = self.model.conv(self.phase.layer), self.model.T
        kh, kw = conv.weight.shape[2:]
        # the whole epoch's rates, built on the host and copied once (no copy, and so no
        # host synchronisation, per batch on a GPU)
        lr_all = self.rates(n).to(conv.weight.device)
        with progress_bar(n, desc, progress) as bar:
            for s, e in batches(n, batch_size):
                xb = rows(x, world, s, e)
                times, values = conv(xb, T)
                winners = conv.winners(times, values, T, pointwise=conv.pointwise)
                [(xg, tg, wg)], _ = exchange(world, [(xb, times, winners, kh, kw)], None, s, e, T)
                conv.stdp(xg, tg, wg, lr_all[s:e], T)
                self.samples += e - s
                bar.update(e - s)
        return {}
