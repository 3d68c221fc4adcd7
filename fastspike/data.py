"""MNIST / Fashion-MNIST as uint8 tensors, encoded in batches and cached.

The four original IDX ``.gz`` files are read straight from ``root/<Name>/raw/``
when present (read-only folders work, nothing is unpacked); otherwise
``torchvision.datasets`` downloads them (``download=True``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fastspike.encoding import Encoder

__all__ = ["DATASETS", "Split", "encode_dataset", "load_dataset"]

DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass
class Split:
    images: Tensor  # [N, 28, 28] uint8
    labels: Tensor  # [N] int64

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


def _read_idx(path: str, kind: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if kind == "images":
        if magic != 2051:
            raise ValueError(f"{path}: not an IDX image file (magic {magic})")
        n, h, w = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, np.uint8, n * h * w, 16).reshape(n, h, w)
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX label file (magic {magic})")
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, np.uint8, n, 8)


def load_dataset(name: str = "mnist", root: str = "data", download: bool = True) -> tuple[Split, Split]:
    """Return ``(train, test)`` splits of ``"mnist"`` or ``"fashion-mnist"``."""
    if name not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {name!r}")
    folder = os.path.join(os.path.expanduser(root), DATASETS[name], "raw")
    paths = {s: [os.path.join(folder, f) for f in files] for s, files in _FILES.items()}
    if all(os.path.exists(p) for ps in paths.values() for p in ps):
        out = []
        for split in ("train", "test"):
            img, lab = paths[split]
            out.append(
                Split(
                    torch.from_numpy(_read_idx(img, "images").copy()),
                    torch.from_numpy(_read_idx(lab, "labels").astype(np.int64)),
                )
            )
        return out[0], out[1]
    if not download:
        raise FileNotFoundError(
            f"dataset {name!r}: the IDX files are not in {folder!r} and download=False; put "
            f"{', '.join(f for fs in _FILES.values() for f in fs)} there or pass download=True"
        )
    try:
        import torchvision.datasets as tvd
    except ImportError as err:  # pragma: no cover
        raise ImportError("downloading datasets needs torchvision: pip install torchvision") from err
    cls = getattr(tvd, DATASETS[name])
    try:
        sets = [cls(os.path.expanduser(root), train=t, download=True) for t in (True, False)]
    except Exception as err:
        raise FileNotFoundError(
            f"dataset {name!r}: not found under {root!r} and the download failed ({err})"
        ) from err
    return tuple(Split(s.data.to(torch.uint8), s.targets.to(torch.int64)) for s in sets)  # type: ignore[return-value]


def encode_dataset(
    images: Tensor,
    encoder: Encoder,
    device: str | torch.device = "cpu",
    batch_size: int = 2000,
    cache_dir: str | None = None,
    progress: bool = False,
) -> Tensor:
    """Encode uint8 images ``[N, 28, 28]`` into first-spike times ``[N, C, 28, 28]`` uint8 on ``device``.

    With ``cache_dir`` the result is stored on disk, keyed by the encoding
    parameters and a hash of the images, and reloaded next time.
    """
    device = torch.device(device)
    path = None
    if cache_dir:
        h = hashlib.sha1(
            images.numpy().tobytes() if images.device.type == "cpu" else images.cpu().numpy().tobytes()
        )
        h.update(encoder.key().encode())
        path = os.path.join(cache_dir, f"encoded-{h.hexdigest()[:16]}.pt")
        if os.path.exists(path):
            return torch.load(path, map_location=device)
    out = torch.empty(
        (images.shape[0], encoder.channels, *images.shape[-2:]), dtype=torch.uint8, device=device
    )
    starts = range(0, images.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="encode", unit="batch", leave=False)
    for s in starts:
        out[s : s + batch_size] = encoder(images[s : s + batch_size].to(device))
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        torch.save(out.cpu(), path + ".tmp")
        os.replace(path + ".tmp", path)
    return out
