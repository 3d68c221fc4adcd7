"""Pooling and padding layers on first-spike times vs the reference's wave pooling (the
operator itself: tests/ops/test_pool_times.py)."""

import pytest
import torch
from conftest import random_times

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


def test_pad_times_never_fires():
    t = torch.zeros(1, 2, 3, 3, dtype=torch.uint8)
    p = pad_times(t, 2, 15)
    assert p.shape == (1, 2, 7, 7) and int(p[0, 0, 0, 0]) == 15 and int(p[0, 0, 2, 2]) == 0
    with pytest.raises(ValueError, match="padding: expected >= 0"):
        pad_times(t, -1, 15)
