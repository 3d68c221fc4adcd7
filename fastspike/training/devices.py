"""The device a run uses: CUDA when usable, else the CPU, or a clear error."""

from __future__ import annotations

import torch

from fastspike._loader import load_library
from fastspike.usage import arg, setting

__all__ = ["resolve_device"]


def with_cuda() -> bool:
    """Whether the compiled library holds the CUDA kernels."""
    return bool(load_library().with_cuda)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on (default CUDA when usable), or a ``ValueError`` naming ``device``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() and with_cuda() else "cpu")
    name = arg("device")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name}: expected 'cpu' or 'cuda', got {device!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: 'cuda' asked for, but torch sees no GPU here (use {setting('device', 'cpu')})"
            )
        if not with_cuda():
            raise ValueError(
                f"{name}: fastspike was built without its CUDA kernels (use {setting('device', 'cpu')}, or "
                "rebuild with FORCE_CUDA=1 pip install --no-build-isolation --no-deps -e .)"
            )
    elif device.type != "cpu":
        raise ValueError(f"{name}: expected 'cpu' or 'cuda', got {str(device)!r}")
    return device
