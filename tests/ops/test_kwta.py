"""fastspike.kwta (csrc/ops/kwta.cpp) vs the reference, ties included, uint8 and int16 times,
on every device; opcheck; bad inputs."""

import pytest
import torch
from conftest import random_times
from helpers.ops import (
    DEVICES,
    assert_bad_inputs_named,
    assert_same,
    both,
    non_contiguous_case,
    opcheck_inputs,
    tied_inputs,
    to_thresholded,
    uint8_and_int16_case,
)

import fastspike
from fastspike import reference as ref


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("k,radius", [(1, 0), (5, 3), (8, 1), (20, 0), (3, 100)])
@pytest.mark.parametrize("pointwise", [True, False])
def test_kwta_matches_reference(k, radius, compat, pointwise):
    g = torch.Generator().manual_seed(k * 31 + radius)
    B, F, H, W, T = 5, 12, 9, 8, 15
    times, values = tied_inputs(B, F, H, W, T, g)
    if pointwise:
        times, values = fastspike.pointwise_inhibition(times, values, T)
    winners = fastspike.kwta(times, values, T, k, radius, compat)
    assert winners.shape == (B, k, 3) and winners.dtype == torch.int32
    for b in range(B):
        expect = ref.get_k_winners(to_thresholded(times[b], values[b], T), k, radius, compat)
        got = [tuple(r) for r in winners[b].tolist() if r[0] >= 0]
        assert got == expect, f"sample {b}"
        assert all(r == [-1, -1, -1] for r in winners[b, len(expect) :].tolist())


def test_kwta_compat_quantisation_ties_lowest_index():
    # V differs by less than ulp(T * Vmax): compat sees a tie (lowest index wins), clean does not
    T = 15
    times = torch.tensor([[[[T - 1]], [[T - 1]]]], dtype=torch.uint8)
    values = torch.tensor([[[[1000.0]], [[1000.0001]]]])
    assert fastspike.kwta(times, values, T, 1, 0, compat=True)[0, 0, 0] == 0
    assert fastspike.kwta(times, values, T, 1, 0, compat=False)[0, 0, 0] == 1
    assert ref.get_k_winners(to_thresholded(times[0], values[0], T), 1, 0, compat=True)[0][0] == 0


def test_kwta_no_candidates_and_empty_batch():
    T = 15
    w = fastspike.kwta(torch.full((2, 3, 4, 4), T, dtype=torch.uint8), torch.zeros(2, 3, 4, 4), T, 4, 1)
    assert bool((w == -1).all())
    assert fastspike.kwta(
        torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(0, 3, 4, 4), T, 2, 1
    ).shape == (0, 2, 3)


def test_kwta_earliest_beats_strongest():
    T = 15
    times = torch.tensor([[[[5, 2]]]], dtype=torch.uint8)
    values = torch.tensor([[[[100.0, 1.0]]]])
    assert fastspike.kwta(times, values, T, 1, 0)[0, 0].tolist() == [0, 0, 1]


@pytest.mark.parametrize("T", [1, 15, 255])
def test_kwta_uint8_and_int16_times_give_the_same_winners(T):
    t8, t16, v, _ = uint8_and_int16_case(T)
    assert torch.equal(fastspike.kwta(t8, v, T, 4, 1), fastspike.kwta(t16, v, T, 4, 1))


@pytest.mark.cuda
@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize(
    "k,radius,pointwise", [(5, 3, True), (8, 1, True), (1, 0, False), (50, 0, False), (3, 2, False)]
)
def test_inhibition_and_kwta(k, radius, compat, pointwise):
    """CUDA equals the CPU bit for bit (after pointwise inhibition, as in a layer, or not)."""
    T = 15
    g = torch.Generator().manual_seed(k)
    times = random_times((7, 30, 14, 13), T, g, p_never=0.6)
    values = torch.where(
        times < T, torch.randint(1, 4, times.shape, generator=g).float() + 10, torch.zeros(())
    )
    if pointwise:
        (times, values), gpu = both(fastspike.pointwise_inhibition, times, values, T)
        assert_same((times, values), gpu)
    assert_same(*both(fastspike.kwta, times, values, T, k, radius, compat))


@pytest.mark.cuda
def test_kwta_non_contiguous_inputs():
    T = 15
    _, _, tt, vt = non_contiguous_case(T)
    assert_same(*both(fastspike.kwta, tt, vt, T, 4, 1))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.kwta.default, (x.tout, x.vout, x.T, 2, 1, True))


def test_bad_inputs():
    assert_bad_inputs_named("kwta")
