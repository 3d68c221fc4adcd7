"""Image datasets as uint8 tensors, encoded in batches and cached.

Read from files already on disk, in the layouts ``torchvision.datasets`` leaves (read-only
folders work, nothing is unpacked); with ``download=True`` torchvision fetches the files that
are missing, and fastspike then reads them itself:

- ``mnist``, ``fashion-mnist``, ``kmnist``: ``root/{MNIST,FashionMNIST,KMNIST}/raw/`` with
  the four IDX files (``train-images-idx3-ubyte`` ..., gzip-compressed ``.gz`` or not);
- ``emnist``: the EMNIST "digits" split (10 classes, 240,000 + 40,000 images),
  ``root/EMNIST/raw/emnist-digits-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]``;
  its images are stored transposed and are turned upright here;
- ``cifar10``: CIFAR-10 as grey images (ITU-R 601 luma, rounded), 32x32, from the binary
  version ``root/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`` or the Python
  version ``root/cifar-10-batches-py/`` (read with an unpickler that accepts numpy arrays
  and nothing else: a file that fastspike reads cannot run code);
- ``folder``: any images in class folders, ``root/train/<class>/*`` and
  ``root/test/<class>/*`` (PNG, JPEG, BMP, ...: whatever Pillow reads), converted to grey
  and resized to ``image_size`` (default 28x28); classes are the folder names in sorted
  order and must be the same in both splits.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from fastspike.encoding import Encoder
from fastspike.usage import DataNotFoundError, arg

__all__ = ["DATASETS", "Split", "encode_dataset", "load_dataset"]

#: dataset name -> its folder under ``root`` (``folder``: ``root`` itself)
DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "emnist": "EMNIST",
    "cifar10": "cifar-10-batches-bin",
    "folder": "",
}
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_EMNIST_FILES = {
    "train": ("emnist-digits-train-images-idx3-ubyte", "emnist-digits-train-labels-idx1-ubyte"),
    "test": ("emnist-digits-test-images-idx3-ubyte", "emnist-digits-test-labels-idx1-ubyte"),
}
_DIGITS = tuple(str(i) for i in range(10))
_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm", ".ppm", ".webp")


@dataclass
class Split:
    images: Tensor  # [N, H, W] uint8 (28x28 for the MNIST family)
    labels: Tensor  # [N] int64, class indices
    classes: tuple[str, ...] = field(default=_DIGITS)  # class names, by index

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n], self.classes)


def _read_idx(path: str, kind: str) -> np.ndarray:
    """An IDX file (gzip-compressed or not) -> uint8 ``[N, H, W]`` images or ``[N]`` labels,
    or a ``ValueError`` naming the file and what is wrong with it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b" or path.endswith(".gz"):
            data = gzip.decompress(data)
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


def _split(
    images: np.ndarray, labels: np.ndarray, what: str, classes: tuple[str, ...] = _DIGITS, size=(28, 28)
) -> Split:
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= len(classes):
        raise ValueError(f"{what}: labels must be classes 0-{len(classes) - 1}, got {int(labels.max())}")
    if size is not None and images.shape[1:] != tuple(size):
        raise ValueError(
            f"{what}: expected {size[0]}x{size[1]} images, got {images.shape[1]}x{images.shape[2]}"
        )
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), tuple(classes))


def _existing(folder: str, name: str) -> str | None:
    """``folder/name`` with or without ``.gz``, whichever exists (compressed first)."""
    base = name[:-3] if name.endswith(".gz") else name
    for cand in (base + ".gz", base):
        path = os.path.join(folder, cand)
        if os.path.exists(path):
            return path
    return None


def _load_idx(name: str, root: str) -> tuple[Split, Split] | None:
    emnist = name == "emnist"
    folder = os.path.join(root, DATASETS[name], "raw")
    files = _EMNIST_FILES if emnist else _FILES
    paths = {s: [_existing(folder, f) for f in fs] for s, fs in files.items()}
    if any(p is None for ps in paths.values() for p in ps):
        return None
    out = []
    for split in ("train", "test"):
        img, lab = paths[split]
        images = _read_idx(img, "images")
        if emnist:  # stored column by column: upright as MNIST
            images = np.ascontiguousarray(images.transpose(0, 2, 1))
        out.append(_split(images, _read_idx(lab, "labels"), f"dataset {name!r} ({split})"))
    return out[0], out[1]


def _grey(rgb: np.ndarray) -> np.ndarray:
    """``[N, 3, H, W]`` uint8 RGB -> ``[N, H, W]`` uint8 luma (ITU-R 601), rounded."""
    r, g, b = (rgb[:, i].astype(np.int32) for i in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses every other
    global (a pickle that would construct anything else, or call anything, is rejected)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are read)")


