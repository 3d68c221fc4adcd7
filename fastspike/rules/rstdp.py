"""Reward-modulated STDP (the spec's :class:`~fastspike.spec.RSTDP`) with adaptive rates.

A right decision rewards the learner's winners (its reward rates ``(a+, a-)``), a wrong
one punishes them (its punishment rates), silence changes nothing. After every ``chunk``
samples the rates are rescaled from their base values: reward by the chunk's miss
fraction, punishment by its hit fraction (:meth:`RSTDPState.end_chunk`). A batch never
straddles a chunk boundary.

Three phase shapes use the rule:

* :class:`DecisionLearner`: one decision layer;
* :class:`HeadsLearner`: a :class:`~fastspike.spec.Parallel` block of heads that vote;
  each head is rewarded or punished by its own vote;
* :class:`JointLearner`: a decision layer with ``joint`` thresholded layers below it,
  rewarded by the network's decision on the schedule the phase names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastspike.batching import progress_bar, rows, unshard
from fastspike.distributed import exchange
from fastspike.rules.base import Learner, check_batch_size, check_labels, f32
from fastspike.spec import AdaptiveRates, Phase

__all__ = ["DecisionLearner", "HeadsLearner", "JointLearner", "RSTDPState"]


@dataclass
class RSTDPState:
    """Adaptive R-STDP rates, carried across epochs, and the current chunk's counts."""

    reward: tuple[float, float] = AdaptiveRates().reward
    punish: tuple[float, float] = AdaptiveRates().punish
    chunk_seen: int = 0
    chunk_hits: int = 0
    chunk_misses: int = 0

    @classmethod
    def initial(cls, rates: AdaptiveRates) -> RSTDPState:
        return cls(reward=tuple(rates.reward), punish=tuple(rates.punish))

    def end_chunk(self, chunk: int, rates: AdaptiveRates | None = None) -> None:
        """Rescale the base rates by the chunk's miss (reward) and hit (punishment) fractions."""
        r = AdaptiveRates() if rates is None else rates
        h, m = self.chunk_hits / chunk, self.chunk_misses / chunk
        base = [f32(v) for v in (*r.reward, *r.punish)]
        self.reward = (f32(base[0] * m), f32(base[1] * m))
        self.punish = (f32(base[2] * h), f32(base[3] * h))
        self.reset_chunk()

    def reset_chunk(self) -> None:
        self.chunk_seen = self.chunk_hits = self.chunk_misses = 0

    def device_rates(self, device) -> Tensor:
        """``[[reward a+, a-], [punish a+, a-]]`` float32 on ``device``."""
        return torch.tensor([self.reward, self.punish], dtype=torch.float32, device=device)

    def state_dict(self) -> dict:
        return {
            "kind": "rstdp",
            "reward": list(self.reward),
            "punish": list(self.punish),
            "chunk_seen": self.chunk_seen,
            "chunk_hits": self.chunk_hits,
            "chunk_misses": self.chunk_misses,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RSTDPState:
        return cls(
            reward=tuple(d["reward"]),
            punish=tuple(d["punish"]),
            chunk_seen=int(d["chunk_seen"]),
            chunk_hits=int(d["chunk_hits"]),
            chunk_misses=int(d["chunk_misses"]),
        )


def rstdp_update(conv, xb: Tensor, times: Tensor, winners: Tensor, lr: Tensor, T: int, rule=None) -> None:
    """An R-STDP update of a batch. In compat mode a sample without a winner makes no call at all
    (no whole-tensor clamp), as the reference makes no update call for silence."""
    if conv.compat:
        keep = winners[:, 0, 0] >= 0
        xb, times, winners, lr = xb[keep], times[keep], winners[keep], lr[keep]
    conv.stdp(xb, times, winners, lr, T, rule)


def fractions(hits: int, misses: int, n: int) -> dict[str, float]:
    return {"correct": hits / n, "wrong": misses / n, "silent": (n - hits - misses) / n}


class DecisionLearner(Learner):
    """R-STDP of the decision layer alone. State: its adaptive rates (:class:`RSTDPState`);
    ``reward``, ``punish`` and the chunk counts are read through as attributes."""

    label = "R-STDP"

    def __init__(self, model, phase: Phase):
        super().__init__(model, phase)
        if model.index(phase.layer) != len(model.layer_names) - 1:
            raise ValueError(f"layer {phase.layer!r}: R-STDP trains the decision layer only")
        self.rule = model.layer_spec(phase.layer).rule
        self.state = RSTDPState.initial(self.rule.rates)

    def __getattr__(self, name: str):  # reward, punish, chunk_* of the state
        if name != "state" and "state" in self.__dict__ and hasattr(self.__dict__["state"], name):
            return getattr(self.__dict__["state"], name)
        raise AttributeError(name)

    def learned(self):
        return [(self.phase.layer, self.rule)]

    def state_dict(self) -> dict:
        return self.state.state_dict()

    def load_state_dict(self, d: dict) -> None:
        self.state = RSTDPState.from_dict(d)

    @torch.no_grad()
    def train_epoch(self, x, labels=None, batch_size=64, progress=False, desc="", epoch=0):
        check_batch_size(batch_size)
        x, n, world = unshard(x)
        check_labels(labels, n)
        model, state, T = self.model, self.state, self.model.T
        conv = model.conv(self.phase.layer)
        kh, kw = conv.weight.shape[2:]
        chunk = self.rule.rates.chunk
        dev = x.device
        labels = labels.to(dev)

        # Counts stay on the device and the rates are copied there once per chunk: on a GPU
        # the loop synchronises with the host once per chunk of samples, not per batch.
        # (compat mode selects the non-silent samples with a mask: one sync per batch.)
        rates = state.device_rates(dev)
        pending = torch.zeros(2, dtype=torch.int64, device=dev)  # hits, misses not yet read
        hits = misses = 0

        def read_pending() -> None:  # the one host sync: at a chunk's end and the epoch's
            nonlocal hits, misses
            h, m = pending.tolist()
            pending.zero_()
            hits, misses = hits + h, misses + m
            state.chunk_hits += h
            state.chunk_misses += m

        s = 0
        with progress_bar(n, desc, progress) as bar:
            while s < n:
                e = min(n, s + batch_size, s + chunk - state.chunk_seen)
                xb, yb = rows(x, world, s, e), labels[s:e]
                classes, winners, times = model.decide(xb)
                [(xb, times, winners)], ex = exchange(
                    world, [(xb, times, winners, kh, kw)], classes.view(-1, 1), s, e, T
                )
                classes = ex[:, 0].long()
                hit = classes == yb
                miss = (classes != yb) & (classes >= 0)
                lr = torch.where(hit.unsqueeze(1), rates[0], rates[1])  # silent samples have no winner
                rstdp_update(conv, xb, times, winners, lr, T)
                pending[0] += hit.sum()
                pending[1] += miss.sum()
                state.chunk_seen += e - s
                if state.chunk_seen == chunk:
                    read_pending()
                    state.end_chunk(chunk, self.rule.rates)
                    rates = state.device_rates(dev)
                bar.update(e - s)
                s = e
        read_pending()
        return fractions(hits, misses, n)


class _SeveralLearners(Learner):
    """A decision phase with several R-STDP learners. State: each learner's adaptive rates
    (``layers``), the chunks completed in the phase (``chunks``: drives the alternating
    schedules) and the network's decisions in the current chunk (``chunk_*``)."""

    label = "R-STDP"

    def __init__(self, model, phase: Phase, learners: list[tuple[str, object]]):
        super().__init__(model, phase)
        self._learners = learners  # (conv name, the R-STDP rule it learns by)
        self.names = [name for name, _ in learners]
        self.bases = {name: rule.rates for name, rule in learners}
        self.layers = {name: RSTDPState.initial(rule.rates) for name, rule in learners}
        self.chunks = self.chunk_seen = self.chunk_hits = self.chunk_misses = 0

    def learned(self):
        return list(self._learners)

    def state_dict(self) -> dict:
        return {
            "kind": "multi",
            "layers": {n: v.state_dict() for n, v in self.layers.items()},
            "chunks": self.chunks,
            "chunk_seen": self.chunk_seen,
            "chunk_hits": self.chunk_hits,
            "chunk_misses": self.chunk_misses,
        }

    def load_state_dict(self, d: dict) -> None:
        layers = {n: RSTDPState.from_dict(v) for n, v in d["layers"].items()}
        missing = [name for name in self.names if name not in layers]
        if missing:
            raise ValueError(f"state: has no rates for {missing[0]!r} (learners: {self.names})")
        self.layers = layers
        self.chunks = int(d["chunks"])
        self.chunk_seen = int(d["chunk_seen"])
        self.chunk_hits = int(d["chunk_hits"])
        self.chunk_misses = int(d["chunk_misses"])

    def reset_chunk(self) -> None:
        self.chunk_seen = self.chunk_hits = self.chunk_misses = 0

    def selected(self, epoch: int) -> str:
        """The learner of the current chunk (alternating schedules)."""
        L = len(self.names)
        if self.phase.schedule == "alternate_chunks":
            return self.names[self.chunks % L]
        return self.names[0] if epoch + self.chunks % 2 == 0 else self.names[-1]  # repo_compat

    def rescaled(self, epoch: int) -> set[str]:
        """The learners whose rates are rescaled at the end of a chunk."""
        return {self.selected(epoch)} if self.phase.schedule == "repo_compat" else set(self.names)

    #: whether each learner also counts its own hits and misses (the heads of a vote)
    counts_per_learner = False

    def own_counts(self) -> bool:
        """Whether each learner's rates follow its own hits and misses (else the network's)."""
        return False

    def step(self, xb, yb, rates, pending, s, e, world, epoch) -> Tensor:
        """Forward and update one batch; returns the network's classes ``[B]``."""
        raise NotImplementedError

    @torch.no_grad()
    def train_epoch(self, x, labels=None, batch_size=64, progress=False, desc="", epoch=0):
        check_batch_size(batch_size)
        x, n, world = unshard(x)
        check_labels(labels, n)
        dev = x.device
        labels = labels.to(dev)
        names, L = self.names, len(self.names)
        chunk = self.bases[names[-1]].chunk

        def device_rates() -> dict[str, Tensor]:
            return {name: st.device_rates(dev) for name, st in self.layers.items()}

        rates = device_rates()
        pending = torch.zeros(2 + 2 * L, dtype=torch.int64, device=dev)  # decision, then per learner
        hits = misses = 0

        def read_pending() -> None:  # the one host sync: at a chunk's end and the epoch's
            nonlocal hits, misses
            v = pending.tolist()
            pending.zero_()
            hits, misses = hits + v[0], misses + v[1]
            self.chunk_hits += v[0]
            self.chunk_misses += v[1]
            if self.counts_per_learner:
                for k, name in enumerate(names):
                    self.layers[name].chunk_hits += v[2 + 2 * k]
                    self.layers[name].chunk_misses += v[3 + 2 * k]

        def end_chunk() -> None:
            read_pending()
            self.chunks += 1
            rescale = self.rescaled(epoch)
            for name in names:
                st = self.layers[name]
                if not self.own_counts():
                    st.chunk_hits, st.chunk_misses = self.chunk_hits, self.chunk_misses
                if name in rescale:
                    st.end_chunk(chunk, self.bases[name])
                else:
                    st.reset_chunk()
            self.reset_chunk()

        s = 0
        with progress_bar(n, desc, progress) as bar:
            while s < n:
                e = min(n, s + batch_size, s + chunk - self.chunk_seen)
                xb, yb = rows(x, world, s, e), labels[s:e]
                classes = self.step(xb, yb, rates, pending, s, e, world, epoch)
                pending[0] += (classes == yb).sum()
                pending[1] += ((classes != yb) & (classes >= 0)).sum()
                self.chunk_seen += e - s
                if self.chunk_seen == chunk:
                    end_chunk()
                    rates = device_rates()
                bar.update(e - s)
                s = e
        read_pending()
        return fractions(hits, misses, n)


class HeadsLearner(_SeveralLearners):
    """The heads of a vote (a :class:`~fastspike.spec.Parallel` block), trained together on
    the block's input. Every head is rewarded (its class is the label) or punished (another
    class) by its own vote; a silent head is not updated. After a chunk each head's rates
    are rescaled by its own hit and miss fractions (``adapt="head"``) or by the vote's
    (``"majority"``)."""

    counts_per_learner = True

    def __init__(self, model, phase: Phase):
        unit = model.layer_spec(phase.layer)
        super().__init__(model, phase, [(c.name, c.rule) for c in unit.convs])

    def own_counts(self) -> bool:
        return self.model.spec.readout.adapt != "majority"

    def rescaled(self, epoch: int) -> set[str]:
        return set(self.names)

    def step(self, xb, yb, rates, pending, s, e, world, epoch) -> Tensor:
        model, T = self.model, self.model.T
        convs = model.conv(self.phase.layer).convs
        classes, winners, times, votes = model.decide_heads(xb)
        parts, ex = exchange(
            world,
            [(xb, t, w, *c.weight.shape[2:]) for c, t, w in zip(convs, times, winners, strict=True)],
            torch.cat([classes.view(-1, 1), votes], 1),
            s,
            e,
            T,
        )
        classes, votes = ex[:, 0].long(), ex[:, 1:].long()
        for k, (name, conv) in enumerate(zip(self.names, convs, strict=True)):
            v = votes[:, k]
            hit_h, miss_h = v == yb, (v != yb) & (v >= 0)
            lr = torch.where(hit_h.unsqueeze(1), rates[name][0], rates[name][1])
            rstdp_update(conv, *parts[k], lr, T)  # silent heads have no winner
            pending[2 + 2 * k] += hit_h.sum()
            pending[3 + 2 * k] += miss_h.sum()
        return classes


class JointLearner(_SeveralLearners):
    """A decision layer D with one thresholded conv J below it (``phase.joint``), on J's input.
    J's winners come from pointwise inhibition and k-WTA of its own potentials; D reads J's
    uninhibited spikes and decides; a right decision rewards the learners of the chunk
    (``phase.schedule``), a wrong one punishes them, silence changes nothing. J learns by its
    ``reward_rule`` (rates, bounds, stabiliser)."""

    def __init__(self, model, phase: Phase):
        joint = [(n, model.layer_spec(n).reward_rule) for n in phase.joint]
        super().__init__(model, phase, joint + [(phase.layer, model.layer_spec(phase.layer).rule)])

    def step(self, xb, yb, rates, pending, s, e, world, epoch) -> Tensor:
        model, T, names, layer = self.model, self.model.T, self.names, self.phase.layer
        J, D = model.conv(names[0]), model.conv(layer)
        rr = model.layer_spec(names[0]).reward_rule
        learn = set(names) if self.phase.schedule == "joint" else {self.selected(epoch)}
        tJ, vJ = J(xb, T)
        wJ = J.winners(tJ, vJ, T, pointwise=J.pointwise)
        x_dec = model.decision_input(names[0], tJ)
        classes, wD, tD = model.decide(x_dec)
        wJ = wJ.masked_fill((classes < 0).view(-1, 1, 1), -1)  # silence: no update
        parts, ex = exchange(
            world,
            [(x_dec, tD, wD, *D.weight.shape[2:]), (xb, tJ, wJ, *J.weight.shape[2:])],
            classes.view(-1, 1),
            s,
            e,
            T,
        )
        classes = ex[:, 0].long()
        hit = (classes == yb).unsqueeze(1)
        if layer in learn:
            rstdp_update(D, *parts[0], torch.where(hit, rates[layer][0], rates[layer][1]), T)
        if names[0] in learn:
            lr = torch.where(hit, rates[names[0]][0], rates[names[0]][1])
            rstdp_update(J, *parts[1], lr, T, (rr.stabilize, rr.lb, rr.ub))
        return classes
