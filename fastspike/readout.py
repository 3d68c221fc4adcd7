"""Linear readouts on spike features: a linear SVM or logistic regression, fitted in torch.

The features of an STDP network are binary ("spiked at all"), ``[N, D]`` uint8. The
fit is full-batch L-BFGS on the exact objective, so it runs on the GPU when the
features are there, needs no extra dependency and is deterministic on a given device.

* ``svm``: one-vs-rest linear SVM with the squared hinge loss, per class
  ``0.5 |w|^2 + C sum_i max(0, 1 - y_i (w.x_i + b))^2`` (scikit-learn's ``LinearSVC``
  objective; the bias is not penalised here);
* ``logistic``: multinomial logistic regression, ``0.5 |W|^2 + C sum_i CE(W x_i + b, y_i)``.

Both objectives are divided by ``C N`` for the optimiser (same minimiser).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["fit_linear"]

# features up to this many bytes as float32 are converted once; larger sets are
# converted chunk by chunk in every pass (slower, but bounded memory)
_DENSE_LIMIT = 6 * 2**30


def fit_linear(
    features: Tensor,
    labels: Tensor,
    n_classes: int,
    method: str = "svm",
    C: float = 2.4,
    max_iter: int = 200,
    chunk: int = 8192,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Fit a linear classifier on ``features`` ``[N, D]`` (any real dtype) and ``labels`` ``[N]``.

    Returns ``(weight [n_classes, D], bias [n_classes])`` float32 on the features' device;
    predict with ``(x @ weight.T + bias).argmax(1)``.
    """
    if features.dim() != 2:
        raise ValueError(f"features: expected [N, D], got shape {tuple(features.shape)}")
    N, D = features.shape
    if N == 0:
        raise ValueError("features: expected at least one sample")
    if labels.shape != (N,):
        raise ValueError(f"labels: expected shape ({N},), got {tuple(labels.shape)}")
    if method not in ("svm", "logistic"):
        raise ValueError(f"method: expected 'svm' or 'logistic', got {method!r}")
    if not C > 0:
        raise ValueError(f"C: expected > 0, got {C}")
    dev = features.device
    labels = labels.to(dev, torch.int64)
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ValueError(
            f"labels: expected classes in [0, {n_classes}), got {int(labels.min())}..{int(labels.max())}"
        )
    dense = features.float() if N * D * 4 <= _DENSE_LIMIT else None
    # Centred features (x - mean) make the problem far better conditioned for L-BFGS
    # (binary features have a large common mean); with an unpenalised bias the model
    # and the objective are the same: w.(x - mu) + b = w.x + (b - w.mu).
    mu = torch.zeros(D, device=dev)
    for s in range(0, N, chunk):
        mu += (dense[s : s + chunk] if dense is not None else features[s : s + chunk].float()).sum(0)
    mu /= N
    W = torch.zeros(n_classes, D, device=dev, requires_grad=True)
    b = torch.zeros(n_classes, device=dev, requires_grad=True)
    lam = 1.0 / (C * N)
    opt = torch.optim.LBFGS(
        [W, b],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )
    from fastspike.batching import progress_bar

    bar = progress_bar(max_iter, f"fit linear {method}", progress, unit="eval")

    def closure():
        opt.zero_grad()
        total = torch.zeros((), device=dev)
        for s in range(0, N, chunk):
            e = min(N, s + chunk)
            x = dense[s:e] if dense is not None else features[s:e].float()
            scores = x @ W.T + (b - W @ mu)
            if method == "svm":
                y = F.one_hot(labels[s:e], n_classes).float() * 2 - 1
                loss = torch.clamp(1 - y * scores, min=0).pow(2).sum() / N
            else:
                loss = F.cross_entropy(scores, labels[s:e], reduction="sum") / N
            loss.backward()
            total += loss.detach()
        reg = 0.5 * lam * (W * W).sum()
        reg.backward()
        bar.update(1)
        return total + reg.detach()

    opt.step(closure)
    bar.close()
    with torch.no_grad():
        return W.detach().clone(), (b - W @ mu).detach().clone()
