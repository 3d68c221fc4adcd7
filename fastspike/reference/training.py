"""The reference's training of any spec network: STDP and R-STDP, one sample at a time
(docs/reference/semantics.md#kwta, #stdp; docs/reference/networks.md#zoo).

:class:`NetworkTraining` is the learning half of :class:`fastspike.reference.ReferenceNetwork`
(which is built on it): STDP of a conv (:meth:`~NetworkTraining.stdp_step`, with its rate
schedule), R-STDP of a decision layer, of a vote readout's heads or of a phase with ``joint``
convs (:meth:`~NetworkTraining.rstdp`), and the per-phase chunk counts that rescale the R-STDP
rates. It holds no state of its own: it reads and updates the network's weights, rates and
counts, which :class:`~fastspike.reference.ReferenceNetwork` sets up from the spec, and runs the
layers below a conv through the network's forward methods (``layer_input``, ``decide``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.reference.ops import (
    Winner,
    conv_potentials,
    f32,
    fire_in_place,
    get_k_winners,
    izhikevich_conv,
    pointwise_inhibition,
    stdp,
)
from fastspike.spec import RSTDP, STDP, Conv, DoublingRates, FixedRates, Phase

__all__ = ["NetworkTraining", "rstdp_rule"]


class NetworkTraining:
    """STDP and R-STDP of a :class:`fastspike.reference.ReferenceNetwork`, one sample at a time.

    A mixin: the methods use the network's ``spec``, ``weights``, ``compat``, rate tables and
    chunk counts, and its ``conv``, ``layer_input``, ``decide`` and ``_decide_conv`` (see
    :class:`~fastspike.reference.ReferenceNetwork` for the semantics of each step).
    """

    def _next_rates(self, name: str) -> tuple[float, float]:
        """Advance the layer's sample counter and return the rates for this sample (7.2).

        Doubling rates: on every ``period``-th sample, before its update,
        ``a+ <- min(fl(factor * a+), fl(cap))`` and ``a- <- fl(ratio * a+)``.
        """
        rates = self.conv(name).rule.rates
        self._samples[name] += 1
        if isinstance(rates, DoublingRates) and self._samples[name] % rates.period == 0:
            a_plus = min(f32(rates.factor * self._rates[name][0]), f32(rates.cap))
            self._rates[name] = (a_plus, f32(rates.ratio * a_plus))
        elif not isinstance(rates, (DoublingRates, FixedRates)):
            kind = type(rates).__name__
            raise TypeError(f"{name}.rule.rates: expected doubling or fixed rates, got {kind}")
        return self._rates[name]

    # ----------------------------------------------------------------------------- STDP
    def stdp_step(self, name: str, wave: Tensor) -> list[Winner]:
        """One sample of STDP on the conv ``name`` from an input wave; returns its k-WTA winners.

        The layers below run in training mode (``train_only`` inhibitions act, lower convs fire
        plainly); the conv's thresholded potentials go through pointwise inhibition (when
        ``conv.pointwise``) and k-WTA; then :func:`stdp` with this sample's rates. A branch of a
        block is computed alone, on the block's input, and competes only within itself.
        """
        conv = self.conv(name)
        rule = conv.rule
        if not isinstance(rule, STDP):
            raise ValueError(f"layer {name!r}: STDP needs a conv with an STDP rule, got {rule!r}")
        s_in = self.layer_input(name, wave, training=True)
        _, spikes, winners = self._compete(conv, s_in)
        self._update(name, rule, s_in, spikes, winners, self._next_rates(name))
        return winners

    def _update(
        self,
        name: str,
        rule: STDP | RSTDP,
        s_in: Tensor,
        spikes: Tensor,
        winners: list[Winner],
        rates: tuple[float, float],
    ) -> None:
        """:func:`stdp` of the conv ``name``'s winners with ``rates`` ``(a+, a-)`` and ``rule``'s
        stabiliser and bounds (the whole tensor clamped in compat mode)."""
        weight = self.weights[name]
        lr = torch.tensor(rates, dtype=torch.float32, device=weight.device)
        stdp(
            weight,
            s_in,
            spikes,
            winners,
            lr,
            stabilize=rule.stabilize,
            lb=rule.lb,
            ub=rule.ub,
            clamp_all=self.compat,
        )

    def _compete(self, conv: Conv, s_in: Tensor) -> tuple[Tensor, Tensor, list[Winner]]:
        """A thresholded conv on its padded input as while it learns: fire, pointwise inhibition
        (when ``conv.pointwise``), k-WTA ``(conv.k, conv.radius)``.

        Returns ``(thresholded, spikes, winners)``: its thresholded potentials ``P~`` before the
        inhibition, its spikes after it and its winners.
        """
        if conv.neuron is not None:
            thresholded = izhikevich_conv(s_in, self.weights[conv.name], conv.neuron, conv.threshold)[1]
        else:
            thresholded = fire_in_place(conv_potentials(s_in, self.weights[conv.name]), conv.threshold)
        inhibited = pointwise_inhibition(thresholded) if conv.pointwise else thresholded
        spikes = inhibited.sign()
        return thresholded, spikes, get_k_winners(inhibited, conv.k, conv.radius, self.compat, spikes)

    # ----------------------------------------------------------------------------- R-STDP
    def begin_phase(self, phase: Phase | None = None) -> None:
        """Start an R-STDP phase: forget the current chunk's counts and the chunks completed.

        The rates are kept: each layer's rates are its own state, rescaled only after a chunk.
        :meth:`rstdp` calls this itself when it is given a phase other than the current one
        (``phase=None`` continues the current phase).
        """
        self._phase = phase
        self._new_chunk()
        self._chunks_done = 0

    def _new_chunk(self) -> None:
        """Zero the current chunk's counts (calls, the decision's hits and misses, each head's)."""
        self._chunk_calls = self._chunk_hits = self._chunk_misses = 0
        self._head_hits = dict.fromkeys(self._head_hits, 0)
        self._head_misses = dict.fromkeys(self._head_misses, 0)

    def _rescale(self, name: str, hits: int, misses: int, chunk: int) -> None:
        """New rates of the R-STDP layer ``name`` after a chunk (7.3): its base reward rates times
        the miss fraction, its base punishment rates times the hit fraction, the products taken in
        float64 and stored in float32."""
        (r_plus, r_minus), (p_plus, p_minus) = self._rstdp_base[name]
        hit, miss = hits / chunk, misses / chunk
        self._rstdp_rates[name] = (
            (f32(r_plus * miss), f32(r_minus * miss)),
            (f32(p_plus * hit), f32(p_minus * hit)),
        )

    def _reinforce(
        self, conv: Conv, s_in: Tensor, spikes: Tensor, winners: list[Winner], reward: bool
    ) -> None:
        """One R-STDP update of ``conv``: :func:`stdp` of its winners with its reward rates (right
        answer) or punishment rates (wrong one), with its R-STDP rule's stabiliser and bounds."""
        rates = self._rstdp_rates[conv.name][0 if reward else 1]
        self._update(conv.name, rstdp_rule(conv), s_in, spikes, winners, rates)

    def rstdp(self, wave: Tensor, label: int, phase: Phase | None = None, epoch: int = 0) -> int:
        """One R-STDP step of an R-STDP phase (7.3); returns the decision (-1 = silence).

        * A single decision layer (``phase`` ``None`` or without ``joint``): right, STDP of the
          winner with the reward rates; wrong, with the punishment rates; silent, nothing. After
          every ``chunk`` calls the rates are rescaled from their bases by the chunk's miss
          fraction (reward) and hit fraction (punishment), the products taken in float64 and
          stored in float32.
        * A vote network (``phase`` ``None`` or naming the block of heads): see
          :meth:`_rstdp_heads`.
        * A phase with ``joint`` convs: see :meth:`_rstdp_joint`.

        Args:
            wave: the input wave.
            label: the sample's class.
            phase: the phase being trained (:meth:`begin_phase` is called when it is not the
                current one); ``None`` trains the readout as the current phase.
            epoch: the 0-based epoch within the phase (read by the ``"repo_compat"`` schedule).
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch: expected an integer >= 0, got {epoch!r}")
        if self._heads is not None:
            if phase is not None and phase.layer != self._heads.name:
                raise ValueError(f"phase {phase.layer!r}: R-STDP trains the heads {self._heads.name!r}")
            if phase is not None and phase != self._phase:
                self.begin_phase(phase)
            return self._rstdp_heads(wave, int(label))
        conv = self._decision_conv()
        rule = conv.rule
        if not isinstance(rule, RSTDP):
            raise ValueError(f"layer {conv.name!r}: R-STDP needs an RSTDP rule, got {rule!r}")
        if phase is not None and phase.layer != conv.name:
            raise ValueError(f"phase {phase.layer!r}: R-STDP trains the decision layer {conv.name!r}")
        if phase is not None and phase != self._phase:
            self.begin_phase(phase)
        if phase is not None and phase.joint:
            return self._rstdp_joint(wave, int(label), phase, epoch)
        d = self.decide(wave, training=True)
        if d.winner is not None:
            hit = d.decision == int(label)
            if hit:
                self._chunk_hits += 1
            else:
                self._chunk_misses += 1
            self._reinforce(conv, d.input_wave, d.output_spikes, [d.winner], hit)
        self._chunk_calls += 1
        if self._chunk_calls == rule.rates.chunk:
            self._rescale(conv.name, self._chunk_hits, self._chunk_misses, rule.rates.chunk)
            self._new_chunk()
        return d.decision

    def _rstdp_heads(self, wave: Tensor, label: int) -> int:
        """One R-STDP step of the heads of a vote network (docs/reference/networks.md#majority2024);
        returns the vote.

        Every head decides on the block's input (layers below in training mode). A head that does
        not stay silent is updated by its own answer: reward rates when its class is the label,
        punishment rates otherwise; a silent head is not updated. After every ``chunk`` calls
        every head is rescaled from its bases: ``adapt="head"`` by its own hit and miss fractions
        in the chunk, ``adapt="majority"`` by the vote's (a silent vote is neither).
        """
        block = self._heads
        d = self.decide(wave, training=True)
        for conv, head in zip(block.convs, d.heads, strict=True):
            if head.winner is None:
                continue
            hit = head.decision == label
            if hit:
                self._head_hits[conv.name] += 1
            else:
                self._head_misses[conv.name] += 1
            self._reinforce(conv, head.input_wave, head.output_spikes, [head.winner], hit)
        if d.decision == label:
            self._chunk_hits += 1
        elif d.decision >= 0:
            self._chunk_misses += 1
        self._chunk_calls += 1
        chunk = block.convs[0].rule.rates.chunk
        if self._chunk_calls == chunk:
            for conv in block.convs:
                if self.spec.readout.adapt == "head":
                    self._rescale(conv.name, self._head_hits[conv.name], self._head_misses[conv.name], chunk)
                else:
                    self._rescale(conv.name, self._chunk_hits, self._chunk_misses, chunk)
            self._new_chunk()
        return d.decision

    @staticmethod
    def _selected(phase: Phase, epoch: int, chunks_done: int) -> list[str]:
        """The learners of a joint phase that learn in chunk ``chunks_done`` (0-based) of it.

        ``"joint"``: every learner (the joint convs, then the decision conv);
        ``"alternate_chunks"``: learner ``chunks_done mod n``; ``"repo_compat"``: the joint conv
        when ``epoch + (chunks_done mod 2) == 0`` (the published precedence), else the decision
        conv.
        """
        learners = [*phase.joint, phase.layer]
        if phase.schedule == "joint":
            return learners
        if phase.schedule == "alternate_chunks":
            return [learners[chunks_done % len(learners)]]
        if phase.schedule == "repo_compat":
            return [phase.joint[0] if epoch + (chunks_done % 2) == 0 else phase.layer]
        raise ValueError(f"phase {phase.layer!r}: unknown schedule {phase.schedule!r}")

    def _rstdp_joint(self, wave: Tensor, label: int, phase: Phase, epoch: int) -> int:
        """One R-STDP step of a decision phase with ``joint`` convs (docs/reference/networks.md#deepr2024);
        returns the decision.

        1. Each joint conv runs as while it trains (on its input, layers below in training mode):
           fire, pointwise inhibition (when ``pointwise``), k-WTA ``(k, radius)``.
        2. The decision conv reads the highest joint conv's *uninhibited* spikes, through the
           layers between them (training mode), and decides as :meth:`decide` does.
        3. Right answer: every learner selected by the schedule for this chunk is rewarded (its
           winners, its reward rates, its R-STDP rule's stabiliser and bounds); wrong answer:
           punished; silence: nothing learns.
        4. Every sample counts in the chunk. After ``chunk`` samples (the decision rule's), the
           chunk counter advances; ``"joint"`` and ``"alternate_chunks"`` rescale every learner
           from its own bases by the chunk's fractions, ``"repo_compat"`` only the learner that
           the new counter selects (with the current ``epoch``).
        """
        decision_conv = self.conv(phase.layer)
        learned: dict[str, tuple[Tensor, Tensor, list[Winner]]] = {}
        top, top_spikes = None, None
        for name in sorted(phase.joint, key=self._position):
            s_in = self.layer_input(name, wave, training=True)
            thresholded, spikes, winners = self._compete(self.conv(name), s_in)
            learned[name] = (s_in, spikes, winners)
            top, top_spikes = name, thresholded.sign()  # plain fire: the spikes before inhibition
        between = self.spec.layers[self._position(top) + 1 : self._position(decision_conv.name)]
        d = self._decide_conv(decision_conv, self._run(between, top_spikes, training=True))
        learned[decision_conv.name] = (d.input_wave, d.output_spikes, [d.winner])

        if d.winner is not None:
            hit = d.decision == label
            if hit:
                self._chunk_hits += 1
            else:
                self._chunk_misses += 1
            for name in self._selected(phase, epoch, self._chunks_done):
                self._reinforce(self.conv(name), *learned[name], hit)
        self._chunk_calls += 1
        chunk = decision_conv.rule.rates.chunk
        if self._chunk_calls == chunk:
            self._chunks_done += 1
            if phase.schedule == "repo_compat":
                rescaled = self._selected(phase, epoch, self._chunks_done)
            else:
                rescaled = [*phase.joint, phase.layer]
            for name in rescaled:
                self._rescale(name, self._chunk_hits, self._chunk_misses, chunk)
            self._new_chunk()
        return d.decision


def rstdp_rule(conv: Conv) -> RSTDP | None:
    """The R-STDP rule ``conv`` learns by, if any: a decision conv's ``rule``, a thresholded conv's
    ``reward_rule``."""
    if isinstance(conv.rule, RSTDP):
        return conv.rule
    return conv.reward_rule
