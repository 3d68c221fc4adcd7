"""fastspike.conv_fire vs the reference (conv2d on spike waves + fire + first spike)."""

import pytest
import torch
from conftest import dyadic_weights, random_times

import fastspike
from fastspike import reference as ref


def reference_conv_fire(times_in, weight, T, threshold):
    out_t, out_v, pots = [], [], []
    for b in range(times_in.shape[0]):
        p = ref.conv_potentials(ref.times_to_wave(times_in[b], T), weight)
        s, thr = ref.fire(p, threshold)
        t, v = ref.first_spike(s, thr)
        out_t.append(t)
        out_v.append(v)
        pots.append(p)
    return torch.stack(out_t), torch.stack(out_v), torch.stack(pots)


@pytest.mark.parametrize("B,C,H,W,F,K,T,threshold", [
    (3, 6, 12, 12, 7, 5, 15, 3.0),
    (1, 4, 9, 11, 5, 3, 15, 2.0),     # B = 1, odd sizes
    (2, 3, 7, 7, 4, 2, 8, 1.0),       # even kernel
    (2, 5, 8, 8, 3, 3, 15, None),     # decision mode
    (2, 2, 6, 6, 3, 3, 1, 0.0),       # T = 1
    (2, 3, 6, 9, 4, 3, 30, 4.0),      # T = 30
])
def test_conv_fire_matches_reference_exactly(B, C, H, W, F, K, T, threshold):
    g = torch.Generator().manual_seed(B * 1000 + C * 10 + K)
    times_in = random_times((B, C, H, W), T, g)
    weight = dyadic_weights((F, C, K, K), g)
    t, v, p = fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=True)
    rt, rv, rp = reference_conv_fire(times_in, weight, T, threshold)
    assert t.dtype == torch.uint8 and t.shape == (B, F, H - K + 1, W - K + 1)
    torch.testing.assert_close(p, rp, rtol=0, atol=0)
    torch.testing.assert_close(t, rt, rtol=0, atol=0)
    torch.testing.assert_close(v, rv, rtol=0, atol=0)
    # exact-threshold potentials occur with dyadic weights and must not spike
    if threshold is not None:
        assert bool((p == threshold).any()) or T == 1


def test_conv_fire_random_float_weights_close():
    g = torch.Generator().manual_seed(7)
    T, th = 15, 10.0
    times_in = random_times((4, 30, 16, 16), T, g, p_never=0.8)
    weight = 0.8 + 0.05 * torch.randn(50, 30, 3, 3, generator=g)
    t, v, _ = fastspike.conv_fire(times_in, weight.clamp(0, 1), T, th)
    rt, rv, rp = reference_conv_fire(times_in, weight.clamp(0, 1), T, th)
    # summation order differs from conv2d: a spike time may only differ where P is within rounding of theta
    diff = t != rt
    if diff.any():
        tt = torch.minimum(t, rt)[diff].long()
        b, f, y, x = diff.nonzero().unbind(1)
        near = (rp[b, tt, f, y, x] - th).abs() < 1e-4
        assert bool(near.all())
    same = ~diff
    torch.testing.assert_close(v[same], rv[same], rtol=1e-5, atol=1e-5)


def test_conv_fire_int16_times_and_noncontiguous():
    g = torch.Generator().manual_seed(3)
    T = 300
    times_in = random_times((2, 3, 10, 10), T, g, dtype=torch.int16)
    weight = dyadic_weights((4, 3, 3, 3), g)
    t, v, p = fastspike.conv_fire(times_in, weight, T, 5.0, return_potentials=True)
    assert t.dtype == torch.int16
    # the reference's uint8 maps stop at T = 255: compare potentials, then first spikes of them
    rp = torch.stack([ref.conv_potentials(ref.times_to_wave(times_in[b].long(), T), weight) for b in range(2)])
    assert torch.equal(p, rp)
    rt, rv = fastspike.first_spike(rp, 5.0)
    assert torch.equal(t, rt) and torch.equal(v, rv)
    # non-contiguous input (transposed spatial dims) gives the same as its contiguous copy
    tin = random_times((2, 3, 10, 12), 15, g).transpose(2, 3)
    a = fastspike.conv_fire(tin, weight, 15, 2.0)
    b = fastspike.conv_fire(tin.contiguous(), weight, 15, 2.0)
    assert all(torch.equal(x, y) for x, y in zip(a[:2], b[:2]))


def test_conv_fire_empty_batch_and_silence():
    w = torch.rand(4, 2, 3, 3)
    t, v, _ = fastspike.conv_fire(torch.zeros(0, 2, 5, 5, dtype=torch.uint8), w, 15, 1.0)
    assert t.shape == (0, 4, 3, 3) and v.shape == (0, 4, 3, 3)
    t, v, _ = fastspike.conv_fire(torch.full((1, 2, 5, 5), 15, dtype=torch.uint8), w, 15, 0.0)
    assert bool((t == 15).all()) and bool((v == 0).all())
