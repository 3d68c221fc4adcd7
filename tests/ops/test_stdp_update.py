"""fastspike.stdp_update (csrc/ops/stdp_update.cpp) vs the reference rule applied one sample at
a time, uint8 and int16 times, on every device; opcheck; bad inputs."""

import pytest
import torch
from conftest import random_times
from helpers.ops import (
    assert_bad_inputs_named,
    decision_weights,
    opcheck_inputs,
    relabelled_case,
    uint8_and_int16_case,
)

import fastspike
from fastspike import reference as ref


def make_case(B, F, C, K, H, W, T, gen, k=3):
    times_in = random_times((B, C, H + K - 1, W + K - 1), T, gen, p_never=0.4)
    times_out = random_times((B, F, H, W), T, gen, p_never=0.5)
    values = torch.where(times_out < T, torch.rand((B, F, H, W), generator=gen) + 1, torch.zeros(()))
    winners = fastspike.kwta(times_out, values, T, k, 1)
    return times_in, times_out, winners


def reference_sequential(weight, times_in, times_out, winners, lr, T, **kw):
    w = weight.clone()
    for b in range(times_in.shape[0]):
        ws = [tuple(r) for r in winners[b].tolist() if r[0] >= 0]
        if not ws and not kw.get("clamp_all", False):
            continue
        ref.stdp(w, ref.times_to_wave(times_in[b], T), ref.times_to_wave(times_out[b], T), ws, lr[b], **kw)
    return w


@pytest.mark.parametrize(
    "stabilize,lb,ub,clamp_all",
    [(True, 0.0, 1.0, False), (True, 0.0, 1.0, True), (False, 0.2, 0.8, False), (False, 0.2, 0.8, True)],
)
@pytest.mark.parametrize("B", [1, 2, 7])
def test_stdp_matches_sequential_reference(B, stabilize, lb, ub, clamp_all):
    g = torch.Generator().manual_seed(B * 13 + int(stabilize))
    F, C, K, H, W, T = 6, 4, 3, 5, 6, 15
    times_in, times_out, winners = make_case(B, F, C, K, H, W, T, g)
    weight = 0.8 + 0.05 * torch.randn(F, C, K, K, generator=g)  # some start outside [lb, ub]
    if not clamp_all:
        weight.clamp_(lb, ub)
    lr = torch.tensor([[0.05, -0.04], [-0.004, 0.0005], [0.1, -0.075]]).repeat(B, 1)[:B]
    expect = reference_sequential(
        weight, times_in, times_out, winners, lr, T, stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all
    )
    got = weight.clone()
    fastspike.stdp_update(
        got, times_in, times_out, winners, lr, T, stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all
    )
    torch.testing.assert_close(got, expect, rtol=0, atol=0)
    assert bool((got >= lb).all() and (got <= ub).all()) or not clamp_all


def test_stdp_per_feature_rates_and_same_weight_touched_twice():
    g = torch.Generator().manual_seed(4)
    B, F, C, K, H, W, T = 6, 3, 2, 3, 4, 4, 15
    times_in, times_out, winners = make_case(B, F, C, K, H, W, T, g, k=3)
    weight = torch.rand(F, C, K, K, generator=g)
    lr = torch.rand(B, F, 2, generator=g) * torch.tensor([0.1, -0.1])
    expect = weight.clone()
    for b in range(B):
        ws = [tuple(r) for r in winners[b].tolist() if r[0] >= 0]
        ref.stdp(
            expect,
            ref.times_to_wave(times_in[b], T),
            ref.times_to_wave(times_out[b], T),
            ws,
            lr[b],
            clamp_all=False,
        )
    got = weight.clone()
    fastspike.stdp_update(got, times_in, times_out, winners.long(), lr, T)
    torch.testing.assert_close(got, expect, rtol=0, atol=0)
    # order matters (stabiliser is non-linear): the reversed batch gives another result
    rev = weight.clone()
    fastspike.stdp_update(rev, times_in.flip(0), times_out.flip(0), winners.flip(0), lr.flip(0), T)
    assert not torch.equal(rev, got)


