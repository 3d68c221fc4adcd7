"""Network families: each kind of network's build, train, evaluate, save and load.

``FAMILIES`` maps a spec's ``family`` (and a checkpoint's ``kind``) to its
:class:`~fastspike.families.base.Family`: ``"conv"`` (first-spike convolutional networks,
:mod:`fastspike.families.conv`) and ``"diehl_cook"`` (:mod:`fastspike.families.diehl_cook`).
A new family is a :class:`~fastspike.families.base.Family` subclass added with
:func:`register_family`, and a spec class whose ``family`` names it.
"""

from __future__ import annotations

from typing import Any

from fastspike.families.base import Family
from fastspike.families.conv import ConvFamily
from fastspike.families.diehl_cook import DiehlCookFamily
from fastspike.training import checkpoint

__all__ = ["FAMILIES", "Family", "family_of", "family_of_checkpoint", "register_family"]

FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> None:
    """Make ``family`` build, train and load the specs whose ``family`` is ``family.name``."""
    if not isinstance(family, Family) or not family.name:
        raise TypeError(f"family: expected a named Family instance, got {family!r}")
    FAMILIES[family.name] = family


register_family(ConvFamily())
register_family(DiehlCookFamily())


def family_of(spec: Any) -> Family:
    """The family of a spec (its ``family`` attribute)."""
    name = getattr(spec, "family", None)
    if name not in FAMILIES:
        raise TypeError(
            f"model: expected a network spec of a registered family {sorted(FAMILIES)}, "
            f"got {type(spec).__name__}"
        )
    return FAMILIES[name]


def family_of_checkpoint(ckpt: dict, path: str) -> Family:
    """The family that wrote checkpoint ``ckpt`` (read from ``path``)."""
    name = checkpoint.family_of(ckpt)
    if name not in FAMILIES:
        raise ValueError(f"checkpoint {path!r}: written by an unknown network family {name!r}")
    return FAMILIES[name]
