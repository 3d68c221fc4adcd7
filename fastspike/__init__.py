"""fastspike: fused kernels for STDP-trained convolutional spiking networks."""

import os as _os
import sys as _sys

# CPU worker threads sleep while they wait instead of spinning: with another busy process on
# the machine, spinning threads take the cores the working ones need (2 threads, one core
# taken: 59-64% of the quiet inference throughput kept instead of 44%; quiet, ~5% lower).
# OpenMP reads this once, when torch loads, so it applies only when fastspike is imported
# first (as `python -m fastspike` does); a value already set, e.g. ACTIVE, is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from fastspike._loader import load_library as _load_library  # noqa: E402

_C = _load_library()
WITH_CUDA = bool(_C.with_cuda)

from fastspike import neurons, ops, spec, spiketrain  # noqa: E402
from fastspike.diehlcook import DiehlCook, train_diehl_cook  # noqa: E402
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
    "DiehlCook",
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
    "train_diehl_cook",
    "train_mnist",
    "conv_fire",
    "final_potential",
    "final_potential_tap_sums",
    "fire",
    "first_spike",
    "first_spike_from_wave",
    "kwta",
    "neurons",
    "ops",
    "pointwise_inhibition",
    "pool_times",
    "spike_wave",
    "spiketrain",
    "stdp_update",
]
