"""fastspike.fire / first_spike / first_spike_from_wave / spike_wave vs the reference."""

import pytest
import torch
from conftest import random_times

import fastspike
from fastspike import reference as ref


def potentials(B, T, shape, gen, dtype=torch.float32):
    """Monotone potentials with many values exactly on small integers."""
    steps = torch.randint(0, 3, (B, T, *shape), generator=gen).float()
    return steps.cumsum(1).to(dtype)


@pytest.mark.parametrize("threshold", [0.0, 2.0, 5.0, None])
@pytest.mark.parametrize("B,T,shape", [(3, 15, (4, 5, 6)), (1, 7, (3,)), (2, 1, (2, 3, 3))])
def test_fire_matches_reference(B, T, shape, threshold):
    g = torch.Generator().manual_seed(B + T)
    p = potentials(B, T, shape, g)
    s, thr = fastspike.fire(p, threshold, return_thresholded=True)
    assert s.dtype == torch.uint8
    for b in range(B):
        rs, rthr = ref.fire(p[b], threshold)
        assert torch.equal(s[b].float(), rs)
        assert torch.equal(thr[b], rthr)
    assert fastspike.fire(p, threshold)[1] is None


@pytest.mark.parametrize("threshold", [0.0, 3.0, None])
def test_first_spike_fused_matches_reference(threshold):
    g = torch.Generator().manual_seed(11)
    B, T = 4, 15
    p = potentials(B, T, (5, 7, 7), g)
    t, v = fastspike.first_spike(p, threshold)
    assert t.dtype == torch.uint8 and t.shape == (B, 5, 7, 7)
    for b in range(B):
        rt, rv = ref.first_spike(*ref.fire(p[b], threshold))
        assert torch.equal(t[b], rt) and torch.equal(v[b], rv)


@pytest.mark.parametrize("compat", [False, True])
def test_first_spike_from_wave_matches_reference(compat):
    g = torch.Generator().manual_seed(5)
    p = potentials(3, 15, (4, 6, 6), g)
    for threshold in (4.0, None):
        waves, thrs = zip(*(ref.fire(p[b], threshold) for b in range(3)), strict=False)
        wave, thr = torch.stack(waves), torch.stack(thrs)
        t, v = fastspike.first_spike_from_wave(wave, thr, compat=compat)
        t2, none = fastspike.first_spike_from_wave(wave.bool())
        assert none is None and torch.equal(t, t2)
        for b in range(3):
            rt, rv = ref.first_spike(wave[b], thr[b], compat=compat)
            assert torch.equal(t[b], rt) and torch.equal(v[b], rv)


def test_spike_wave_round_trip_and_dtypes():
    g = torch.Generator().manual_seed(2)
    for T, dtype in ((15, torch.uint8), (255, torch.uint8), (400, torch.int16)):
        times = random_times((2, 3, 4, 5), T, g, dtype=dtype)
        wave = fastspike.spike_wave(times, T)
        assert wave.shape == (2, T, 3, 4, 5) and wave.dtype == torch.uint8
        if T <= 255:
            assert torch.equal(wave[0].float(), ref.times_to_wave(times[0], T))
        back, _ = fastspike.first_spike_from_wave(wave)
        assert back.dtype == fastspike.ops.times_dtype(T)
        assert torch.equal(back.long(), times.long())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fire_half_precision(dtype):
    g = torch.Generator().manual_seed(0)
    p = potentials(2, 15, (3, 4), g)
    s32, _ = fastspike.fire(p, 4.0)
    s, thr = fastspike.fire(p.to(dtype), 4.0, return_thresholded=True)
    assert torch.equal(s, s32) and thr.dtype == dtype
    t, v = fastspike.first_spike(p.to(dtype), 4.0)
    t32, v32 = fastspike.first_spike(p, 4.0)
    assert torch.equal(t, t32) and v.dtype == dtype and torch.equal(v.float(), v32)


def test_empty_and_noncontiguous():
    s, _ = fastspike.fire(torch.zeros(0, 15, 3), 1.0)
    assert s.shape == (0, 15, 3)
    t, v = fastspike.first_spike(torch.zeros(0, 15, 3), 1.0)
    assert t.shape == (0, 3)
    g = torch.Generator().manual_seed(1)
    p = potentials(2, 15, (6, 5), g).transpose(2, 3)
    assert not p.is_contiguous()
    for threshold in (2.0, None):
        for a, b in zip(
            fastspike.first_spike(p, threshold), fastspike.first_spike(p.contiguous(), threshold), strict=True
        ):
            assert torch.equal(a, b)  # times and values
        for a, b in zip(
            fastspike.fire(p, threshold, True), fastspike.fire(p.contiguous(), threshold, True), strict=True
        ):
            assert torch.equal(a, b)  # spikes and thresholded potentials