def _cifar_batch_bin(path: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        data = f.read()
    rec = 1 + 3 * 32 * 32
    if len(data) == 0 or len(data) % rec:
        raise ValueError(
            f"{path}: {len(data)} bytes, not a whole number of CIFAR-10 records ({rec} bytes each)"
        )
    arr = np.frombuffer(data, np.uint8).reshape(-1, rec)
    return arr[:, 1:].reshape(-1, 3, 32, 32), arr[:, 0].copy()


def _cifar_batch_py(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _ArraysOnly(io.BytesIO(f.read()), encoding="bytes").load()
        data, labels = d[b"data"], d[b"labels"]
        data = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(labels, dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: not a CIFAR-10 batch ({err})") from None
    return data, labels


def _load_cifar10(root: str) -> tuple[Split, Split] | None:
    names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    for folder, suffix, reader in (
        ("cifar-10-batches-bin", ".bin", _cifar_batch_bin),
        ("cifar-10-batches-py", "", _cifar_batch_py),
    ):
        paths = {s: [os.path.join(root, folder, n + suffix) for n in ns] for s, ns in names.items()}
        if not all(os.path.exists(p) for ps in paths.values() for p in ps):
            continue
        out = []
        for split in ("train", "test"):
            parts = [reader(p) for p in paths[split]]
            rgb = np.concatenate([x for x, _ in parts])
            labels = np.concatenate([y for _, y in parts])
            out.append(_split(_grey(rgb), labels, f"dataset 'cifar10' ({split})", _CIFAR_CLASSES, (32, 32)))
        return out[0], out[1]
    return None


def _load_folder(root: str, image_size: tuple[int, int]) -> tuple[Split, Split]:
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover
        raise ImportError("dataset 'folder' reads images with Pillow: pip install pillow") from err
    h, w = image_size
    splits, classes_of = {}, {}
    for split in ("train", "test"):
        d = os.path.join(root, split)
        if not os.path.isdir(d):
            raise DataNotFoundError(
                f"{arg('root')}: dataset 'folder': no {split!r} folder in {root!r}; expected "
                f"{root}/train/<class>/<images> and {root}/test/<class>/<images>"
            )
        classes = tuple(sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))))
        if len(classes) < 2:
            raise ValueError(
                f"dataset 'folder': {d!r} holds {len(classes)} class folders, expected at least 2"
            )
        images, labels = [], []
        for k, c in enumerate(classes):
            for fname in sorted(os.listdir(os.path.join(d, c))):
                if not fname.lower().endswith(_IMAGE_SUFFIXES):
                    continue
                path = os.path.join(d, c, fname)
                try:
                    with Image.open(path) as im:
                        im = im.convert("L")
                        if im.size != (w, h):
                            im = im.resize((w, h), Image.BILINEAR)
                        images.append(np.asarray(im, dtype=np.uint8))
                except (OSError, ValueError) as err:
                    raise ValueError(f"dataset 'folder': {path}: not a readable image ({err})") from None
                labels.append(k)
        if not images:
            raise ValueError(f"dataset 'folder': no images ({', '.join(_IMAGE_SUFFIXES)}) under {d!r}")
        splits[split] = (np.stack(images), np.asarray(labels, dtype=np.int64))
        classes_of[split] = classes
    if classes_of["train"] != classes_of["test"]:
        raise ValueError(
            f"dataset 'folder': the train and test class folders differ: {list(classes_of['train'])} "
            f"against {list(classes_of['test'])}"
        )
    cls = classes_of["train"]
    train = _split(*splits["train"], f"dataset 'folder' ({root}/train)", cls, (h, w))
    test = _split(*splits["test"], f"dataset 'folder' ({root}/test)", cls, (h, w))
    return train, test


def _missing(name: str, root: str) -> str:
    if name == "cifar10":
        return (
            f"{os.path.join(root, 'cifar-10-batches-bin')} (data_batch_1.bin ... data_batch_5.bin, "
            f"test_batch.bin) or {os.path.join(root, 'cifar-10-batches-py')}"
        )
    files = _EMNIST_FILES if name == "emnist" else _FILES
    names = ", ".join(f[:-3] if f.endswith(".gz") else f for fs in files.values() for f in fs)
    return f"{os.path.join(root, DATASETS[name], 'raw')} ({names}, each .gz or not)"


