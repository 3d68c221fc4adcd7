"""First-spike times as int16 (T > 255) and at the uint8 edge (T = 255) through every operator.

Two oracles that need no wave of 256+ steps: (1) the same times in uint8 and in int16 give the
same results (T = 1, 15, 255); (2) relabelling "never" from T = 256 to T = 300 (the spikes stay
where they are) changes no winner, pooled time (other than never itself), potential or update."""

import pytest
import torch
from conftest import random_times

import fastspike


def _relabel(t, T_from, T_to):
    return torch.where(t >= T_from, torch.full_like(t, T_to), t)


def _values(times, T, g):
    return torch.where(times < T, torch.rand(times.shape, generator=g) + 1, torch.zeros(()))


@pytest.mark.parametrize("T", [1, 15, 255])
def test_uint8_and_int16_times_give_the_same_results(T):
    g = torch.Generator().manual_seed(T)
    t8 = random_times((3, 6, 9, 9), T, g, p_never=0.4)
    t16 = t8.to(torch.int16)
    v = _values(t8, T, g)
    for a, b in zip(
        fastspike.pointwise_inhibition(t8, v, T), fastspike.pointwise_inhibition(t16, v, T), strict=True
    ):
        assert torch.equal(
            a.long() if a.dtype != torch.float32 else a, b.long() if b.dtype != torch.float32 else b
        )
    assert torch.equal(fastspike.kwta(t8, v, T, 4, 1), fastspike.kwta(t16, v, T, 4, 1))
    assert torch.equal(
        fastspike.pool_times(t8, 2, 2, 1, T, 1).long(), fastspike.pool_times(t16, 2, 2, 1, T, 1).long()
    )
    assert torch.equal(fastspike.spike_wave(t8, T), fastspike.spike_wave(t16, T))
    w = torch.rand(5, 6, 3, 3, generator=g)
    assert torch.equal(fastspike.final_potential(t8, w, T)[0], fastspike.final_potential(t16, w, T)[0])
    c8 = fastspike.conv_fire(t8, w, T, 2.0)
    c16 = fastspike.conv_fire(t16, w, T, 2.0)
    assert torch.equal(c8[0].long(), c16[0].long()) and torch.equal(c8[1], c16[1])
    tout = c8[0]
    win = fastspike.kwta(tout, c8[1], T, 3, 1)
    lr = torch.tensor([[0.05, -0.04]]).repeat(3, 1)
    wa, wb = w.clone(), w.clone()
    fastspike.stdp_update(wa, t8, tout, win, lr, T)
    fastspike.stdp_update(wb, t16, tout.to(torch.int16), win, lr, T)
    assert torch.equal(wa, wb)


def test_never_relabelled_from_256_to_300_changes_nothing():
    g = torch.Generator().manual_seed(256)
    t256 = random_times((3, 6, 9, 9), 256, g, p_never=0.4, dtype=torch.int16)
    t256[0, 0, 0, :3] = 255  # the last step before never
    t300 = _relabel(t256, 256, 300)
    assert int(t256.max()) == 256 and int(t300.max()) == 300
    v = _values(t256, 256, g)
    p256, p300 = fastspike.pointwise_inhibition(t256, v, 256), fastspike.pointwise_inhibition(t300, v, 300)
    assert torch.equal(_relabel(p256[0], 256, 300), p300[0]) and torch.equal(p256[1], p300[1])
    pooled256 = fastspike.pool_times(t256, 3, 2, 1, 256, 2)
    assert torch.equal(_relabel(pooled256, 256, 300), fastspike.pool_times(t300, 3, 2, 1, 300, 2))
    w = torch.rand(5, 6, 3, 3, generator=g)
    assert torch.equal(fastspike.final_potential(t256, w, 256)[0], fastspike.final_potential(t300, w, 300)[0])
    c256, c300 = fastspike.conv_fire(t256, w, 256, 2.0), fastspike.conv_fire(t300, w, 300, 2.0)
    assert torch.equal(_relabel(c256[0], 256, 300), c300[0]) and torch.equal(c256[1], c300[1])
    assert bool((c300[0] < 300).any())
    # stdp: winners among the neurons that fired before step 255 (k-WTA takes T <= 255),
    # the same updates whatever "never" is
    win = fastspike.kwta(c300[0].clamp(max=255).to(torch.uint8), c300[1], 255, 3, 1)
    lr = torch.tensor([[0.05, -0.04]]).repeat(3, 1)
    wa, wb = w.clone(), w.clone()
    fastspike.stdp_update(wa, t256, c256[0], win, lr, 256)
    fastspike.stdp_update(wb, t300, c300[0], win, lr, 300)
    assert torch.equal(wa, wb) and not torch.equal(wa, w)
