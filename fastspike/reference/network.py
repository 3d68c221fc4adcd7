"""The reference interpretation of any :class:`fastspike.spec.NetworkSpec` (docs/reference/semantics.md,
docs/reference/networks.md): :class:`ReferenceNetwork`.

The network builds its weights and learning state from the spec and runs its layers in order
on one sample's wave (forward, the decision readouts); its training (STDP, R-STDP) is
:class:`fastspike.reference.training.NetworkTraining`, which it is built on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.reference.encoding import encode_image, times_to_wave
from fastspike.reference.ops import (
    conv_potentials,
    f32,
    fire,
    fire_spikes,
    get_k_winners,
    izhikevich_conv,
    pad,
    pointwise_inhibition,
    pool,
)
from fastspike.reference.readout import Decision, VoteDecision, vote
from fastspike.reference.training import NetworkTraining, rstdp_rule
from fastspike.spec import (
    RSTDP,
    STDP,
    Conv,
    DecisionReadout,
    Inhibit,
    NetworkSpec,
    Pad,
    Parallel,
    Phase,
    Pool,
    VoteReadout,
)

__all__ = ["ReferenceNetwork"]


class ReferenceNetwork(NetworkTraining):
    """Any :class:`fastspike.spec.NetworkSpec`, one sample at a time on float32 waves.

    The layers run in order on a ``[T, C, H, W]`` wave:

    * ``Pad(p)``: :func:`pad` (padded cells never fire);
    * ``Pool(k, stride, padding)``: :func:`pool`, floor mode, padded cells never fire;
    * ``Inhibit(train_only)``: :func:`pointwise_inhibition` of the spike wave itself (every value is
      1, so per position the lowest feature index among the earliest firing keeps its spikes;
      docs/reference/semantics.md#pointwise-inhibition); a ``train_only`` one acts only in training
      mode, i.e. while a layer above it trains (:meth:`stdp_step`, :meth:`rstdp`);
    * ``Conv``: :func:`conv_potentials` then :func:`fire`; a conv with Izhikevich neurons
      (``conv.neuron``): :func:`izhikevich_conv`. Convs below the one being trained use plain
      ``fire`` (no competition, docs/reference/semantics.md#mozafari2018);
    * ``Parallel`` (docs/reference/networks.md#inception2024): every conv of the block reads the
      block's input and fires plainly; each output is padded with never-firing cells by
      ``(k - k_min) // 2`` on every side (``k`` its kernel, ``k_min`` the block's smallest), so
      that the maps are centred, and the maps are concatenated along the channels in block
      order. (A block of decision heads is only concatenated by :meth:`forward` /
      :meth:`stages`; its readout is :meth:`decide`.)

    Training a thresholded conv (:meth:`stdp_step`, a standalone conv or one branch of a block):
    its thresholded potentials go through pointwise inhibition (when ``conv.pointwise``), then
    k-WTA ``(conv.k, conv.radius)``, then :func:`stdp` with the rule's bounds, stabiliser and
    current rates. Doubling rates are advanced one sample at a time (a per-conv counter that
    persists across calls); fixed rates are constant. A branch is trained alone, on the block's
    input, with its own counter and rates.

    A decision network (:class:`fastspike.spec.DecisionReadout`) decides by k-WTA
    ``(conv.k, conv.radius)`` over ``P[T-1]`` of its last conv (:meth:`decide`) and trains it by
    R-STDP with adaptive rates (:meth:`rstdp`). A phase with ``joint`` convs
    (docs/reference/networks.md#deepr2024) rewards their k-WTA winners with the decision
    layer's, by the phase's ``schedule``. A vote network (:class:`fastspike.spec.VoteReadout`,
    docs/reference/networks.md#majority2024) decides by every head of its last block and
    :func:`vote`; :meth:`rstdp` rewards each head by its own vote. A linear-readout network
    gives "spiked at any time" of its final map (:meth:`features`).

    R-STDP state: every conv that learns by R-STDP (a decision conv or head by its ``rule``, a
    thresholded conv by its ``reward_rule``) has its own base rates, current reward and
    punishment rates (:meth:`layer_rates`) and rescaling after each chunk. The counts of the
    current chunk and the number of chunks completed belong to the phase being trained: they are
    reset by :meth:`begin_phase`, which :meth:`rstdp` calls itself when it is given a phase other
    than the current one.

    Args:
        spec: the network.
        compat: reproduce the reference's quirks (float32 k-WTA score, whole-tensor clamp on every
            STDP call). In clean mode each learned weight tensor is clamped to its rule's bounds
            once, here, and STDP clamps only what it updates.
        seed: seed of the single generator the initial weights ``N(weight_mean, weight_std)`` are
            drawn from, conv by conv in ``spec.convs`` order (a block's convs in block order);
            ``None`` draws a non-deterministic seed.
        exact_decision: compute a decision conv's ``P[T-1]`` exactly rounded (the sum taken in
            float64, rounded once to float32), as fastspike's compiled decision layer does. By
            default it comes from the float32 ``conv2d`` like every potential, whose rounding
            depends on the summation order, and with it the winner among (near-)tied neurons
            (docs/reference/semantics.md#numerics); decision weights clamped at their bounds make exact
            ties common.

    Attributes:
        weights: ``{conv name: [F, C, k, k] float32}``, in ``spec.convs`` order; updated in place.
        reward_rates, punish_rates: the single decision layer's current R-STDP rates.
        reward_base, punish_base, chunk: its base rates and chunk length (zeros and 0 when the
            network has no single decision layer).
    """

    def __init__(
        self, spec: NetworkSpec, compat: bool = False, seed: int | None = 0, exact_decision: bool = False
    ) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
        self.spec = spec
        self.compat = compat
        self.exact_decision = exact_decision
        self.T = spec.T
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        self.weights: dict[str, Tensor] = {}
        for conv in spec.convs:
            shape = (conv.out_channels, conv.in_channels, conv.kernel, conv.kernel)
            w = torch.empty(shape).normal_(conv.weight_mean, conv.weight_std, generator=gen)
            if not compat and conv.rule is not None:
                w.clamp_(conv.rule.lb, conv.rule.ub)
            self.weights[conv.name] = w
        self._convs = {conv.name: conv for conv in spec.convs}
        self._blocks = {layer.name: layer for layer in spec.layers if isinstance(layer, Parallel)}

        # STDP layers: samples seen and current (a_plus, a_minus), in float32.
        self._samples: dict[str, int] = {}
        self._rates: dict[str, tuple[float, float]] = {}
        for conv in spec.convs:
            if isinstance(conv.rule, STDP):
                self._samples[conv.name] = 0
                self._rates[conv.name] = (f32(conv.rule.rates.a_plus), f32(conv.rule.rates.a_minus))

        # R-STDP layers: base and current (reward, punish) rates, each a float32 (a_plus, a_minus).
        self._rstdp_base: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        self._rstdp_rates: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        for conv in spec.convs:
            rule = rstdp_rule(conv)
            if rule is not None:
                reward, punish = rule.rates.reward, rule.rates.punish
                base = ((f32(reward[0]), f32(reward[1])), (f32(punish[0]), f32(punish[1])))
                self._rstdp_base[conv.name] = self._rstdp_rates[conv.name] = base

        # The readout: a single decision layer, or the block of heads of a vote.
        last = spec.convs[-1]
        self._decision = last if isinstance(spec.readout, DecisionReadout) and last.is_decision else None
        self._heads: Parallel | None = None
        if isinstance(spec.readout, VoteReadout):
            self._heads = spec.layers[-1]
            names = [conv.name for conv in self._heads.convs]
            self._fallback = names.index(spec.readout.fallback)
            chunks = {conv.rule.rates.chunk for conv in self._heads.convs if isinstance(conv.rule, RSTDP)}
            if len(chunks) > 1:
                raise ValueError(
                    f"{self._heads.name}: the heads are rescaled together, so their R-STDP rules need one "
                    f"chunk length, got {sorted(chunks)}"
                )

        # The phase being trained by R-STDP and its counts (see begin_phase).
        self._phase: Phase | None = None
        self._chunk_calls = 0
        self._chunk_hits = 0  # the decision's (or the vote's) right answers in the current chunk
        self._chunk_misses = 0  # its wrong answers (silence is neither)
        heads = [conv.name for conv in self._heads.convs] if self._heads is not None else []
        self._head_hits = dict.fromkeys(heads, 0)  # each head's own right answers in the chunk
        self._head_misses = dict.fromkeys(heads, 0)  # and its wrong ones
        self._chunks_done = 0

    # ----------------------------------------------------------------------------- state
    def conv(self, name: str) -> Conv:
        """The conv layer called ``name`` (standalone, or a branch or head of a block)."""
        if name not in self._convs:
            raise KeyError(f"layer: no conv layer named {name!r} (have {list(self._convs)})")
        return self._convs[name]

    def rates(self, name: str) -> tuple[float, float]:
        """Current ``(a_plus, a_minus)`` of the STDP layer ``name`` (those of its last sample)."""
        if name not in self._rates:
            raise KeyError(f"layer: {name!r} is not a conv layer with an STDP rule")
        return self._rates[name]

    def samples_seen(self, name: str) -> int:
        """Number of STDP samples the layer ``name`` has trained on."""
        self.rates(name)
        return self._samples[name]

    def layer_rates(self, name: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """Current ``(reward, punish)`` rates of the R-STDP-trained conv ``name`` (a decision conv
        or head by its ``rule``, a thresholded conv by its ``reward_rule``), each a float32
        ``(a_plus, a_minus)``."""
        if name not in self._rstdp_rates:
            raise KeyError(f"layer: {name!r} is not a conv layer that learns by R-STDP")
        return self._rstdp_rates[name]

    @property
    def reward_rates(self) -> tuple[float, float]:
        """Current reward ``(a_plus, a_minus)`` of the single decision layer."""
        return self._single_rates()[0]

    @reward_rates.setter
    def reward_rates(self, rates: tuple[float, float]) -> None:
        name = self._decision_conv().name
        self._rstdp_rates[name] = (tuple(rates), self._rstdp_rates[name][1])

    @property
    def punish_rates(self) -> tuple[float, float]:
        """Current punishment ``(a_plus, a_minus)`` of the single decision layer."""
        return self._single_rates()[1]

    @punish_rates.setter
    def punish_rates(self, rates: tuple[float, float]) -> None:
        name = self._decision_conv().name
        self._rstdp_rates[name] = (self._rstdp_rates[name][0], tuple(rates))

    @property
    def reward_base(self) -> tuple[float, float]:
        """Base reward rates of the single decision layer."""
        return self._single_rates(base=True)[0]

    @property
    def punish_base(self) -> tuple[float, float]:
        """Base punishment rates of the single decision layer."""
        return self._single_rates(base=True)[1]

    @property
    def chunk(self) -> int:
        """Chunk length of the single decision layer's adaptive rates (0 without one)."""
        conv = self._decision
        return conv.rule.rates.chunk if conv is not None and isinstance(conv.rule, RSTDP) else 0

    def _single_rates(self, base: bool = False) -> tuple[tuple[float, float], tuple[float, float]]:
        conv = self._decision
        if conv is None or conv.name not in self._rstdp_rates:
            return (0.0, 0.0), (0.0, 0.0)
        return (self._rstdp_base if base else self._rstdp_rates)[conv.name]

    def to(self, device: torch.device | str) -> ReferenceNetwork:
        """Move the weights to ``device``; inputs must live there too."""
        self.weights = {name: w.to(device) for name, w in self.weights.items()}
        return self

    # ----------------------------------------------------------------------------- forward
    def encode(self, image: Tensor) -> Tensor:
        """One uint8 image ``[H, W]`` -> its input wave ``[T, C, H', W']`` (the spec's encoder)."""
        enc = self.spec.encoder
        times = encode_image(
            image,
            list(enc.dog),
            enc.padding,
            enc.threshold,
            enc.norm_radius,
            self.T,
            enc.mode,
            enc.tie_consistent,
        )
        return times_to_wave(times, self.T)

    def _apply(self, layer, wave: Tensor, training: bool) -> Tensor:
        """One layer on a wave, without competition (plain ``fire`` for a conv)."""
        if isinstance(layer, Pad):
            return pad(wave, layer.padding)
        if isinstance(layer, Pool):
            return pool(wave, layer.kernel, layer.step, layer.padding)
        if isinstance(layer, Inhibit):
            if training or not layer.train_only:
                return pointwise_inhibition(wave)
            return wave
        if isinstance(layer, Conv):
            return self._spikes(layer, wave)
        if isinstance(layer, Parallel):
            return self._parallel(layer, wave)
        raise TypeError(f"layer: unknown layer type {type(layer).__name__}")

    def _parallel(self, block: Parallel, wave: Tensor) -> Tensor:
        """A block on its input wave: every conv fires plainly on ``wave``; each output is padded
        with never-firing cells by ``(k - k_min) // 2`` on every side and the padded maps are
        concatenated along the channels in block order."""
        k_min = min(conv.kernel for conv in block.convs)
        outputs = []
        for conv in block.convs:
            if (conv.kernel - k_min) % 2:
                raise ValueError(
                    f"{block.name}: {conv.name!r}'s {conv.kernel}x{conv.kernel} map cannot be centred on "
                    f"the {k_min}x{k_min} one (kernels must differ by even numbers)"
                )
            outputs.append(pad(self._spikes(conv, wave), (conv.kernel - k_min) // 2))
        return torch.cat(outputs, dim=1)

    def _spikes(self, conv: Conv, wave: Tensor) -> Tensor:
        """A conv's output spikes on its padded input wave: plain ``fire`` (integrate-and-fire) or
        :func:`izhikevich_conv` (``conv.neuron``)."""
        if conv.neuron is not None:
            return izhikevich_conv(wave, self.weights[conv.name], conv.neuron, conv.threshold)[0]
        return fire_spikes(conv_potentials(wave, self.weights[conv.name]), conv.threshold)

    def _run(self, layers, wave: Tensor, training: bool) -> Tensor:
        """``layers`` one after the other on a wave, without competition."""
        for layer in layers:
            wave = self._apply(layer, wave, training)
        return wave

    def _position(self, name: str) -> int:
        """Index in ``spec.layers`` of the conv ``name``, of the block holding it, or of the block
        called ``name``."""
        for i, layer in enumerate(self.spec.layers):
            if isinstance(layer, Conv) and layer.name == name:
                return i
            if isinstance(layer, Parallel) and (
                layer.name == name or any(conv.name == name for conv in layer.convs)
            ):
                return i
        have = [*self._convs, *self._blocks]
        raise KeyError(f"layer: no conv layer or block named {name!r} (have {have})")

    def stages(self, wave: Tensor, training: bool = False) -> list[Tensor]:
        """The wave after each layer of ``spec.layers`` (one entry per layer, in order)."""
        out = []
        for layer in self.spec.layers:
            wave = self._apply(layer, wave, training)
            out.append(wave)
        return out

    def forward(self, wave: Tensor, training: bool = False) -> Tensor:
        """All layers on an input wave; returns the final wave."""
        return self._run(self.spec.layers, wave, training)

    def layer_input(self, name: str, wave: Tensor, training: bool = False) -> Tensor:
        """The (padded) input wave of the conv ``name``: the layers below it run on ``wave``.

        ``name`` may be a standalone conv, a conv of a block (a branch or a head) or a block: for
        the last two it is the block's input.
        """
        return self._run(self.spec.layers[: self._position(name)], wave, training)

    def features(self, wave: Tensor) -> Tensor:
        """Whether each neuron of the final map spiked at any time (eval mode, no ``train_only``
        inhibition): its wave at the last step, flattened in (c, y, x) order; float32 0/1 ``[C*H*W]``."""
        return self.forward(wave, training=False)[-1].reshape(-1).clone()

    # ----------------------------------------------------------------------------- decision
    def _decision_conv(self) -> Conv:
        if self._decision is None:
            raise ValueError(
                f"{self.spec.name}: not a decision network (its readout is "
                f"{type(self.spec.readout).__name__})"
            )
        return self._decision

    def _decide_conv(self, conv: Conv, s_in: Tensor) -> Decision:
        """One decision conv on its padded input: the first of a k-WTA ``(conv.k, conv.radius)``
        over its ``P[T-1]`` wins (Izhikevich neurons: over their first spikes, :func:`izhikevich_conv`);
        class = ``f // (F // n_classes)``, or -1 (silence)."""
        weight = self.weights[conv.name]
        per_class = conv.out_channels // self.spec.n_classes
        if conv.neuron is not None:  # the earliest spike decides (ties: larger P there, lower index)
            spikes, thresholded = izhikevich_conv(s_in, weight, conv.neuron, None)
            winners = get_k_winners(thresholded, conv.k, conv.radius, self.compat, spikes)
            if not winners:
                return Decision(-1, None, s_in, spikes)
            return Decision(winners[0][0] // per_class, winners[0], s_in, spikes)
        potentials = conv_potentials(s_in, weight)
        if self.exact_decision:  # P[T-1] summed in float64 (exactly, for such weights), rounded once
            potentials[-1] = F.conv2d(s_in[-1:].double(), weight.double())[0].to(torch.float32)
        spikes, thresholded = fire(potentials, None)
        winners = get_k_winners(thresholded, conv.k, conv.radius, self.compat)
        if not winners:
            return Decision(-1, None, s_in, spikes)
        return Decision(winners[0][0] // per_class, winners[0], s_in, spikes)

    def decide(self, wave: Tensor, training: bool = False) -> Decision | VoteDecision:
        """Run the network on one input wave and pick the decision neuron.

        The winner is the first of a k-WTA ``(conv.k, conv.radius)`` over the decision layer's
        ``P[T-1]``; class = ``f // (F // n_classes)``, or -1 (silence) when no neuron fires.
        A vote network runs every head this way on the block's input and returns a
        :class:`VoteDecision`: the :func:`vote` of the heads' classes and each head's
        :class:`Decision`. ``training``: run the layers below in training mode (as :meth:`rstdp`
        does).
        """
        if self._heads is not None:
            s_in = self.layer_input(self._heads.name, wave, training)
            heads = tuple(self._decide_conv(conv, s_in) for conv in self._heads.convs)
            return VoteDecision(vote([h.decision for h in heads], self._fallback), heads)
        conv = self._decision_conv()
        return self._decide_conv(conv, self.layer_input(conv.name, wave, training))

    def predict(self, wave: Tensor) -> int:
        """Class of one input wave (eval mode), or -1 when no decision neuron fires (every head,
        for a vote)."""
        return self.decide(wave).decision
