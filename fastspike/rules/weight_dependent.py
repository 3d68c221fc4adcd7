"""Weight-dependent (multiplicative) STDP after Falez et al. 2019, as a registered rule.

Falez, Tirilly, Bilasco, Devienne, Boulet, "Multi-layered spiking neural network with
target timestamp threshold adaptation and STDP", IJCNN 2019. A spec names it
``{type: weight_dependent_stdp, eta: 0.1, beta: 1.0, annealing: 1.0, lb: 0.0, ub: 1.0}``
(:class:`WeightDependentSTDP`); :class:`WeightDependentLearner` trains a thresholded conv
by it.

**The rule.** A sample's winners come from the layer's own competition, as for
:class:`~fastspike.spec.STDP` (pointwise inhibition when the conv's ``pointwise``, then k-WTA
with its ``k`` and ``radius``). For every winner ``(f, y, x)`` and every synapse
``(c, i, j)`` of feature ``f``, with ``t_pre`` the input time at ``(c, y+i, x+j)`` (``T``:
never) and ``t_post`` the winner's time::

    t_pre <= t_post:  w <- w + eta_e * exp(-beta * (w - lb) / (ub - lb))     (LTP)
    otherwise:        w <- w - eta_e * exp(-beta * (ub - w) / (ub - lb))     (LTD)

then ``w`` is clamped to ``[lb, ub]``. A tie (pre and post in the same step) potentiates;
an input that never fires depresses. ``eta_e = eta * annealing**epoch`` for the 0-based
epoch of the phase (Falez et al. multiply the rate by an annealing factor after every
epoch; ``annealing: 1`` keeps it constant). The step shrinks as the weight approaches the
bound it moves towards, so weights settle inside ``[lb, ub]`` instead of saturating:
``beta = 0`` is additive STDP with rates ``(+eta, -eta)``.

Each update is evaluated in float64 from the float32 weight and rounded once to float32.
The float64 ``exp`` of a vector loop, a scalar loop or a GPU may differ in its last bit;
rounded to float32 through the sum, that changes the weight only when the exact result
lies within about 1e-16 of a float32 rounding boundary (about one update in 10^9), so the
weights do not depend on how a batch is cut, where a weight sits in a vector, or the
device (a float32 ``exp`` can differ by one float32 bit from one path to the other).

**Order.** A batch runs forward with the weights at its start; then the samples' updates
apply in sample order, and within a sample in winner order, so ``batch_size=1`` is the
sequential algorithm. A winner changes only its own feature's weights, so the updates of
different features commute: :func:`weight_dependent_update` applies, round after round,
every feature's next update at once (round ``r`` holds the ``r``-th win of each feature in
the batch), which is exactly the sequential order.

**Threshold adaptation is not part of this rule.** Falez et al. also adapt each neuron's
threshold: on the winner's spike at ``t`` every threshold of the layer moves by
``-eta_th * (t - t_target)``, the winner's by ``+eta_th`` more and every other neuron's by
``-eta_th / (N - 1)`` (homeostasis), clamped below at a minimum. The homeostasis needs one
threshold per feature, and a :class:`~fastspike.layers.SpikingConv` has one scalar
threshold that its fused kernels read. The target-timestamp term alone is a shift of all
thresholds, which would fit that scalar, but the scalar is not part of the network's
``state_dict``: a checkpoint, a resumed run or a saved model would come back with the
spec's threshold and silently answer differently. Adaptive thresholds need a per-feature
threshold buffer in the layer and its kernels first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from fastspike.batching import batches, progress_bar, rows, unshard
from fastspike.distributed import exchange
from fastspike.rules import register_rule
from fastspike.rules.base import Learner, check_batch_size
from fastspike.spec import Phase, register_rule_type, spec_error

__all__ = ["WeightDependentLearner", "WeightDependentSTDP", "weight_dependent_update"]

#: the rule's name in specs and config files, and the ``kind`` of its learner state
NAME = "weight_dependent_stdp"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class WeightDependentSTDP:
    """Weight-dependent (multiplicative) STDP (Falez et al. 2019); see the module.

    ``eta``: the rate (the largest step, taken at the far bound); ``beta``: how fast the step
    shrinks towards the bound the weight moves to (``>= 0``; 0 = additive); ``annealing``:
    the rate is multiplied by it after every epoch of the phase; ``lb < ub``: the weight
    bounds (``lb >= 0``: the convs' kernels take non-negative weights).
    """

    eta: float = 0.1
    beta: float = 1.0
    annealing: float = 1.0
    lb: float = 0.0
    ub: float = 1.0

    #: read by :class:`~fastspike.network.Network` when it builds the conv (the layer's own
    #: stabiliser of the STDP kernel): this rule has none
    stabilize: ClassVar[bool] = False

    def check(self, where: str, layer) -> None:
        """Raise a :class:`~fastspike.spec.SpecError` naming the first bad field."""
        for name in ("eta", "beta", "annealing", "lb", "ub"):
            if not _finite(getattr(self, name)):
                spec_error(where, f"rule.{name}", f"expected a finite number, got {getattr(self, name)!r}")
        if self.eta <= 0:
            spec_error(where, "rule.eta", f"expected a positive rate, got {self.eta}")
        if self.beta < 0:
            spec_error(where, "rule.beta", f"expected >= 0, got {self.beta}")
        if self.annealing <= 0:
            spec_error(where, "rule.annealing", f"expected a positive factor, got {self.annealing}")
        if self.lb < 0:
            spec_error(
                where, "rule.lb", f"expected >= 0 (the kernels take non-negative weights), got {self.lb}"
            )
        if self.lb >= self.ub:
            spec_error(where, "rule.lb", f"expected lb < ub, got {self.lb} >= {self.ub}")
        if getattr(layer, "is_decision", False):
            spec_error(
                where,
                "rule",
                "weight-dependent STDP trains a thresholded conv; a decision layer learns by R-STDP",
            )

    def rate(self, epoch: int) -> float:
        """``eta * annealing**epoch``: the rate of the phase's 0-based ``epoch``."""
        return self.eta * self.annealing**epoch


def _step(w: Tensor, ltp: Tensor, eta: float, beta: float, lb: float, ub: float) -> Tensor:
    """One update of float32 weights ``w`` (LTP where ``ltp``): float64, rounded once."""
    w64 = w.double()
    span = ub - lb
    d = torch.where(ltp, (w64 - lb) / span, (ub - w64) / span)
    step = torch.exp(d * -beta) * eta
    return torch.where(ltp, w64 + step, w64 - step).clamp(lb, ub).float()


@torch.no_grad()
def weight_dependent_update(
    weight: Tensor,
    times_in: Tensor,
    times_out: Tensor,
    winners: Tensor,
    eta: float,
    rule: WeightDependentSTDP,
) -> None:
    """The rule's update of a batch, in place, samples in order (see the module).

    Args:
        weight: ``[F, C, kh, kw]`` float32.
        times_in: ``[B, C, Hp, Wp]`` the layer's padded input times.
        times_out: ``[B, F, Hp-kh+1, Wp-kw+1]`` its output times.
        winners: ``[B, k, 3]`` ``(f, y, x)`` per sample in order (``-1`` rows: none).
        eta: this epoch's rate (:meth:`WeightDependentSTDP.rate`).
        rule: ``beta`` and the bounds.
    """
    B, k = winners.shape[:2]
    F, C, kh, kw = weight.shape
    dev = weight.device
    win = winners.to(dev).long().reshape(B * k, 3)
    has = win[:, 0] >= 0
    if not bool(has.any()):
        return
    sample = torch.arange(B, device=dev).repeat_interleave(k)[has]  # sample order, then winner order
    f, y, x = win[has].unbind(1)
    n = f.shape[0]
    # each winner's receptive field [n, C, kh, kw] and its own time [n, 1, 1, 1]
    t_in = times_in.to(dev)
    pre = t_in[
        sample.view(n, 1, 1, 1),
        torch.arange(C, device=dev).view(1, C, 1, 1),
        (y.view(n, 1) + torch.arange(kh, device=dev)).view(n, 1, kh, 1),
        (x.view(n, 1) + torch.arange(kw, device=dev)).view(n, 1, 1, kw),
    ]
    post = times_out.to(dev)[sample, f, y, x].view(n, 1, 1, 1)
    ltp = pre.to(torch.int32) <= post.to(torch.int32)
    # rank of each win among its feature's wins in the batch (a stable sort keeps sample order)
    order = torch.sort(f, stable=True).indices
    fs = f[order]
    first = torch.ones(n, dtype=torch.bool, device=dev)
    first[1:] = fs[1:] != fs[:-1]
    at = torch.arange(n, device=dev)
    starts = torch.cummax(torch.where(first, at, torch.zeros_like(at)), 0).values
    rank = torch.empty_like(at)
    rank[order] = at - starts
    rounds = int(rank.max()) + 1
    for r in range(rounds):  # round r: the r-th win of every feature; distinct features
        sel = (rank == r).nonzero().squeeze(1) if rounds > 1 else at
        fr = f[sel]
        weight[fr] = _step(weight[fr], ltp[sel], eta, rule.beta, rule.lb, rule.ub)


class WeightDependentLearner(Learner):
    """Weight-dependent STDP of one thresholded conv. State: the layer's training samples so
    far (the rate depends on the phase's epoch only, which the trainer passes)."""

    label = "STDP (weight-dependent)"

    def __init__(self, model, phase: Phase):
        super().__init__(model, phase)
        self.rule: WeightDependentSTDP = model.layer_spec(phase.layer).rule
        self.samples = 0

    def learned(self):
        return [(self.phase.layer, self.rule)]

    def state_dict(self) -> dict:
        return {"kind": NAME, "samples": self.samples}

    def load_state_dict(self, d: dict) -> None:
        if d.get("kind") != NAME:
            raise ValueError(f"state: expected a {NAME} learner's state, got kind {d.get('kind')!r}")
        self.samples = int(d["samples"])

    @torch.no_grad()
    def train_epoch(self, x, labels=None, batch_size=64, progress=False, desc="", epoch=0):
        check_batch_size(batch_size)
        x, n, world = unshard(x)
        conv, T = self.model.conv(self.phase.layer), self.model.T
        kh, kw = conv.weight.shape[2:]
        eta = self.rule.rate(epoch)
        with progress_bar(n, desc, progress) as bar:
            for s, e in batches(n, batch_size):
                xb = rows(x, world, s, e)
                times, values = conv(xb, T)
                winners = conv.winners(times, values, T, pointwise=conv.pointwise)
                [(xg, tg, wg)], _ = exchange(world, [(xb, times, winners, kh, kw)], None, s, e, T)
                weight_dependent_update(conv.weight, xg, tg, wg, eta, self.rule)
                self.samples += e - s
                bar.update(e - s)
        return {}


register_rule_type(NAME, WeightDependentSTDP)
register_rule(WeightDependentSTDP, WeightDependentLearner)
