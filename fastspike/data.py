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
    """An IDX file (gzip-compressed) -> uint8 ``[N, H, W]`` images or ``[N]`` labels, or a
    ``ValueError`` naming the file and what is wrong with it."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # not gzip, or cut short
        raise ValueError(f"{path}: not a readable gzip-compressed IDX file ({err})") from None
    header = 16 if kind == "images" else 8
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than an IDX {kind} header ({header} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if kind == "images":
        if magic != 2051:
            raise ValueError(f"{path}: not an IDX image file (magic {magic}, expected 2051)")
        n, h, w = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
        if h < 1 or w < 1:
            raise ValueError(f"{path}: images of {h}x{w} pixels")
        if len(data) - header < n * h * w:
            raise ValueError(
                f"{path}: the header announces {n} images of {h}x{w} ({n * h * w} bytes), the file holds "
                f"{len(data) - header} (truncated?)"
            )
        return np.frombuffer(data, np.uint8, n * h * w, header).reshape(n, h, w)
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX label file (magic {magic}, expected 2049)")
    n = int.from_bytes(data[4:8], "big")
    if len(data) - header < n:
        raise ValueError(
            f"{path}: the header announces {n} labels, the file holds {len(data) - header} (truncated?)"
        )
    return np.frombuffer(data, np.uint8, n, header)


def _split(images: np.ndarray, labels: np.ndarray, what: str) -> Split:
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and int(labels.max()) > 9:
        raise ValueError(f"{what}: labels must be classes 0-9, got {int(labels.max())}")
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{what}: expected 28x28 images, got {images.shape[1]}x{images.shape[2]}")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


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
                _split(_read_idx(img, "images"), _read_idx(lab, "labels"), f"dataset {name!r} ({split})")
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
    root_x = os.path.expanduser(root)
    made = [d for d in (root_x, os.path.join(root_x, DATASETS[name]), folder) if not os.path.exists(d)]
    try:
        sets = [cls(root_x, train=t, download=True) for t in (True, False)]
    except Exception as err:
        for d in reversed(made):  # a failed download leaves no empty folders behind
            try:
                os.rmdir(d)
            except OSError:
                pass
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
            expect = (images.shape[0], encoder.channels, *images.shape[-2:])
            try:
                cached = torch.load(path, map_location=device, weights_only=True)
            except Exception as err:  # a damaged cache file is re-made, not fatal
                cached, why = (
                    None,
                    f"unreadable ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                )
            else:
                why = f"not a uint8 tensor of shape {list(expect)}"
            if isinstance(cached, Tensor) and cached.dtype == torch.uint8 and tuple(cached.shape) == expect:
                return cached
            import warnings

            warnings.warn(f"cache_dir: {path} is {why}; encoding again and replacing it", stacklevel=2)
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
