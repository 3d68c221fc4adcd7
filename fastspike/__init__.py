"""fastspike: fused kernels for STDP-trained convolutional spiking networks.

Importing the package loads nothing else: every name below comes from its module on first
use (PEP 562), so ``import fastspike``, :mod:`fastspike.spec` and :mod:`fastspike.reference`
work without the compiled operator library, which loads with the first module that needs
an operator (:mod:`fastspike.ops` and what imports it) or with ``fastspike.WITH_CUDA``.
"""

import importlib as _importlib
import os as _os
import sys as _sys
import types as _types

# CPU worker threads sleep while they wait instead of spinning: with another busy process on
# the machine, spinning threads take the cores the working ones need (2 threads, one core
# taken: 59-64% of the quiet inference throughput kept instead of 44%; quiet, ~5% lower).
# OpenMP reads this once, when torch loads, so it applies only when fastspike is imported
# first (as `python -m fastspike` does); a value already set, e.g. ACTIVE, is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# name -> (module, attribute): what `from fastspike import name` gives, imported on first use;
# attribute None: the module itself. ``WITH_CUDA`` is computed (see __getattr__).
_EXPORTS = {
    # the training entry points
    "train": ("fastspike.api", "train"),
    "train_mnist": ("fastspike.api", "train_mnist"),
    "evaluate": ("fastspike.api", "evaluate"),
    "evaluate_images": ("fastspike.api", "evaluate_images"),
    "load_model": ("fastspike.api", "load_model"),
    "CheckpointError": ("fastspike.usage", "CheckpointError"),
    "DataNotFoundError": ("fastspike.usage", "DataNotFoundError"),
    "train_diehl_cook": ("fastspike.families.diehl_cook", "train_diehl_cook"),
    # models, specs and the registry
    "DiehlCook": ("fastspike.diehlcook", "DiehlCook"),
    "Kheradpisheh2018": ("fastspike.models", "Kheradpisheh2018"),
    "Mozafari2018": ("fastspike.models", "Mozafari2018"),
    "build": ("fastspike.models", "build"),
    "Network": ("fastspike.network", "Network"),
    "MODELS": ("fastspike.registry", "MODELS"),
    "get_spec": ("fastspike.registry", "get_spec"),
    "register": ("fastspike.registry", "register"),
    "NetworkSpec": ("fastspike.spec", "NetworkSpec"),
    "load_spec": ("fastspike.registry", "load_config"),
    # models of other simulators brought in (fastspike.convert)
    "from_spyker": ("fastspike.convert", "from_spyker"),
    "from_spyketorch": ("fastspike.convert", "from_spyketorch"),
    # the operators (fastspike.ops loads the compiled library)
    "conv_fire": ("fastspike.ops", "conv_fire"),
    "final_potential": ("fastspike.ops", "final_potential"),
    "fire": ("fastspike.ops", "fire"),
    "first_spike": ("fastspike.ops", "first_spike"),
    "first_spike_from_wave": ("fastspike.ops", "first_spike_from_wave"),
    "kwta": ("fastspike.ops", "kwta"),
    "pointwise_inhibition": ("fastspike.ops", "pointwise_inhibition"),
    "pool_times": ("fastspike.ops", "pool_times"),
    "spike_wave": ("fastspike.ops", "spike_wave"),
    "stdp_update": ("fastspike.ops", "stdp_update"),
    # modules
    "neurons": ("fastspike.neurons", None),
    "nir": ("fastspike.nir", None),  # NIR export and import (needs the optional package nir)
    "ops": ("fastspike.ops", None),
    "spec": ("fastspike.spec", None),
    "spiketrain": ("fastspike.spiketrain", None),
}

__all__ = ["WITH_CUDA", *_EXPORTS]


def __getattr__(name: str):
    if name == "WITH_CUDA":
        from fastspike._loader import with_cuda

        value = with_cuda()
    elif name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = _importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """The package module. Importing a submodule binds it on its package; where the table
    gives that name to something else (``fastspike.train``, the module, and ``train``, its
    function), the table's wins, as it did when this file imported every name itself."""

    def __setattr__(self, name, value):
        if (
            isinstance(value, _types.ModuleType)
            and value.__name__ == f"{__name__}.{name}"
            and name in _EXPORTS
            and _EXPORTS[name] != (value.__name__, None)
        ):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
