"""A run folder's per-epoch history: ``history.json`` and ``history.csv``, rewritten after each epoch."""

from __future__ import annotations

import csv
import json
import os

__all__ = ["LOG_FIELDS", "write_history"]

#: the columns of ``history.csv`` (and the scalars a TensorBoard log records), in order
LOG_FIELDS = (
    "phase",
    "layer",
    "epoch",
    "samples",
    "seconds",
    "samples_per_s",
    "wall",
    "at_bounds",
    "train_correct",
    "train_wrong",
    "train_silent",
    "val_correct",
    "val_wrong",
    "val_silent",
)


def write_history(folder: str, log: list[dict]) -> None:
    """``history.json`` and ``history.csv``: every epoch of every phase so far."""
    tmp = os.path.join(folder, "history.json.tmp")
    with open(tmp, "w") as f:
        json.dump(log, f, indent=1)
    os.replace(tmp, os.path.join(folder, "history.json"))
    tmp = os.path.join(folder, "history.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(log)
    os.replace(tmp, os.path.join(folder, "history.csv"))
