"""fastspike: fused kernels for STDP-trained convolutional spiking networks."""

from fastspike._loader import load_library as _load_library

_C = _load_library()
WITH_CUDA = bool(_C.with_cuda)

from fastspike import ops  # noqa: E402
from fastspike.ops import (  # noqa: E402
    conv_fire,
    final_potential,
    final_potential_tap_sums,
    fire,
    first_spike,
    first_spike_from_wave,
    kwta,
    pointwise_inhibition,
    pool_times,
    spike_wave,
    stdp_update,
)

from fastspike.models import Mozafari2018  # noqa: E402
from fastspike.train import evaluate, load_model, train_mnist  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "WITH_CUDA",
    "Mozafari2018",
    "evaluate",
    "load_model",
    "train_mnist",
    "conv_fire",
    "final_potential",
    "final_potential_tap_sums",
    "fire",
    "first_spike",
    "first_spike_from_wave",
    "kwta",
    "ops",
    "pointwise_inhibition",
    "pool_times",
    "spike_wave",
    "stdp_update",
]
