"""Pure-PyTorch reference of every fastspike operation, of the Mozafari 2018 network, of any
network described by a :class:`fastspike.spec.NetworkSpec` (:class:`ReferenceNetwork`) and of
Diehl & Cook 2015.

This package is the yardstick: the tests compare the compiled kernels against it and the
benchmark times it as "today's simulator". It follows ``docs/reference/semantics.md`` (and
``docs/reference/networks.md`` for parallel blocks, vote readouts and joint R-STDP phases) and works the
way the classic simulators do:

* one sample at a time, with no batch dimension;
* spike *waves*: float32 ``[T, C, H, W]`` tensors holding ``S[t] = 1`` from the first spike on
  (cumulative), rather than first-spike maps;
* the integrate-and-fire convolution is a single ``F.conv2d`` that treats time as the batch;
* everything else is whole-wave tensor operations too: fire, first spikes, pointwise inhibition
  and pooling act on every time step and position at once; k-winners-take-all ranks all
  candidates once, then picks the winners one after another along that ranking (its sequential
  semantics kept: the walk is the only Python loop); STDP updates every winner's feature in one
  elementwise computation.

Every step is written plainly, so that the code can be read against the specification. It is
written from the specification only and shares no code with any other simulator.

Shapes: ``T`` time steps, ``C`` input channels, ``F`` output features, ``(H, W)`` spatial size,
``(Hp, Wp)`` the size after explicit padding. First-spike maps ("times") are uint8 with ``T``
meaning "never", so ``T <= 255``.

Modules, each owning one thing:

* :mod:`~fastspike.reference.encoding`: the DoG / local normalisation / rank-order input
  encoding and the times <-> wave conversions;
* :mod:`~fastspike.reference.ops`: the operators on waves (conv, fire, first spike, pointwise
  inhibition, k-WTA, STDP, pooling, Izhikevich conv) and :func:`f32`;
* :mod:`~fastspike.reference.neurons`: the multi-spike LIF and Izhikevich neurons, step by step;
* :mod:`~fastspike.reference.readout`: :class:`Decision`, :class:`VoteDecision`, :func:`vote`;
* :mod:`~fastspike.reference.mozafari`: the hard-coded :class:`ReferenceMozafari2018`;
* :mod:`~fastspike.reference.network`: :class:`ReferenceNetwork`, any spec, forward and decision;
* :mod:`~fastspike.reference.training`: its STDP and R-STDP training, one sample at a time;
* :mod:`~fastspike.reference.diehl_cook`: Diehl & Cook 2015, one time step at a time.

The only dependencies are ``torch`` and the pure-Python :mod:`fastspike.spec` (network
descriptions) and :mod:`fastspike.spiketrain` (the Poisson input of Diehl & Cook); nothing here
imports the compiled library, :mod:`fastspike.ops` or the model catalogue
(:mod:`fastspike.registry`): the models' numbers (the DoG banks, the Mozafari spec) are passed
in by the caller.
"""

from fastspike.reference.diehl_cook import diehl_cook_reference, exp_neg, trace_stdp_reference
from fastspike.reference.encoding import (
    dog_bank,
    dog_kernel,
    encode_image,
    filter_image,
    local_normalization,
    rank_order_times,
    times_to_wave,
    wave_to_times,
)
from fastspike.reference.mozafari import ReferenceMozafari2018
from fastspike.reference.network import ReferenceNetwork
from fastspike.reference.neurons import izhikevich_reference, lif_reference
from fastspike.reference.ops import (
    Winner,
    conv_potentials,
    f32,
    fire,
    first_spike,
    get_k_winners,
    izhikevich_conv,
    pad,
    pointwise_inhibition,
    pool,
    stdp,
)
from fastspike.reference.readout import Decision, VoteDecision, vote

__all__ = [
    "Decision",
    "ReferenceMozafari2018",
    "ReferenceNetwork",
    "VoteDecision",
    "Winner",
    "conv_potentials",
    "diehl_cook_reference",
    "dog_bank",
    "dog_kernel",
    "encode_image",
    "exp_neg",
    "f32",
    "filter_image",
    "fire",
    "first_spike",
    "get_k_winners",
    "izhikevich_conv",
    "izhikevich_reference",
    "lif_reference",
    "local_normalization",
    "pad",
    "pointwise_inhibition",
    "pool",
    "rank_order_times",
    "stdp",
    "times_to_wave",
    "trace_stdp_reference",
    "vote",
    "wave_to_times",
]
