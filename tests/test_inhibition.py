"""fastspike.pointwise_inhibition and fastspike.kwta vs the reference, ties included."""

import pytest
import torch
from conftest import random_times

import fastspike
from fastspike import reference as ref


def to_thresholded(times, values, T):
    """The reference's [T, F, H, W] thresholded potentials for one sample: V from the first spike on."""
    steps = torch.arange(T).view(T, 1, 1, 1)
    return torch.where(steps >= times.long().unsqueeze(0), values.unsqueeze(0), torch.zeros(()))


def tied_inputs(B, F, H, W, T, gen, n_values=3, p_never=0.5):
    """Few distinct times and values, so ties in time and potential are everywhere."""
    times = random_times((B, F, H, W), T, gen, p_never=p_never)
    values = torch.randint(1, n_values + 1, (B, F, H, W), generator=gen).float() * 0.5 + 10
    values = torch.where(times < T, values, torch.zeros(()))
    return times, values


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
