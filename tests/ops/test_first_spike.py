"""fastspike.first_spike / first_spike_from_wave / spike_wave (csrc/ops/first_spike.cpp) vs the
reference, uint8 and int16 times, on every device; opcheck; bad inputs."""

import pytest
import torch
from conftest import random_times
from helpers.ops import (
    DEVICES,
    assert_bad_inputs_named,
    assert_same,
    both,
    opcheck_inputs,
    potentials,
    uint8_and_int16_case,
)

import fastspike
from fastspike import reference as ref


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


@pytest.mark.parametrize("T", [1, 15, 255])
def test_spike_wave_uint8_and_int16_times_give_the_same_wave(T):
    t8, t16, _, _ = uint8_and_int16_case(T)
    assert torch.equal(fastspike.spike_wave(t8, T), fastspike.spike_wave(t16, T))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_first_spike_half_precision(dtype):
    g = torch.Generator().manual_seed(0)
    p = potentials(2, 15, (3, 4), g)
    t, v = fastspike.first_spike(p.to(dtype), 4.0)
    t32, v32 = fastspike.first_spike(p, 4.0)
    assert torch.equal(t, t32) and v.dtype == dtype and torch.equal(v.float(), v32)


def test_first_spike_empty_and_noncontiguous():
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


@pytest.mark.cuda
@pytest.mark.parametrize("threshold", [0.0, 3.0, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_first_spike_cuda_matches_cpu(threshold, dtype):
    T = 15
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 3, (3, T, 4, 9, 7), generator=g).float().cumsum(1).to(dtype)
    assert_same(*both(fastspike.first_spike, p, threshold))
    s = (p.float() > 2).to(torch.uint8)
    for compat in (False, True):
        assert_same(*both(fastspike.first_spike_from_wave, s, p, compat))
    times = random_times((3, 4, 5), T, g)
    assert_same(*both(fastspike.spike_wave, times, T))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.first_spike.default, (x.pot, 2.0))
    torch.library.opcheck(ops.first_spike_from_wave.default, ((x.pot > 2).to(torch.uint8), x.pot, False))
    torch.library.opcheck(ops.first_spike_from_wave.default, ((x.pot > 2).to(torch.uint8), None, True))
    torch.library.opcheck(ops.spike_wave.default, (x.tin, x.T))


def test_bad_inputs():
    assert_bad_inputs_named("first_spike", "first_spike_from_wave", "spike_wave")
