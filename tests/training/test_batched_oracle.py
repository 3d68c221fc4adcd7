"""Batched training against an oracle built from the reference.

Batched (R-)STDP is defined as: the forward pass of every sample of a batch uses the weights
at the start of the batch; then each sample's update is applied in sample order, with its own
rate (the STDP schedule's, or the R-STDP rates in force for its chunk); a batch never
straddles an R-STDP chunk. The oracle below does exactly that with the pure-torch reference
(conv on spike waves, fire, inhibition, k-WTA, the per-sample rule), and fastspike's
train_epoch must give the same weights bit for bit, across the rate doubling at sample 499
and an R-STDP chunk boundary with silent samples."""

import pytest
import torch

from fastspike import reference as ref
from fastspike.encoding import Encoder
from fastspike.models import Mozafari2018
from fastspike.registry import mozafari2018
from fastspike.training import learner, train_epoch


@pytest.mark.slow
@pytest.mark.parametrize("compat", [False, True])
def test_batched_stdp_equals_the_reference_oracle(mnist, compat):
    train, _ = mnist
    n, B, T = 540, 64, 15  # crosses the first doubling (sample 499) inside a batch
    times = Encoder()(train.images[:n])
    rnet = ref.ReferenceMozafari2018(mozafari2018(), compat=compat, seed=0)
    model = Mozafari2018(compat=compat, seed=0)
    assert torch.equal(model.conv1.weight, rnet.w1)
    x = model.layer_input(1, times, training=True)
    train_epoch(model, 1, x, learner(model, 1), batch_size=B)
    k, radius = rnet.KWTA[0]
    lb, ub = rnet.BOUNDS[0]
    for s in range(0, n, B):
        w0 = rnet.w1.clone()  # the batch-start weights drive every sample's forward pass
        plans = []
        for i in range(s, min(n, s + B)):
            s1_in = ref.pad(ref.times_to_wave(times[i], T), 2)
            _, thr = ref.fire(ref.conv_potentials(s1_in, w0), rnet.THRESHOLDS[0])
            inhibited = ref.pointwise_inhibition(thr)
            plans.append((s1_in, inhibited.sign(), ref.get_k_winners(inhibited, k, radius, compat)))
        for s1_in, spikes, winners in plans:  # then each update in order, with its own rate
            a_plus, a_minus = rnet._next_rates(0)
            lr = torch.tensor([a_plus, a_minus], dtype=torch.float32)
            ref.stdp(rnet.w1, s1_in, spikes, winners, lr, stabilize=True, lb=lb, ub=ub, clamp_all=compat)
    assert rnet._samples[0] == n and rnet._rates[0][0] > rnet.A_PLUS  # the rate doubled during the run
    assert torch.equal(model.conv1.weight, rnet.w1)


@pytest.mark.slow
def test_batched_rstdp_equals_the_reference_oracle(mnist):
    train, _ = mnist
    n, B, T = 1100, 64, 15  # one chunk boundary (1,000 samples); batch 15 ends at it
    times = Encoder()(train.images[:n])
    labels = train.labels[:n]
    model = Mozafari2018(seed=0)
    x3 = model.layer_input(3, times, training=True)
    x3[[3, 700, 999, 1000]] = T  # silent samples: nothing reaches the decision layer
    w = model.conv3.weight.clone()
    state = learner(model, 3)
    res = train_epoch(model, 3, x3, state, labels=labels, batch_size=B)
    # the oracle: decisions from the batch-start weights (P[T-1] summed exactly: the decision
    # potential's definition), the reference rule per sample in order, rates per chunk
    rnet = ref.ReferenceMozafari2018(mozafari2018(), seed=0)
    lb, ub = rnet.BOUNDS[2]
    reward, punish = rnet.REWARD, rnet.PUNISH
    hits = misses = seen = c_hits = c_misses = 0
    s = 0
    while s < n:
        e = min(n, s + B, s + 1000 - seen)
        w0 = w.clone()
        plans = []
        for i in range(s, e):
            wave = ref.times_to_wave(x3[i], T)
            fired = (x3[i] < T).double()
            p = torch.nn.functional.conv2d(fired[None], w0.double())[0].float()  # P[T-1]
            spikes = torch.zeros(T, *p.shape)
            spikes[-1] = (p > 0).float()
            winners = ref.get_k_winners(torch.where(spikes.bool(), p.expand(T, *p.shape), 0.0), 1, 0, False)
            plans.append((wave, spikes, winners, int(labels[i])))
        for wave, spikes, winners, label in plans:
            if winners:
                hit = winners[0][0] // 20 == label
                hits, misses, c_hits, c_misses = (
                    hits + hit,
                    misses + (not hit),
                    c_hits + hit,
                    c_misses + (not hit),
                )
                lr = torch.tensor(reward if hit else punish, dtype=torch.float32)
                ref.stdp(w, wave, spikes, winners, lr, stabilize=False, lb=lb, ub=ub, clamp_all=False)
        seen += e - s
        if seen == 1000:
            f32 = ref.f32
            m_frac, h_frac = c_misses / 1000, c_hits / 1000  # as the reference computes them
            reward = (f32(rnet.REWARD[0] * m_frac), f32(rnet.REWARD[1] * m_frac))
            punish = (f32(rnet.PUNISH[0] * h_frac), f32(rnet.PUNISH[1] * h_frac))
            seen = c_hits = c_misses = 0
        s = e
    assert res == {"correct": hits / n, "wrong": misses / n, "silent": (n - hits - misses) / n}
    assert res["silent"] >= 4 / n
    assert tuple(state.reward) == reward and tuple(state.punish) == punish and reward != rnet.REWARD
    assert torch.equal(model.conv3.weight, w)
