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
import zipfile

import torch

from fastspike.usage import CheckpointError

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


def for_resume(folder: str | None) -> tuple[str, dict]:
    """A run folder's ``last.pt`` for ``resume``, as ``(path, checkpoint)``; every family resumes
    through this. A ValueError when there is no folder or nothing to resume in it."""
    if not folder:
        raise ValueError("resume: needs checkpoint_dir (the run folder to continue)")
    last = os.path.join(folder, "last.pt")
    if not os.path.exists(last):
        raise ValueError(f"resume: nothing to resume in {folder!r} (no last.pt there)")
    return last, load(last)


def same_network(saved: dict, this: dict) -> bool:
    """Whether a checkpoint's network (its spec as a dict) is this run's. The free-text
    ``description`` does not count: it changes no result, and an edited description must not
    strand a run folder."""

    def strip(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "description"}

    return isinstance(saved, dict) and strip(saved) == strip(this)


def other_run(last: str, saved: str, this: str) -> ValueError:
    """The error for a ``resume`` whose checkpoint another configuration made."""
    return ValueError(
        f"resume: checkpoint {last!r} was made with another configuration ({saved}) than this run ({this})"
    )


def _what_it_is(path: str, err: Exception) -> str:
    """Why ``torch.load`` refused a file, in words: what kind of file it is and what is wrong."""
    with open(path, "rb") as f:
        head = f.read(4096)
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if not head:
        return "not a fastspike checkpoint: the file is empty"
    if head.startswith(b"PK\x03\x04"):  # a zip archive: torch.save's format
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return "not a fastspike checkpoint: a damaged zip archive (cut short?)"
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return f"not a fastspike checkpoint: a zip archive without data.pkl ({len(names)} other files)"
        if "weights only" in str(err).lower() or "unsupported global" in str(err).lower():
            return (
                "not a fastspike checkpoint: it pickles code or objects that are not plain data "
                f"(refused to load it, nothing in it ran: {_global_of(err)})"
            )
        return f"not a fastspike checkpoint: a damaged torch file ({first})"
    if head[:1] == b"\x80":  # a bare pickle (or torch's legacy format)
        return (
            "not a fastspike checkpoint: a pickle, not a torch zip file, or one that is not plain "
            f"data (refused to load it, nothing in it ran: {_global_of(err)})"
        )
    if b"\0" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as bad:
            if bad.start < len(head) - 4:  # not just a character cut at the end of the probe
                return (
                    f"not a fastspike checkpoint: a file of unknown format (starts with {head[:8].hex(' ')})"
                )
        return "not a fastspike checkpoint: a text file"
    return f"not a fastspike checkpoint: a file of unknown format (starts with {head[:8].hex(' ')})"


def _global_of(err: Exception) -> str:
    """The gist of an unpickler's refusal (torch's message is a page): what the file wanted."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        if rest:
            return rest[0].split(". ")[0].rstrip(".")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def load(path: str, what: str = "checkpoint") -> dict:
    """``torch.load`` with ``weights_only=True``: plain data only, nothing in the file runs.
    The checksum, when the file has one, must match. A file that is not a fastspike
    checkpoint is a :class:`~fastspike.usage.CheckpointError` that says what the file is."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no file {path!r}")
    if os.path.isdir(path):
        raise CheckpointError(path, "a folder, not a file (a checkpoint is RUN/best.pt or RUN/last.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unpickler refusal, or not a torch file at all
        raise CheckpointError(path, _what_it_is(path, err)) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            path, f"not a fastspike checkpoint: a torch file holding a {type(ckpt).__name__}"
        )
    if "checksum" in ckpt and ckpt["checksum"] != checksum(ckpt):
        raise CheckpointError(
            path,
            "checksum mismatch: its contents do not match the checksum it was saved with (the file is "
            "damaged or was edited)",
        )
    if ckpt.get("format") == FORMAT and ckpt.get("version") == VERSION:
        if "checksum" not in ckpt:
            raise CheckpointError(
                path, f"version {VERSION} but no checksum (the file is damaged or was edited)"
            )
    if ckpt.get("format") != FORMAT and not ("format" not in ckpt and "config" in ckpt):
        keys = ", ".join(sorted(str(k) for k in ckpt)[:6]) + (", ..." if len(ckpt) > 6 else "")
        raise CheckpointError(
            path,
            f"not a fastspike checkpoint: a torch file holding a dict of {len(ckpt)} entries ({keys}) "
            f"without format {FORMAT!r} (a bare state_dict?)",
        )
    return ckpt


def family_of(ckpt: dict) -> str:
    """The network family that wrote ``ckpt`` (its ``kind``; the conv family when absent)."""
    return ckpt.get("kind", "conv")
