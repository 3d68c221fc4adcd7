"""What the NIR writer, reader and simulator share: the optional ``nir`` package, the layout
version, and the metadata helpers.

The graph's metadata holds plain values only (strings, integers, floats, numpy arrays), the
kinds that survive ``nir.write`` / ``nir.read``: a structured value is a JSON string.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

__all__ = [
    "FORMAT",
    "NIRExportError",
    "meta_int",
    "meta_json",
    "meta_str",
    "require_nir",
]

#: The version of the graph layout :func:`fastspike.nir.export` writes (metadata
#: ``fastspike_format``); :func:`fastspike.nir.load` reads this one.
FORMAT = 1


class NIRExportError(ValueError):
    """A network or graph that the NIR export or import cannot handle (the message says why)."""


def require_nir():
    """The ``nir`` package (the Neuromorphic Intermediate Representation), or an
    ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("nir")
    except ImportError as err:
        raise ImportError(
            "fastspike.nir needs the optional package 'nir' (the Neuromorphic Intermediate "
            "Representation): pip install -e .[nir] (or pip install nir)"
        ) from err


def meta_str(meta: dict, key: str) -> str:
    """Metadata string ``key`` (a string read back from a file may come as bytes)."""
    if key not in meta:
        raise NIRExportError(f"graph metadata: no {key!r}")
    v = meta[key]
    if isinstance(v, bytes):
        v = v.decode("utf8")
    if hasattr(v, "item") and not isinstance(v, str):  # a 0-d numpy array of a string
        v = v.item()
        v = v.decode("utf8") if isinstance(v, bytes) else v
    if not isinstance(v, str):
        raise NIRExportError(f"graph metadata: {key!r} is not a string ({type(v).__name__})")
    return v


def meta_int(meta: dict, key: str, default: int | None = None) -> int:
    """Metadata integer ``key`` (numpy scalars after a file round trip)."""
    if key not in meta:
        if default is not None:
            return default
        raise NIRExportError(f"graph metadata: no {key!r}")
    try:
        return int(meta[key])
    except (TypeError, ValueError):
        raise NIRExportError(f"graph metadata: {key!r} is not an integer ({meta[key]!r})") from None


def meta_json(meta: dict, key: str) -> Any:
    """Metadata ``key``, a JSON string, decoded."""
    text = meta_str(meta, key)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise NIRExportError(f"graph metadata: {key!r} is not valid JSON ({err})") from None
