"""Loads the compiled operator library and explains how to rebuild it."""

from __future__ import annotations

import torch

REBUILD = "pip install --no-build-isolation --no-deps -e .   (from the fastspike source folder)"


def load_library():
    """Import ``fastspike._C``, which registers ``torch.ops.fastspike.*``."""
    try:
        from fastspike import _C
    except ImportError as err:  # missing, or built against another torch (undefined symbols)
        raise ImportError(
            "fastspike: the compiled operator library fastspike._C could not be loaded "
            f"({err}). It is missing or was built against another torch than the installed "
            f"torch {torch.__version__}. Rebuild it with:\n    {REBUILD}"
        ) from err
    built = getattr(_C, "torch_version", "unknown")
    if built != torch.__version__:
        raise ImportError(
            f"fastspike: the compiled library was built against torch {built}, but torch "
            f"{torch.__version__} is installed. Rebuild it with:\n    {REBUILD}"
        )
    return _C


def with_cuda() -> bool:
    """Whether the compiled library has its CUDA kernels (``fastspike.WITH_CUDA``); loads it."""
    return bool(load_library().with_cuda)
