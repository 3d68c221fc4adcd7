"""The checkpoint format every network family writes and reads.

A checkpoint is plain data (tensors, numbers, strings, lists, dicts): ``format``,
``version``, the network's ``family`` (``kind``; absent = the first-spike conv family),
its spec, the run's configuration, the weights, the rule states and the progress, and a
SHA-256 ``checksum`` of all of it. It is read with ``torch.load(weights_only=True)``: a
file that pickles code is refused without running it, and a file whose contents do not
match its checksum is refused as damaged.
"""

from __future__ import annotations

import hashlib
import os

import torch

__all__ = ["FORMAT", "VERSION", "checksum", "family_of", "load", "save"]

FORMAT = "fastspike-checkpoint"
VERSION = 3  # 3: with a checksum; 2 (no checksum) and 1 (Mozafari 2018 only) still load


def checksum(ckpt: dict) -> str:
    """SHA-256 of everything in a checkpoint but its ``checksum`` entry: every tensor's
    name, dtype, shape and bytes, and every other value's ``repr``, in a fixed order."""
    h = hashlib.sha256()

    def walk(o, path: str) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"{path}:{t.dtype}:{tuple(t.shape)}:".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            for k in sorted(o, key=str):
                if not (path == "" and k == "checksum"):
                    walk(o[k], f"{path}/{k}")
        elif isinstance(o, (list, tuple)):
            h.update(f"{path}:{type(o).__name__}{len(o)}".encode())
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
        else:
            h.update(f"{path}={o!r};".encode())

    walk(ckpt, "")
    return h.hexdigest()


def save(path: str, obj: dict) -> None:
    """Write ``obj`` atomically (a temporary file, then a rename), with its checksum when it
    is a fastspike checkpoint."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if obj.get("format") == FORMAT:
        obj = {**obj, "checksum": checksum(obj)}
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def load(path: str, what: str = "checkpoint") -> dict:
    """``torch.load`` with ``weights_only=True``: plain data only, nothing in the file runs.
    The checksum, when the file has one, must match."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no file {path!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unpickler refusal, or not a torch file at all
        raise ValueError(
            f"{what} {path!r}: not a plain-data fastspike checkpoint (refused to load it: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{what} {path!r}: expected a dict, got {type(ckpt).__name__}")
    if "checksum" in ckpt and ckpt["checksum"] != checksum(ckpt):
        raise ValueError(
            f"{what} {path!r}: its contents do not match the checksum it was saved with "
            "(the file is damaged or was edited)"
        )
    if ckpt.get("format") == FORMAT and ckpt.get("version") == VERSION:
        if "checksum" not in ckpt:
            raise ValueError(f"{what} {path!r}: version {VERSION} but no checksum (damaged?)")
    return ckpt


def family_of(ckpt: dict) -> str:
    """The network family that wrote ``ckpt`` (its ``kind``; the conv family when absent)."""
    return ckpt.get("kind", "conv")
