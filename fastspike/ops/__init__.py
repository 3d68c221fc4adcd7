"""Typed Python wrappers and fake (shape) kernels for ``torch.ops.fastspike``.

Importing this package loads the compiled library (``fastspike._C``, which registers the
operators), then one module per compiled stem ``csrc/ops/<stem>.cpp``, each holding that
stem's wrappers (argument checks, docstrings with shapes) and the ``register_fake``
kernels that ``torch.compile`` and ``opcheck`` use: :mod:`~fastspike.ops.conv_fire`,
:mod:`~fastspike.ops.diehl_cook`, :mod:`~fastspike.ops.final_potential`,
:mod:`~fastspike.ops.fire`, :mod:`~fastspike.ops.first_spike`, :mod:`~fastspike.ops.kwta`,
:mod:`~fastspike.ops.neurons`, :mod:`~fastspike.ops.pointwise_inhibition`,
:mod:`~fastspike.ops.pool_times` and :mod:`~fastspike.ops.stdp_update`. The argument
checks they share are :mod:`fastspike.ops.checks`.

The wrappers are re-exported here (``from fastspike.ops import conv_fire``). Where a
stem and its operator share a name, ``fastspike.ops.<name>`` is the function; the module
is ``from fastspike.ops.<name> import ...`` (or ``sys.modules["fastspike.ops.<name>"]``).

Conventions (docs/reference/semantics.md#conventions): ``T`` is the number of time steps; a
first-spike map ("times") holds for every neuron the first step at which it
fires, and the value ``T`` itself means "never". Times are uint8 (T <= 255) or
int16. Potentials are float32 (fire / first_spike also take float16 and
bfloat16). Batched tensors have a leading batch dimension ``B``.
"""

from __future__ import annotations

from fastspike._loader import load_library

# first: the stem modules register fake kernels for operators the library defines
load_library()

from fastspike.ops import checks  # noqa: E402
from fastspike.ops.checks import (  # noqa: E402
    check_finite,
    check_times,
    check_weights,
    times_dtype,
    validate_winners,
)
from fastspike.ops.conv_fire import conv_fire  # noqa: E402
from fastspike.ops.diehl_cook import diehl_cook_infer, diehl_cook_train, trace_stdp  # noqa: E402
from fastspike.ops.final_potential import final_potential  # noqa: E402
from fastspike.ops.fire import fire  # noqa: E402
from fastspike.ops.first_spike import first_spike, first_spike_from_wave, spike_wave  # noqa: E402
from fastspike.ops.kwta import kwta  # noqa: E402
from fastspike.ops.neurons import izhikevich_run, lif_run  # noqa: E402
from fastspike.ops.pointwise_inhibition import pointwise_inhibition  # noqa: E402
from fastspike.ops.pool_times import pool_times  # noqa: E402
from fastspike.ops.stdp_update import stdp_update  # noqa: E402

__all__ = [
    "check_finite",
    "check_times",
    "check_weights",
    "checks",
    "conv_fire",
    "diehl_cook_infer",
    "diehl_cook_train",
    "final_potential",
    "fire",
    "first_spike",
    "first_spike_from_wave",
    "izhikevich_run",
    "kwta",
    "lif_run",
    "pointwise_inhibition",
    "pool_times",
    "spike_wave",
    "stdp_update",
    "times_dtype",
    "trace_stdp",
    "validate_winners",
]
