"""Classification metrics of a network's answers, silence included.

A network answers a class or silence (-1: no decision neuron fired, or no feature
spiked). Silence counts as an error for accuracy and recall; it is a column of its own
in the confusion matrix and is no class's prediction for precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["classification_metrics", "confusion_matrix", "format_metrics", "metrics_from_confusion"]


def confusion_matrix(pred: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Counts ``[n_classes, n_classes + 1]`` int64 of predictions ``pred`` ``[N]`` (class
    or -1) against ``labels`` ``[N]``: rows = true class, columns = predicted class, the
    last column = silence. Counts add up across shards of the samples."""
    pred = pred.detach().to("cpu", torch.int64).reshape(-1)
    labels = labels.detach().to("cpu", torch.int64).reshape(-1)
    if pred.shape != labels.shape:
        raise ValueError(f"pred, labels: expected the same length, got {pred.numel()} and {labels.numel()}")
    if n_classes < 1:
        raise ValueError(f"n_classes: expected >= 1, got {n_classes}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(
            f"labels: expected classes in [0, {n_classes}), got {int(labels.min())}..{int(labels.max())}"
        )
    if pred.numel() and (int(pred.min()) < -1 or int(pred.max()) >= n_classes):
        raise ValueError(
            f"pred: expected classes in [0, {n_classes}) or -1, got {int(pred.min())}..{int(pred.max())}"
        )
    col = torch.where(pred < 0, torch.full_like(pred, n_classes), pred)
    confusion = torch.zeros(n_classes, n_classes + 1, dtype=torch.int64)
    confusion.index_put_((labels, col), torch.ones_like(labels), accumulate=True)
    return confusion


def classification_metrics(pred: Tensor, labels: Tensor, n_classes: int) -> dict:
    """Metrics of predictions ``pred`` ``[N]`` (class or -1) against ``labels`` ``[N]``.

    Returns a JSON-able dict: ``n``, ``accuracy``, ``wrong`` and ``silent`` (fractions
    of ``n``), ``confusion`` (``[n_classes][n_classes + 1]`` counts, rows = true class,
    columns = predicted class, the last column = silence), ``per_class`` (precision,
    recall, F1 and support per class; a ratio with nothing to divide is 0) and
    ``macro_f1`` (the mean of the per-class F1).
    """
    return metrics_from_confusion(confusion_matrix(pred, labels, n_classes))


def metrics_from_confusion(confusion: Tensor) -> dict:
    """:func:`classification_metrics` from a :func:`confusion_matrix` (for example the sum
    of the ranks' matrices)."""
    confusion = confusion.detach().to("cpu", torch.int64)
    n_classes = confusion.shape[0]
    if confusion.dim() != 2 or confusion.shape[1] != n_classes + 1 or n_classes < 1:
        raise ValueError(
            f"confusion: expected [n_classes, n_classes + 1] counts, got {list(confusion.shape)}"
        )
    n = int(confusion.sum())
    tp = confusion.diagonal()[:n_classes]
    predicted = confusion[:, :n_classes].sum(0)
    support = confusion.sum(1)
    per_class = []
    for c in range(n_classes):
        p = int(tp[c]) / int(predicted[c]) if int(predicted[c]) else 0.0
        r = int(tp[c]) / int(support[c]) if int(support[c]) else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class.append({"class": c, "precision": p, "recall": r, "f1": f1, "support": int(support[c])})
    correct = int(tp.sum())
    silent = int(confusion[:, n_classes].sum())
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "wrong": (n - correct - silent) / n if n else 0.0,
        "silent": silent / n if n else 0.0,
        "macro_f1": sum(c["f1"] for c in per_class) / n_classes,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def format_metrics(m: dict, classes: list[str] | None = None) -> str:
    """A short text table of :func:`classification_metrics`' result."""
    names = classes or [str(c["class"]) for c in m["per_class"]]
    w = max(5, *(len(s) for s in names))
    lines = [
        f"accuracy {m['accuracy']:.4f}  wrong {m['wrong']:.4f}  silent {m['silent']:.4f}  "
        f"macro F1 {m['macro_f1']:.4f}  ({m['n']} samples)",
        f"{'class':>{w}}  precision  recall     F1  support",
    ]
    for name, c in zip(names, m["per_class"], strict=True):
        lines.append(
            f"{name:>{w}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  {c['support']:7d}"
        )
    lines.append("confusion (rows: true class; columns: predicted, last = silent):")
    for name, row in zip(names, m["confusion"], strict=True):
        lines.append(f"{name:>{w}}  " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