def _misplaced(name: str, root: str) -> str | None:
    """When the files are in ``root`` itself or in ``root/raw`` (``root`` is ``MNIST/raw``,
    ``MNIST``, ``cifar-10-batches-bin``, ...) rather than where ``name`` is read from: what
    to do instead."""
    if name == "cifar10":
        probes = [("cifar-10-batches-bin", "data_batch_1.bin"), ("cifar-10-batches-py", "data_batch_1")]
        places = [(folder, folder, root, probe) for folder, probe in probes]
    else:
        probe = (_EMNIST_FILES if name == "emnist" else _FILES)["train"][0]
        sub = os.path.join(DATASETS[name], "raw")
        places = [(sub, sub, root, probe), (DATASETS[name], sub, os.path.join(root, "raw"), probe)]
    for tail, sub, here, probe in places:
        if _existing(here, probe) is None:
            continue
        path = os.path.abspath(root)
        if path.endswith(os.sep + tail):
            return (
                f"{root!r} is the {tail} folder itself; point {arg('root')} at the folder that holds {sub} "
                f"({path[: -len(tail) - 1] or os.sep})"
            )
        # another dataset's folder (MNIST, Fashion-MNIST and KMNIST share their file names)
        other = [
            p
            for p in os.path.abspath(here).split(os.sep)[-2:]
            if p in DATASETS.values() and p != DATASETS[name]
        ]
        if other:
            return (
                f"it is read from ROOT/{sub}, and {here!r} is another dataset's ({other[0]}); point "
                f"{arg('root')} at the folder that holds {sub}"
            )
        return (
            f"the files are in {here!r}, but it is read from ROOT/{sub}: move them to "
            f"{os.path.join(root, sub)}"
        )
    return None


def _reason(err: BaseException) -> str:
    """The gist of a download error, on one line (torchvision's lists every mirror it tried)."""
    lines = [line.strip().strip("<>") for line in str(err).splitlines()]
    lines = [line for line in lines if line and line != ")"]
    if not lines:
        return type(err).__name__
    return next((line for line in reversed(lines) if "error" in line.lower()), lines[0])


def load_dataset(
    name: str = "mnist", root: str = "data", download: bool = True, image_size: tuple[int, int] = (28, 28)
) -> tuple[Split, Split]:
    """Return the ``(train, test)`` splits of dataset ``name`` (see :data:`DATASETS` and the
    module's docstring for the files each one reads under ``root``). ``image_size``: the
    size (height, width) that ``folder`` images are resized to; the others have their own."""
    if name not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {name!r}")
    root_x = os.path.expanduser(root)
    if name == "folder":
        if (
            not isinstance(image_size, (tuple, list))
            or len(image_size) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in image_size)
        ):
            raise ValueError(f"image_size: expected (height, width) in pixels, got {image_size!r}")
        return _load_folder(root_x, tuple(image_size))
    load = _load_cifar10 if name == "cifar10" else lambda r: _load_idx(name, r)
    found = load(root_x)
    if found is not None:
        return found
    hint = _misplaced(name, root_x)
    if hint is not None:
        raise DataNotFoundError(f"{arg('root')}: dataset {name!r}: {hint}")
    if not download:
        raise DataNotFoundError(
            f"{arg('root')}: dataset {name!r}: its files are not in {_missing(name, root_x)} and "
            f"download=False; put them there or pass download=True"
        )
    try:
        import torchvision.datasets as tvd
    except ImportError as err:  # pragma: no cover
        raise ImportError("downloading datasets needs torchvision: pip install torchvision") from err
    folders = [root_x] if name == "cifar10" else [root_x, os.path.join(root_x, DATASETS[name])]
    if name != "cifar10":
        folders.append(os.path.join(root_x, DATASETS[name], "raw"))
    made = [d for d in folders if not os.path.exists(d)]
    try:
        if name == "cifar10":  # torchvision fetches the Python version; read here without its pickle
            tvd.CIFAR10(root_x, train=True, download=True)
        elif name == "emnist":
            tvd.EMNIST(root_x, split="digits", train=True, download=True)
        else:
            cls = getattr(tvd, DATASETS[name])
            for t in (True, False):
                cls(root_x, train=t, download=True)
    except Exception as err:
        for d in reversed(made):  # a failed download leaves no empty folders behind
            try:
                os.rmdir(d)
            except OSError:
                pass
        raise DataNotFoundError(
            f"{arg('root')}: dataset {name!r}: its files are not in {_missing(name, root_x)} and the "
            f"download failed ({_reason(err)})"
        ) from None
    found = load(root_x)
    if found is None:
        raise DataNotFoundError(
            f"{arg('root')}: dataset {name!r}: downloaded, but the files are not in {_missing(name, root_x)}"
        )
    return found


def encode_dataset(
    images: Tensor,
    encoder: Encoder,
    device: str | torch.device = "cpu",
    batch_size: int = 2000,
    cache_dir: str | None = None,
    progress: bool = False,
) -> Tensor:
    """Encode uint8 images ``[N, H, W]`` into first-spike times ``[N, C, H', W']`` uint8 on ``device``.

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
    from fastspike.batching import progress_bar

    with progress_bar(images.shape[0], "encode", progress, unit="image") as bar:
        for s in range(0, images.shape[0], batch_size):
            out[s : s + batch_size] = encoder(images[s : s + batch_size].to(device))
            bar.update(min(batch_size, images.shape[0] - s))
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        torch.save(out.cpu(), path + ".tmp")
        os.replace(path + ".tmp", path)
    return out
