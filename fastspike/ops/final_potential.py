"""``fastspike::final_potential`` (csrc/ops/final_potential.cpp): ``P[T-1]`` of an
integrate-and-fire convolution, exactly rounded (the decision layer's potential).

:func:`final_potential` is the public operator: it takes the weights and computes what
the kernel needs from them. :class:`FinalPotentialCache` is the fast path of a layer
that keeps its weights between calls (not exported from :mod:`fastspike.ops`): it keeps
the weights' kernel layout and per-tap sums, computed here from the weights and only
from them, and recomputes them whenever the weights change.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.ops.checks import check_times, check_weights, expect_tensor, on_device
from fastspike.ops.stdp_update import stdp_update

__all__ = ["FinalPotentialCache", "final_potential"]

_ops = torch.ops.fastspike


def final_potential(
    times_in: Tensor,
    weight: Tensor,
    T: int,
    border: int = 0,
    *,
    max_event_fraction: float = 1.0,
    validate: bool | None = None,
):
    """``P[T-1]`` of an integrate-and-fire convolution, exactly rounded.

    The sum of the weights of every input that fires at all (``tau < T``),
    accumulated in float64 and rounded once to float32. Whenever float64 holds
    the sums exactly (weights whose exponents span fewer than about 25 binades,
    such as the decision layer's ``[0.2, 0.8]``), this is the correctly rounded
    exact sum: it does not depend on the order of the additions, the batch or
    the device. It is what a decision layer without threshold (``theta =
    None``) needs: ``tau = T-1`` where ``P > 0``.

    Args:
        times_in: ``[B, C, Hp, Wp]`` padded first-spike times.
        weight: ``[F, C, kh, kw]`` float32, non-negative.
        border: how many outer rows/columns of ``times_in`` are padding (they
            must never fire; the CPU kernel skips them).
        max_event_fraction: the CPU kernel visits, per sample, the inputs that
            fire or those that do not, whichever are fewer ("events"); a sample
            with more events than this fraction of its inner inputs is left to
            the caller (0 in the output, ``False`` in ``done``). 1.0: all.
        validate: check that the weights are finite and ``>= 0`` on other devices too
            (one host sync; the CPU kernel always checks). Defaults to True.

    Returns:
        ``(P, done)``: ``P`` ``[B, F, Hp - kh + 1, Wp - kw + 1]`` float32 and
        ``done`` ``[B]`` bool, the samples that were computed.

    The CPU kernel reads every weight on every call (for the per-tap sums of the
    complement); a layer that calls it often with the same weights keeps them in a
    :class:`FinalPotentialCache` instead.
    """
    expect_tensor(times_in, "times_in", "first-spike times [B, C, H, W]")
    expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
    if on_device(times_in, weight, validate=validate):
        check_times(times_in, T, "times_in")
        check_weights(weight, "weight")
    if weight.dim() != 4:
        raise ValueError(f"weight: expected a 4-D tensor [F, C, kh, kw], got shape {tuple(weight.shape)}")
    weight_rows = weight.permute(1, 2, 3, 0).contiguous()
    return _ops.final_potential(times_in, weight_rows, T, border, max_event_fraction, None)


def _tap_sums(weight: Tensor) -> Tensor:
    """``[kh, kw, F]`` float64: the weights summed over the input channels, with
    subnormal weights counted as 0 as in the CPU kernels (exact whenever the sums
    are, see :func:`final_potential`). Raises ``ValueError`` on negative weights."""
    expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
    if weight.dim() != 4 or weight.dtype != torch.float32:
        raise ValueError(f"weight: expected [F, C, kh, kw] float32, got {weight.dtype} {tuple(weight.shape)}")
    check_weights(weight, "weight")
    w = torch.where(weight.abs() < torch.finfo(torch.float32).tiny, 0.0, weight.double())
    return w.sum(1).permute(1, 2, 0).contiguous()


class FinalPotentialCache:
    """:func:`final_potential` of one weight tensor, with what the CPU kernel needs kept.

    The CPU kernel reads the weights as ``weight.permute(1, 2, 3, 0)`` (``[C, kh, kw, F]``)
    and, for the samples where most inputs fire, needs the weights summed over the input
    channels (``[kh, kw, F]`` float64, "tap sums"); computing those reads every weight (the
    decision layer's 5 MB: ~0.2 ms, most of a batch-of-one call). This object keeps both
    for ``weight`` and hands them to the kernel only while they are those of its current
    values: before every use it compares the weight's version counter, storage, shape,
    strides, dtype and device with those they were computed from, and recomputes them (with
    the weight checks of :func:`final_potential`) on any difference. Every in-place change
    of the tensor (``copy_``, ``mul_``, indexing, :func:`fastspike.ops.stdp_update`) bumps
    its version; a change through ``weight.data`` does not, so do not update it that way.

    :meth:`stdp_update` updates the weight and keeps them current without rebuilding them.
    Not exported from :mod:`fastspike.ops`: the layers hold one per weight tensor.
    """

    def __init__(self, weight: Tensor):
        expect_tensor(weight, "weight", "a float32 tensor [F, C, kh, kw]")
        self.weight = weight
        self._key: tuple | None = None
        self._rows: Tensor | None = None
        self._sums: Tensor | None = None

    def _weight_key(self) -> tuple:
        w = self.weight
        return (w._version, w.data_ptr(), w.device, w.shape, w.stride(), w.dtype)

    @property
    def current(self) -> bool:
        """Whether the kept tensors are those of the weight's current values (else the next
        use recomputes them)."""
        return self._key is not None and self._key == self._weight_key()

    def tensors(self) -> tuple[Tensor, Tensor]:
        """``(weight.permute(1, 2, 3, 0).contiguous(), tap sums)`` of the weight's current
        values (recomputed here if it changed since they were)."""
        key = self._weight_key()
        if self._key != key:
            w = self.weight.detach()
            self._rows, self._sums = w.permute(1, 2, 3, 0).contiguous(), _tap_sums(w)
            self._key = key
        return self._rows, self._sums

    def __call__(self, times_in: Tensor, T: int, border: int = 0, max_event_fraction: float = 1.0):
        """``final_potential(times_in, weight, T, border, max_event_fraction=...)``, the same
        bits, with the kept layout and tap sums on the CPU. No check on other devices
        (``validate=False``: the caller makes its own inputs)."""
        expect_tensor(times_in, "times_in", "first-spike times [B, C, H, W]")
        if times_in.device.type != "cpu":
            rows = self.weight.permute(1, 2, 3, 0)
            return _ops.final_potential(times_in, rows, T, border, max_event_fraction, None)
        rows, sums = self.tensors()
        return _ops.final_potential(times_in, rows, T, border, max_event_fraction, sums)

    @torch.no_grad()
    def stdp_update(
        self,
        times_in: Tensor,
        times_out: Tensor,
        winners: Tensor,
        lr: Tensor,
        T: int,
        *,
        stabilize: bool = True,
        lb: float = 0.0,
        ub: float = 1.0,
        clamp_all: bool = False,
        validate: bool | None = None,
    ) -> None:
        """:func:`fastspike.ops.stdp_update` of the weight (the same arguments but the
        weight). Without the whole-tensor clamp only the winners' features change, so kept
        tensors that were current are patched for those features instead of rebuilt (R-STDP
        with a batch of one would otherwise rebuild ~5 MB after every sample); otherwise
        they are rebuilt at their next use."""
        w = self.weight
        patch = self.current and not clamp_all and w.device.type == "cpu"
        stdp_update(
            w, times_in, times_out, winners, lr, T,
            stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all, validate=validate,
        )  # fmt: skip
        if patch:
            f = winners[..., 0].reshape(-1)
            f = f[f >= 0].unique().to(w.device)
            if f.numel():
                changed = w[f]
                self._rows[..., f] = changed.permute(1, 2, 3, 0)
                self._sums[..., f] = _tap_sums(changed)
            self._key = self._weight_key()


@torch.library.register_fake("fastspike::final_potential")
def _final_potential_fake(times_in, weight_rows, T, border=0, max_event_fraction=1.0, tap_sums=None):
    B, _, Hp, Wp = times_in.shape
    _, kh, kw, F = weight_rows.shape
    return (
        times_in.new_empty((B, F, Hp - kh + 1, Wp - kw + 1), dtype=torch.float32),
        times_in.new_empty((B,), dtype=torch.bool),
    )