def test_stdp_ltp_rule_edges():
    """Post fires at t=5 through a 1x1 kernel: a pre spike at 5 (simultaneous) gives LTP,
    at 6 (later) LTD, never (including padding) LTD."""
    T = 15
    times_in = torch.tensor([[[[5, 6, T]]]], dtype=torch.uint8)  # [1, 1, 1, 3]
    for col, expect in ((0, 0.6), (1, 0.4), (2, 0.4)):
        w = torch.full((1, 1, 1, 1), 0.5)
        times_out = torch.full((1, 1, 1, 3), T, dtype=torch.uint8)
        times_out[0, 0, 0, col] = 5
        fastspike.stdp_update(
            w,
            times_in,
            times_out,
            torch.tensor([[[0, 0, col]]], dtype=torch.int32),
            torch.tensor([[0.1, -0.1]]),
            T,
            stabilize=False,
        )
        assert float(w) == pytest.approx(expect)


def test_stdp_empty_batch_and_no_winners_is_noop():
    w = torch.rand(3, 2, 3, 3)
    w0 = w.clone()
    fastspike.stdp_update(
        w,
        torch.zeros(0, 2, 5, 5, dtype=torch.uint8),
        torch.zeros(0, 3, 3, 3, dtype=torch.uint8),
        torch.zeros(0, 2, 3, dtype=torch.int32),
        torch.zeros(0, 2),
        15,
    )
    fastspike.stdp_update(
        w,
        torch.zeros(1, 2, 5, 5, dtype=torch.uint8),
        torch.zeros(1, 3, 3, 3, dtype=torch.uint8),
        torch.full((1, 2, 3), -1, dtype=torch.int32),
        torch.ones(1, 2),
        15,
    )
    assert torch.equal(w, w0)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.mark.parametrize("device", DEVICES)
def test_stdp_clamp_all_clamps_samples_without_winners(device):
    """The reference clamps the whole weight after every sample's update call, winners or not."""
    for clamp_all, expect in ((True, [1.0, 1.0]), (False, [1.5, 1.5])):
        w = torch.full((2, 1, 1, 1), 1.5, device=device)
        fastspike.stdp_update(
            w,
            torch.zeros(1, 1, 1, 1, dtype=torch.uint8, device=device),
            torch.full((1, 2, 1, 1), 15, dtype=torch.uint8, device=device),
            torch.full((1, 1, 3), -1, dtype=torch.int32, device=device),
            torch.ones(1, 2, device=device),
            15,
            clamp_all=clamp_all,
        )
        assert w.flatten().tolist() == expect, clamp_all


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stabilize,lb,ub", [(True, 0.0, 1.0), (False, 0.2, 0.8)])
@pytest.mark.parametrize("clamp_all", [False, True])
def test_stdp_silent_samples_and_out_of_bounds_weights(device, stabilize, lb, ub, clamp_all):
    """Samples without any winner among samples with winners, weights visibly outside
    [lb, ub]: the batched update equals the sequential rule (clamps included)."""
    g = torch.Generator().manual_seed(11)
    B, F, C, K, H, W, T = 6, 5, 3, 3, 5, 5, 15
    times_in, times_out, winners = make_case(B, F, C, K, H, W, T, g)
    winners[[0, 3]] = -1  # the first sample and one in the middle have no winner
    winners[winners[..., 0] == F - 1] = -1  # and nobody wins the last feature
    assert bool((winners[1:3, :, 0] >= 0).any(1).all())  # the samples between do have winners
    weight = torch.rand(F, C, K, K, generator=g) * 2 - 0.5  # in [-0.5, 1.5]
    lr = torch.tensor([0.05, -0.04]).repeat(B, 1)
    expect = reference_sequential(
        weight, times_in, times_out, winners, lr, T, stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all
    )
    got = weight.to(device)
    fastspike.stdp_update(
        got,
        times_in.to(device),
        times_out.to(device),
        winners.to(device),
        lr.to(device),
        T,
        stabilize=stabilize,
        lb=lb,
        ub=ub,
        clamp_all=clamp_all,
    )
    torch.testing.assert_close(got.cpu(), expect, rtol=0, atol=0)
    if clamp_all:
        assert bool((got >= lb).all() and (got <= ub).all())
    else:  # a feature nobody won keeps its out-of-bounds weights
        assert torch.equal(got[F - 1].cpu(), weight[F - 1])
        assert bool((weight[F - 1] < lb).any() or (weight[F - 1] > ub).any())


