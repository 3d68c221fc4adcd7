"""fastspike.pointwise_inhibition (csrc/ops/pointwise_inhibition.cpp) vs the reference, ties
included, uint8 and int16 times, on every device; opcheck; bad inputs."""

import pytest
import torch
from helpers.ops import (
    DEVICES,
    assert_bad_inputs_named,
    assert_same,
    both,
    non_contiguous_case,
    opcheck_inputs,
    relabel,
    relabelled_case,
    tied_inputs,
    to_thresholded,
    uint8_and_int16_case,
)

import fastspike
from fastspike import reference as ref


@pytest.mark.parametrize(
    "B,F,H,W,T", [(4, 6, 5, 7, 15), (1, 30, 9, 9, 15), (3, 1, 4, 4, 3), (2, 5, 1, 1, 15)]
)
def test_pointwise_inhibition_matches_reference(B, F, H, W, T):
    g = torch.Generator().manual_seed(B * 7 + F)
    times, values = tied_inputs(B, F, H, W, T, g)
    t, v = fastspike.pointwise_inhibition(times, values, T)
    for b in range(B):
        out = ref.pointwise_inhibition(to_thresholded(times[b], values[b], T))
        rt, rv = ref.first_spike(out.sign(), out)
        assert torch.equal(t[b], rt) and torch.equal(v[b], rv)
    # at most one survivor per position, and it is among the earliest
    alive = (t < T).sum(1)
    assert int(alive.max()) <= 1


def test_pointwise_inhibition_on_spike_wave_quirk():
    # Kheradpisheh applies it to a wave: all values 1 -> lowest index among the earliest
    times = torch.tensor([[[[3]], [[1]], [[1]], [[2]]]], dtype=torch.uint8)
    t, v = fastspike.pointwise_inhibition(times, torch.ones(1, 4, 1, 1), 15)
    assert t.flatten().tolist() == [15, 1, 15, 15]


@pytest.mark.parametrize("T", [1, 15, 255])
def test_pointwise_inhibition_uint8_and_int16_times_give_the_same_results(T):
    t8, t16, v, _ = uint8_and_int16_case(T)
    for a, b in zip(
        fastspike.pointwise_inhibition(t8, v, T), fastspike.pointwise_inhibition(t16, v, T), strict=True
    ):
        assert torch.equal(
            a.long() if a.dtype != torch.float32 else a, b.long() if b.dtype != torch.float32 else b
        )


def test_pointwise_inhibition_never_relabelled_from_256_to_300_changes_nothing():
    t256, t300, v, _ = relabelled_case()
    p256, p300 = fastspike.pointwise_inhibition(t256, v, 256), fastspike.pointwise_inhibition(t300, v, 300)
    assert torch.equal(relabel(p256[0], 256, 300), p300[0]) and torch.equal(p256[1], p300[1])


@pytest.mark.cuda
def test_pointwise_inhibition_non_contiguous_inputs():
    T = 15
    _, _, tt, vt = non_contiguous_case(T)
    assert_same(*both(fastspike.pointwise_inhibition, tt, vt, T))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.pointwise_inhibition.default, (x.tout, x.vout, x.T))


def test_bad_inputs():
    assert_bad_inputs_named("pointwise_inhibition")
