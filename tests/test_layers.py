"""Pooling and padding on first-spike times vs the reference's wave pooling."""

import pytest
import torch
from conftest import random_times

import fastspike
from fastspike import reference as ref
from fastspike.layers import pad_times, pool_times


@pytest.mark.parametrize(
    "kernel,stride,padding,H,W",
    [
        (2, 2, 0, 28, 28),
        (3, 3, 0, 14, 14),
        (2, 2, 1, 30, 30),
        (2, 2, 1, 16, 16),
        (3, 2, 1, 9, 11),
        (3, 3, 0, 13, 8),
    ],
)
def test_pool_times_equals_max_pool_of_wave(kernel, stride, padding, H, W):
    g = torch.Generator().manual_seed(kernel * 10 + padding)
    T = 15
    times = random_times((3, 4, H, W), T, g, p_never=0.6)
    got = pool_times(times, kernel, stride, padding, T)
    assert got.dtype == times.dtype
    for b in range(3):
        expect = ref.wave_to_times(ref.pool(ref.times_to_wave(times[b], T), kernel, stride, padding))
        assert torch.equal(got[b], expect)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
@pytest.mark.parametrize(
    "kernel,stride,padding,out_padding,H,W",
    [
        (2, 2, 0, 1, 26, 26),
        (3, 3, 0, 2, 12, 12),
        (3, 3, 0, 0, 14, 13),
        (2, 2, 1, 1, 15, 15),
        (3, 2, 1, 0, 9, 11),
        (1, 1, 0, 3, 4, 5),
        (4, 4, 0, 0, 9, 8),
    ],
)
def test_pool_times_op_equals_pool_then_pad(dtype, kernel, stride, padding, out_padding, H, W):
    """The fused operator = max-pool of the wave, then padding with never; the
    CPU kernel and the generic (ATen, used on CUDA) kernel agree."""
    g = torch.Generator().manual_seed(H * 10 + kernel)
    T = 15
    times = random_times((3, 5, H, W), T, g, p_never=0.5).to(dtype)
    got = fastspike.pool_times(times, kernel, stride, padding, T, out_padding)
    assert got.dtype == dtype
    for b in range(3):
        pooled = ref.wave_to_times(ref.pool(ref.times_to_wave(times[b], T), kernel, stride, padding))
        assert torch.equal(got[b].long(), pad_times(pooled, out_padding, T).long())
    generic = torch.ops.fastspike.pool_times.default.redispatch(
        torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd),
        times,
        kernel,
        stride,
        padding,
        T,
        out_padding,
    )
    assert torch.equal(generic, got)


def test_pool_times_op_errors():
    t = torch.zeros(1, 2, 6, 6, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="kernel: expected"):
        fastspike.pool_times(t, 0, 1, 0, 15)
    with pytest.raises(RuntimeError, match="stride: expected"):
        fastspike.pool_times(t, 2, 0, 0, 15)
    with pytest.raises(RuntimeError, match="padding: expected"):
        fastspike.pool_times(t, 2, 2, 2, 15)
    with pytest.raises(RuntimeError, match="out_padding: expected"):
        fastspike.pool_times(t, 2, 2, 0, 15, -1)
    with pytest.raises(RuntimeError, match="kernel: the 7x7 pooling window is larger than"):
        fastspike.pool_times(t, 7, 1, 0, 15)
    with pytest.raises(RuntimeError, match="times: expected first-spike times"):
        fastspike.pool_times(t.float(), 2, 2, 0, 15)
    with pytest.raises(RuntimeError, match="T: 300 time steps do not fit"):
        fastspike.pool_times(t, 2, 2, 0, 300)
    assert fastspike.pool_times(torch.zeros(0, 2, 6, 6, dtype=torch.uint8), 2, 2, 0, 15, 1).shape == (
        0,
        2,
        5,
        5,
    )


def test_pad_times_never_fires():
    t = torch.zeros(1, 2, 3, 3, dtype=torch.uint8)
    p = pad_times(t, 2, 15)
    assert p.shape == (1, 2, 7, 7) and int(p[0, 0, 0, 0]) == 15 and int(p[0, 0, 2, 2]) == 0
    with pytest.raises(ValueError, match="padding: expected >= 0"):
        pad_times(t, -1, 15)