def test_stdp_update_bumps_the_weight_version():
    g = torch.Generator().manual_seed(2)
    T = 15
    x = random_times((2, 3, 6, 6), T, g)
    w = decision_weights((4, 3, 3, 3), g)
    t, v, _ = fastspike.conv_fire(x, w, T, 1.0)
    winners = fastspike.kwta(t, v, T, 1, 0)
    before = w._version
    fastspike.stdp_update(w, x, t, winners, torch.tensor([[0.01, -0.01]] * 2), T)
    assert w._version > before


# --- uint8 and int16 times ------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 15, 255])
def test_stdp_update_uint8_and_int16_times_give_the_same_update(T):
    t8, t16, _, w = uint8_and_int16_case(T)
    tout, vout, _ = fastspike.conv_fire(t8, w, T, 2.0)
    win = fastspike.kwta(tout, vout, T, 3, 1)
    lr = torch.tensor([[0.05, -0.04]]).repeat(3, 1)
    wa, wb = w.clone(), w.clone()
    fastspike.stdp_update(wa, t8, tout, win, lr, T)
    fastspike.stdp_update(wb, t16, tout.to(torch.int16), win, lr, T)
    assert torch.equal(wa, wb)


def test_stdp_update_never_relabelled_from_256_to_300_changes_nothing():
    t256, t300, _, w = relabelled_case()
    c256, c300 = fastspike.conv_fire(t256, w, 256, 2.0), fastspike.conv_fire(t300, w, 300, 2.0)
    # winners among the neurons that fired before step 255 (k-WTA takes T <= 255),
    # the same updates whatever "never" is
    win = fastspike.kwta(c300[0].clamp(max=255).to(torch.uint8), c300[1], 255, 3, 1)
    lr = torch.tensor([[0.05, -0.04]]).repeat(3, 1)
    wa, wb = w.clone(), w.clone()
    fastspike.stdp_update(wa, t256, c256[0], win, lr, 256)
    fastspike.stdp_update(wb, t300, c300[0], win, lr, 300)
    assert torch.equal(wa, wb) and not torch.equal(wa, w)


# --- CUDA against the CPU -------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("clamp_all", [False, True])
@pytest.mark.parametrize("per_feature", [False, True])
def test_stdp_update_bitwise(clamp_all, per_feature):
    T = 15
    g = torch.Generator().manual_seed(3)
    B, F, C, K, H, W = 9, 30, 6, 5, 28, 28
    tin = random_times((B, C, H + K - 1, W + K - 1), T, g)
    tout = random_times((B, F, H, W), T, g)
    vals = torch.where(tout < T, torch.rand(tout.shape, generator=g) + 1, torch.zeros(()))
    winners = fastspike.kwta(tout, vals, T, 5, 3)
    weight = 0.8 + 0.05 * torch.randn(F, C, K, K, generator=g)
    lr = torch.rand(B, F, 2, generator=g) if per_feature else torch.rand(B, 2, generator=g)
    lr = lr * torch.tensor([0.1, -0.1])
    wc, wg = weight.clone(), weight.cuda()
    fastspike.stdp_update(wc, tin, tout, winners, lr, T, clamp_all=clamp_all)
    fastspike.stdp_update(wg, tin.cuda(), tout.cuda(), winners.cuda(), lr.cuda(), T, clamp_all=clamp_all)
    torch.testing.assert_close(wg.cpu(), wc, rtol=0, atol=0)


@pytest.mark.cuda
def test_stdp_update_cuda_validation_errors():
    T = 15
    w = torch.rand(4, 3, 3, 3, device="cuda")
    tin = torch.zeros(2, 3, 6, 6, dtype=torch.uint8, device="cuda")
    tout = torch.zeros(2, 4, 4, 4, dtype=torch.uint8, device="cuda")
    bad = torch.tensor([[[7, 0, 0]], [[0, 0, 0]]], dtype=torch.int32, device="cuda")
    with pytest.raises(ValueError, match="out of range"):
        fastspike.stdp_update(w, tin, tout, bad, torch.ones(2, 2, device="cuda"), T)


# --- opcheck, bad inputs --------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    args = (x.w.clone(), x.tin, x.tout, x.winners, x.lr, x.T, True, 0.0, 1.0, False)
    torch.library.opcheck(ops.stdp_update.default, args)


def test_bad_inputs():
    assert_bad_inputs_named("stdp_update")
