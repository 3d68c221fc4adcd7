"""The reference Mozafari et al. 2018 network (docs/reference/semantics.md#mozafari2018), hard-coded.

:class:`ReferenceMozafari2018` wires the operators of :mod:`fastspike.reference.ops` by hand
into the paper's three-layer network and its training (STDP with the doubling rate schedule for
S1 and S2, R-STDP with adaptive rates for the decision layer S3), one sample at a time. It is
the fixed point :class:`fastspike.reference.ReferenceNetwork` is checked against on the same
spec. The numbers come from the spec the caller passes (:func:`fastspike.registry.mozafari2018`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.reference.ops import (
    Winner,
    conv_potentials,
    f32,
    fire,
    fire_in_place,
    fire_spikes,
    get_k_winners,
    pad,
    pointwise_inhibition,
    pool,
    stdp,
)
from fastspike.reference.readout import Decision
from fastspike.spec import Conv, NetworkSpec, Pad, Pool

__all__ = ["ReferenceMozafari2018"]

#: The layer sequence :class:`ReferenceMozafari2018` hard-codes (``Conv`` stands for any conv).
_LAYOUT = (Pad(2), Conv, Pool(2, 2), Pad(1), Conv, Pool(3, 3), Pad(2), Conv)


class ReferenceMozafari2018:
    """The Mozafari et al. 2018 MNIST network, one sample at a time on float32 waves.

    ============  ============================================  ==============
    stage         operation                                     output
    ============  ============================================  ==============
    input         encoded wave (:func:`encode_image`)           6 x 28 x 28
    S1            pad 2, conv 6->30 5x5, threshold 15           30 x 28 x 28
    C1            max-pool 2/2, pad 1                           30 x 16 x 16
    S2            conv 30->250 3x3, threshold 10                250 x 14 x 14
    C2            max-pool 3/3, pad 2                           250 x 8 x 8
    S3            conv 250->200 5x5, no threshold               200 x 4 x 4
    decision      1 winner over ``P[T-1]``; class = f // 20     int
    ============  ============================================  ==============

    Layers 1 and 2 learn by STDP with k-WTA (k, r) = (5, 3) and (8, 1) and the doubling rate
    schedule; layer 3 learns by reward-modulated STDP with adaptive rates.

    The structure above is this class's own; the numbers of the convs (sizes, thresholds, k-WTA,
    initial weights, bounds, rates) are read from the spec the caller passes,
    :func:`fastspike.registry.mozafari2018` (the paper's numbers live there, in one place).

    Args:
        spec: the Mozafari 2018 :class:`fastspike.spec.NetworkSpec` (its layers must be the
            sequence above: ``Pad(2), Conv, Pool(2, 2), Pad(1), Conv, Pool(3, 3), Pad(2), Conv``);
            ``spec.T`` is the number of time steps.
        compat: reproduce the reference's quirks (float32 k-WTA score, gather at ``T-1`` for
            silent neurons, whole-tensor clamp on every STDP call). In clean mode the weights are
            clamped to their bounds once, here, and STDP clamps only what it updates.
        seed: seed of the generator the initial weights ``N(0.8, 0.05)`` are drawn from (w1,
            then w2, then w3); ``None`` draws a non-deterministic seed.

    Attributes (the spec's numbers, float32 where marked):
        THRESHOLDS: the three convs' thresholds, ``(15, 10, None)``.
        KWTA: ``(k, radius)`` of S1 and S2, ``((5, 3), (8, 1))``.
        BOUNDS: each conv's weight bounds, ``((0, 1), (0, 1), (0.2, 0.8))``.
        FEATURES_PER_CLASS: decision neurons per class, 20.
        A_PLUS, A_MINUS, A_PLUS_MAX, SCHEDULE_PERIOD: the STDP schedule (7.2), float32 rates,
            ``0.004``, ``-0.003``, ``0.15``, 500.
        REWARD, PUNISH, ADAPT_CHUNK: R-STDP (7.3), float32 ``(a_plus, a_minus)`` pairs,
            ``(0.004, -0.003)``, ``(-0.004, 0.0005)``, 1000.
    """

    def __init__(self, spec: NetworkSpec, compat: bool = False, seed: int | None = 0) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
        layout = tuple(Conv if isinstance(layer, Conv) else layer for layer in spec.layers)
        if layout != _LAYOUT:
            got = ", ".join("Conv" if layer is Conv else repr(layer) for layer in layout)
            raise ValueError(
                f"spec {spec.name!r}: ReferenceMozafari2018 runs the layers Pad(2), Conv, Pool(2, 2), "
                f"Pad(1), Conv, Pool(3, 3), Pad(2), Conv, got {got} (ReferenceNetwork runs any spec)"
            )
        self.spec = spec
        self.T = spec.T
        self.compat = compat
        # The paper's numbers come from the spec (one place); the semantics of this class are its
        # own, independent of the compiled network.
        convs = spec.convs
        self.THRESHOLDS = tuple(c.threshold for c in convs)  # (15, 10, None)
        self.KWTA = tuple((c.k, c.radius) for c in convs[:2])  # (k, radius) for S1 and S2: (5, 3), (8, 1)
        self.BOUNDS = tuple((c.rule.lb, c.rule.ub) for c in convs)  # [0, 1], [0, 1], [0.2, 0.8]
        self.FEATURES_PER_CLASS = convs[2].out_channels // spec.n_classes  # 20
        # STDP schedule (7.2), in float32.
        self.A_PLUS = f32(convs[0].rule.rates.a_plus)  # 0.004
        self.A_MINUS = f32(convs[0].rule.rates.a_minus)  # -0.003
        self.A_PLUS_MAX = f32(convs[0].rule.rates.cap)  # 0.15
        self.SCHEDULE_PERIOD = convs[0].rule.rates.period  # 500
        # R-STDP (7.3), in float32.
        self.REWARD = tuple(f32(a) for a in convs[2].rule.rates.reward)  # (0.004, -0.003)
        self.PUNISH = tuple(f32(a) for a in convs[2].rule.rates.punish)  # (-0.004, 0.0005)
        self.ADAPT_CHUNK = convs[2].rule.rates.chunk  # 1000

        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        self.w1, self.w2, self.w3 = (
            torch.empty(c.out_channels, c.in_channels, c.kernel, c.kernel).normal_(
                c.weight_mean, c.weight_std, generator=gen
            )
            for c in convs
        )
        if not compat:
            for w, (lb, ub) in zip(self.weights, self.BOUNDS, strict=True):
                w.clamp_(lb, ub)
        # Per-layer STDP schedules: samples seen and current (a_plus, a_minus).
        self._samples = [0, 0]
        self._rates = [(self.A_PLUS, self.A_MINUS), (self.A_PLUS, self.A_MINUS)]
        # R-STDP rates and the current chunk's counts.
        self.reward_rates = self.REWARD
        self.punish_rates = self.PUNISH
        self._chunk_calls = 0
        self._chunk_hits = 0
        self._chunk_misses = 0

    # ----------------------------------------------------------------------------- state
    @property
    def weights(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.w1, self.w2, self.w3

    @property
    def lr1(self) -> tuple[float, float]:
        """Current layer-1 ``(a_plus, a_minus)``."""
        return self._rates[0]

    @property
    def lr2(self) -> tuple[float, float]:
        """Current layer-2 ``(a_plus, a_minus)``."""
        return self._rates[1]

    def to(self, device: torch.device | str) -> ReferenceMozafari2018:
        """Move the weights to ``device``; inputs must live there too."""
        self.w1, self.w2, self.w3 = (w.to(device) for w in self.weights)
        return self

    def stdp_rates(self, i: int) -> tuple[float, float]:
        """Closed-form schedule rates for the 0-based training sample ``i`` of a layer (7.2).

        ``a_plus = min(0.004 * 2^((i+1) // 500), 0.15)`` and ``a_minus = -0.75 * a_plus``, in float32.
        """
        doublings = min((i + 1) // self.SCHEDULE_PERIOD, 64)
        a_plus = min(self.A_PLUS * 2.0**doublings, self.A_PLUS_MAX)
        return a_plus, f32(-0.75 * a_plus)

    def _next_rates(self, layer: int) -> tuple[float, float]:
        """Advance layer ``layer``'s sample counter; on every 500th sample double ``a_plus``."""
        self._samples[layer] += 1
        if self._samples[layer] % self.SCHEDULE_PERIOD == 0:
            a_plus = min(f32(2.0 * self._rates[layer][0]), self.A_PLUS_MAX)
            self._rates[layer] = (a_plus, f32(-0.75 * a_plus))
        return self._rates[layer]

    # ----------------------------------------------------------------------------- forward
    def s2_input(self, wave: Tensor) -> Tensor:
        """Plain S1 (no competition), C1 and padding: ``[T, 6, 28, 28]`` -> ``[T, 30, 16, 16]``."""
        s1_spikes = fire_spikes(conv_potentials(pad(wave, 2), self.w1), self.THRESHOLDS[0])
        return pad(pool(s1_spikes, 2, 2), 1)

    def s3_input(self, wave: Tensor) -> Tensor:
        """Plain S1, C1, S2, C2 and padding: ``[T, 6, 28, 28]`` -> ``[T, 250, 8, 8]``."""
        s2_spikes = fire_spikes(conv_potentials(self.s2_input(wave), self.w2), self.THRESHOLDS[1])
        return pad(pool(s2_spikes, 3, 3), 2)

    def forward_s1(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """S1 on a ``[T, 6, 28, 28]`` wave.

        Returns (padded input ``[T, 6, 32, 32]``, spikes, thresholded ``[T, 30, 28, 28]``).
        """
        s1_in = pad(wave, 2)
        spikes, thresholded = fire(conv_potentials(s1_in, self.w1), self.THRESHOLDS[0])
        return s1_in, spikes, thresholded

    def forward_s2(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Plain S1, C1, S2: -> (S2 input ``[T, 30, 16, 16]``, spikes, thresholded ``[T, 250, 14, 14]``)."""
        s2_in = self.s2_input(wave)
        spikes, thresholded = fire(conv_potentials(s2_in, self.w2), self.THRESHOLDS[1])
        return s2_in, spikes, thresholded

    def forward_s3(self, wave: Tensor, s3_in: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Plain S1..S3: -> (S3 input ``[T, 250, 8, 8]``, spikes, thresholded ``[T, 200, 4, 4]``).

        ``s3_in``: the wave's :meth:`s3_input`, computed before (frozen S1 and S2)."""
        if s3_in is None:
            s3_in = self.s3_input(wave)
        spikes, thresholded = fire(conv_potentials(s3_in, self.w3), self.THRESHOLDS[2])
        return s3_in, spikes, thresholded

    # ----------------------------------------------------------------------------- training
    def _stdp_layer(self, layer: int, weight: Tensor, s_in: Tensor) -> list[Winner]:
        """Train a layer on its padded input: fire, pointwise inhibition, k-WTA, STDP."""
        thresholded = fire_in_place(conv_potentials(s_in, weight), self.THRESHOLDS[layer])
        inhibited = pointwise_inhibition(thresholded)
        spikes = inhibited.sign()
        k, radius = self.KWTA[layer]
        winners = get_k_winners(inhibited, k, radius, self.compat, spikes)
        a_plus, a_minus = self._next_rates(layer)
        lr = torch.tensor([a_plus, a_minus], dtype=torch.float32, device=weight.device)
        lb, ub = self.BOUNDS[layer]
        stdp(weight, s_in, spikes, winners, lr, stabilize=True, lb=lb, ub=ub, clamp_all=self.compat)
        return winners

    def stdp1(self, wave: Tensor) -> list[Winner]:
        """Train S1 on one ``[T, 6, 28, 28]`` wave; returns the k-WTA winners."""
        return self._stdp_layer(0, self.w1, pad(wave, 2))

    def stdp2(self, wave: Tensor, s2_in: Tensor | None = None) -> list[Winner]:
        """Train S2 on one ``[T, 6, 28, 28]`` wave (S1 without inhibition); returns the winners.

        ``s2_in``: the wave's :meth:`s2_input`, when the frozen S1 was run once per dataset (as
        a trainer caches it); ``wave`` is then not read."""
        return self._stdp_layer(1, self.w2, self.s2_input(wave) if s2_in is None else s2_in)

    def decide(self, wave: Tensor, s3_in: Tensor | None = None) -> Decision:
        """Run the whole network on one ``[T, 6, 28, 28]`` wave and pick the decision neuron.

        ``s3_in`` as in :meth:`forward_s3`."""
        s3_in, spikes, thresholded = self.forward_s3(wave, s3_in)
        winners = get_k_winners(thresholded, 1, 0, self.compat)
        if not winners:
            return Decision(-1, None, s3_in, spikes)
        return Decision(winners[0][0] // self.FEATURES_PER_CLASS, winners[0], s3_in, spikes)

    def predict(self, wave: Tensor) -> int:
        """Class of one ``[T, 6, 28, 28]`` wave, or -1 when no decision neuron fires."""
        return self.decide(wave).decision

    def rstdp(self, wave: Tensor, label: int, s3_in: Tensor | None = None) -> int:
        """One R-STDP step on S3 (7.3); returns the decision (-1 = silence). ``s3_in`` as in
        :meth:`forward_s3`.

        Right: STDP with the reward rates; wrong: with the punishment (anti-STDP) rates; silent:
        nothing. After every 1000 calls the rates are rescaled from their initial values by the
        chunk's miss fraction (reward) and hit fraction (punishment).
        """
        d = self.decide(wave, s3_in)
        if d.winner is not None:
            hit = d.decision == int(label)
            if hit:
                self._chunk_hits += 1
                rates = self.reward_rates
            else:
                self._chunk_misses += 1
                rates = self.punish_rates
            lr = torch.tensor(rates, dtype=torch.float32, device=self.w3.device)
            lb, ub = self.BOUNDS[2]
            stdp(
                self.w3,
                d.input_wave,
                d.output_spikes,
                [d.winner],
                lr,
                stabilize=False,
                lb=lb,
                ub=ub,
                clamp_all=self.compat,
            )
        self._chunk_calls += 1
        if self._chunk_calls == self.ADAPT_CHUNK:
            hits = self._chunk_hits / self.ADAPT_CHUNK
            misses = self._chunk_misses / self.ADAPT_CHUNK
            self.reward_rates = (f32(self.REWARD[0] * misses), f32(self.REWARD[1] * misses))
            self.punish_rates = (f32(self.PUNISH[0] * hits), f32(self.PUNISH[1] * hits))
            self._chunk_calls = self._chunk_hits = self._chunk_misses = 0
        return d.decision
