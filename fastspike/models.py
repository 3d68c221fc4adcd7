"""Networks built from :mod:`fastspike.layers`, defined like their papers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastspike.layers import Pad, Pool, SpikingConv

__all__ = ["Mozafari2018"]


class Mozafari2018(nn.Module):
    """Mozafari et al. (2018/2019) three-layer network for MNIST (ALGORITHMS.md 9).

    ======  =========================================================  ==========
    stage   operation                                                  output
    ======  =========================================================  ==========
    pad     2 px of never                                              6x32x32
    S1      conv 6->30, 5x5, theta=15; train: k=5, r=3, STDP [0, 1]    30x28x28
    C1      max-pool 2/2, then pad 1                                   30x16x16
    S2      conv 30->250, 3x3, theta=10; train: k=8, r=1, STDP [0, 1]  250x14x14
    C2      max-pool 3/3 (floor), then pad 2                           250x8x8
    S3      conv 250->200, 5x5, no threshold; R-STDP [0.2, 0.8]        200x4x4
    decide  k-WTA k=1 over P[T-1]; class = feature // 20; -1 = silence
    ======  =========================================================  ==========

    Input: first-spike times ``[B, 6, 28, 28]`` uint8 from :class:`fastspike.encoding.Encoder`.
    """

    architecture = "mozafari2018"

    def __init__(self, T: int = 15, n_classes: int = 10, compat: bool = False, seed: int | None = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.T, self.n_classes, self.compat = T, n_classes, compat
        self.pad0 = Pad(2)
        self.conv1 = SpikingConv(6, 30, 5, threshold=15.0, k=5, radius=3, lb=0.0, ub=1.0, compat=compat, generator=g)
        self.pool1 = Pool(2, 2, out_padding=1)
        self.conv2 = SpikingConv(30, 250, 3, threshold=10.0, k=8, radius=1, lb=0.0, ub=1.0, compat=compat, generator=g)
        self.pool2 = Pool(3, 3, out_padding=2)
        self.conv3 = SpikingConv(250, 200, 5, threshold=None, k=1, radius=0, lb=0.2, ub=0.8, stabilize=False,
                                 compat=compat, generator=g)
        if self.conv3.out_channels % n_classes:
            raise ValueError("n_classes must divide the decision layer's 200 features")

    @property
    def spiking_layers(self) -> list[SpikingConv]:
        return [self.conv1, self.conv2, self.conv3]

    def layer_input(self, layer: int, times: Tensor) -> Tensor:
        """Padded input times of layer ``layer`` (1, 2 or 3) for encoded images ``[B, 6, 28, 28]``.

        Lower layers run plain ``fire`` (no inhibition), as in the paper.
        """
        if layer not in (1, 2, 3):
            raise ValueError(f"layer: expected 1, 2 or 3, got {layer}")
        if layer == 3:
            # pad and crop to the S1 input rows that reach S3 in one op (a
            # negative pad crops): next_input(1)'s crop is then a no-op, not a copy
            p, (H, W) = self.pad0.padding, times.shape[-2:]
            rh, rw = self._s1_rows_for_s3(H + 2 * p), self._s1_rows_for_s3(W + 2 * p)
            x = F.pad(times, (p, rw - p - W, p, rh - p - H), value=self.T)
        else:
            x = self.pad0(times, self.T)
        for lower in range(1, layer):
            x = self.next_input(lower, x, to_layer3=layer == 3)
        return x

    def next_input(self, layer: int, x: Tensor, to_layer3: bool = False) -> Tensor:
        """Layer ``layer``'s padded input -> the next layer's padded input.

        Only the outputs that reach S3 are computed: C2's floor-mode pooling
        drops S2's last rows and columns (14 -> 12 used), so S2 runs on the
        input rows those 12 need; with ``to_layer3`` (S1's output goes on to
        S3, not to S2 training), S1 likewise runs only where S2's kept outputs
        look. Cropping a valid convolution's input crops its output, so the
        result is exactly that of the full computation.
        """
        T = self.T
        if layer == 1:
            if to_layer3:
                rows = self._s1_rows_for_s3(x.shape[-2]), self._s1_rows_for_s3(x.shape[-1])
                x = x[..., : rows[0], : rows[1]]
            return self.pool1(self.conv1(x, T, values=False)[0], T)
        if layer == 2:
            rows = self._s2_rows_for_s3(x.shape[-2]), self._s2_rows_for_s3(x.shape[-1])
            return self.pool2(self.conv2(x[..., : rows[0], : rows[1]], T, values=False)[0], T)
        raise ValueError(f"layer: expected 1 or 2, got {layer}")

    def _s2_rows_for_s3(self, n_in: int) -> int:
        """S2 input rows (of ``n_in``) that the S2 outputs kept by C2 read."""
        k, p2 = self.conv2.kernel_size, self.pool2
        assert p2.stride == p2.kernel and p2.padding == 0, "crop assumes non-overlapping, unpadded pooling"
        kept = (n_in - k + 1) // p2.kernel * p2.kernel
        return kept + k - 1

    def _s1_rows_for_s3(self, n_in: int) -> int:
        """S1 input rows (of ``n_in``) that reach S3: those under the S1 outputs
        that C1 pools into the S2 input rows S2's kept outputs read."""
        k1, p1 = self.conv1.kernel_size, self.pool1
        assert p1.stride == p1.kernel and p1.padding == 0, "crop assumes non-overlapping, unpadded pooling"
        n_out1 = n_in - k1 + 1
        n_in2 = n_out1 // p1.kernel + 2 * p1.out_padding
        pooled = min(self._s2_rows_for_s3(n_in2) - p1.out_padding, n_out1 // p1.kernel)
        return pooled * p1.kernel + k1 - 1

    def decide(self, x3: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decision from S3's padded input ``[B, 250, 8, 8]``.

        Returns ``(classes [B] int64 (-1 = silence), winners [B, 1, 3], times [B, 200, 4, 4])``.
        """
        times, values = self.conv3(x3, self.T, border=self.pool2.out_padding)
        winners = self.conv3.winners(times, values, self.T, pointwise=False)
        f = winners[:, 0, 0].long()
        classes = torch.where(f >= 0, torch.div(f, self.conv3.out_channels // self.n_classes,
                                                rounding_mode="floor"), -1)
        return classes, winners, times

    @torch.no_grad()
    def forward(self, times: Tensor) -> Tensor:
        """Encoded images ``[B, 6, 28, 28]`` -> decisions ``[B]`` int64 (class, or -1 for silence)."""
        return self.decide(self.layer_input(3, times))[0]
