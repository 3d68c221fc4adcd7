"""``fastspike::diehl_cook_train``, ``diehl_cook_infer`` and ``trace_stdp``
(csrc/ops/diehl_cook.cpp): the Diehl & Cook (2015) network's presentations of whole
images, and its trace STDP rule on given spike trains (docs/reference/semantics.md#diehl-cook).

These wrappers take the numbers as the kernels do. The network's model
(:class:`fastspike.diehlcook.DiehlCook`) and its constants
(:class:`fastspike.diehlcook.DiehlCookParams`, whose ``packed()`` gives ``params`` and
``iparams``), and :func:`fastspike.diehlcook.trace_stdp`, which packs the rule's constants,
live in :mod:`fastspike.diehlcook`, which imports this module only when an operator runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["diehl_cook_infer", "diehl_cook_train", "trace_stdp"]

_ops = torch.ops.fastspike


def diehl_cook_train(
    x: Tensor,
    w: Tensor,
    theta: Tensor,
    state: Tensor,
    refs: Tensor,
    x_pre: Tensor,
    params: Sequence[float],
    iparams: Sequence[int],
    seed: int,
    sample_offset: int,
) -> tuple[Tensor, Tensor]:
    """Train on the images in order (the exact sequential algorithm), in place.

    Args:
        x: ``[B, n_in]`` float32 intensities in ``[0, 1]`` (finite, ``>= 0``).
        w: ``[n_in, N]`` float32 input weights; theta ``[N]`` float32 adaptive thresholds;
            state ``[7, N]`` float32, refs ``[4, N]`` int32 and x_pre ``[n_in]`` float32: the
            network's state between calls. All updated in place.
        params, iparams: ``DiehlCookParams.packed()``.
        seed, sample_offset: image ``b``'s Poisson draws are keyed by ``(seed, sample_offset + b)``.

    Returns:
        ``(counts, attempts)``: int32 ``[B, N]`` excitatory spikes during the last
        presentation of each image and ``[B]`` presentations of each image.
    """
    return _ops.diehl_cook_train(x, w, theta, state, refs, x_pre, params, iparams, seed, sample_offset)


@torch.library.register_fake("fastspike::diehl_cook_train")
def _train_fake(x, w, theta, state, refs, x_pre, params, iparams, seed, sample_offset):
    return x.new_empty((x.shape[0], w.shape[1]), dtype=torch.int32), x.new_empty(
        (x.shape[0],), dtype=torch.int32
    )


def diehl_cook_infer(
    x: Tensor,
    w: Tensor,
    theta: Tensor,
    params: Sequence[float],
    iparams: Sequence[int],
    seed: int,
    sample_offset: int,
) -> tuple[Tensor, Tensor]:
    """The frozen network's responses: every image independently from the resting state.

    Arguments and results as :func:`diehl_cook_train` (nothing is updated)."""
    return _ops.diehl_cook_infer(x, w, theta, params, iparams, seed, sample_offset)


@torch.library.register_fake("fastspike::diehl_cook_infer")
def _infer_fake(x, w, theta, params, iparams, seed, sample_offset):
    return x.new_empty((x.shape[0], w.shape[1]), dtype=torch.int32), x.new_empty(
        (x.shape[0],), dtype=torch.int32
    )


def trace_stdp(
    pre: Tensor, post: Tensor, w: Tensor, x_pre: Tensor, y: Tensor, params: Sequence[float]
) -> None:
    """Trace STDP (the Diehl & Cook rule) for a fully connected layer, in place, for given
    spike trains, samples in order (:func:`fastspike.diehlcook.trace_stdp` takes the rule's
    :class:`~fastspike.diehlcook.DiehlCookParams` and packs them).

    Args:
        pre: ``[B, T, n_in]`` uint8 0/1 input spikes.
        post: ``[B, T, N]`` uint8 0/1 output spikes.
        w: ``[n_in, N]`` float32 weights, updated in place.
        x_pre: ``[n_in]`` float32 input traces, updated in place.
        y: ``[2, N]`` float32 output traces ``y1``, ``y2``, updated in place.
        params: ``[nu_pre, nu_post, decay_pre, decay_post1, decay_post2, w_max, norm]``
            (the decays per step, ``exp(-dt / tau)``; ``norm`` 0: no normalisation).

    Per sample: when ``norm > 0`` each neuron's input weights are scaled to sum to ``norm``;
    then every step the traces decay, each input spike depresses its row (``w = max(0, w -
    nu_pre * y1)``) and sets ``x_pre`` to 1, each output spike potentiates its column (``w =
    min(w_max, w + (nu_post * x_pre) * y2)``) and sets ``y1 = y2 = 1``.
    """
    _ops.trace_stdp(pre, post, w, x_pre, y, params)


@torch.library.register_fake("fastspike::trace_stdp")
def _trace_fake(pre, post, w, x_pre, y, params):
    return None
