"""fastspike: fused kernels for STDP-trained convolutional spiking networks."""

from fastspike._loader import load_library as _load_library

_C = _load_library()
WITH_CUDA = bool(_C.with_cuda)

from fastspike import ops, spec  # noqa: E402
from fastspike.models import Kheradpisheh2018, Mozafari2018, build  # noqa: E402
from fastspike.network import Network  # noqa: E402
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
from fastspike.registry import MODELS, get_spec, register  # noqa: E402
from fastspike.spec import NetworkSpec, load_spec  # noqa: E402
from fastspike.train import evaluate, evaluate_images, load_model, train, train_mnist  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "MODELS",
    "WITH_CUDA",
    "Kheradpisheh2018",
    "Mozafari2018",
    "Network",
    "NetworkSpec",
    "build",
    "evaluate",
    "evaluate_images",
    "get_spec",
    "load_model",
    "load_spec",
    "register",
    "spec",
    "train",
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
