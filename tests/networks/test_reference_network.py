"""The spec interpreter of the reference (ReferenceNetwork) on real MNIST.

* On the Mozafari spec it must be the hard-coded ReferenceMozafari2018, bit for bit.
* On the Kheradpisheh spec: stage shapes, the training-only inhibition of S2's input, and STDP
  steps that touch only the winners' features.
* The compiled network at batch size 1 must equal it bit for bit (Kheradpisheh, S1 then S2
  STDP, then the features).
"""

import dataclasses

import pytest
import torch

from fastspike import reference as ref
from fastspike.encoding import Encoder
from fastspike.reference import ReferenceMozafari2018, ReferenceNetwork
from fastspike.registry import KHERADPISHEH_DOG, MOZAFARI_DOG, get_spec, mozafari2018

COMPAT = pytest.mark.parametrize("compat", [False, True], ids=["clean", "compat"])


def _with_chunk(spec, chunk):
    """The spec with the decision layer's R-STDP rates rescaled every ``chunk`` samples."""
    last = spec.layers[-1]
    rule = dataclasses.replace(last.rule, rates=dataclasses.replace(last.rule.rates, chunk=chunk))
    return spec.replace(layers=spec.layers[:-1] + (dataclasses.replace(last, rule=rule),))


def _assert_same_decision(got, expect, i):
    assert got.decision == expect.decision, f"sample {i}"
    assert got.winner == expect.winner, f"sample {i}"
    assert torch.equal(got.input_wave, expect.input_wave), f"sample {i}"
    assert torch.equal(got.output_spikes, expect.output_spikes), f"sample {i}"


# ----------------------------------------------------------------------------- Mozafari
@COMPAT
def test_mozafari_spec_equals_hard_coded_reference(mnist, compat):
    train, _ = mnist
    n = 10
    images, labels = train.images[:n], train.labels[:n]
    net = ReferenceNetwork(get_spec("mozafari2018"), compat=compat, seed=0)
    old = ReferenceMozafari2018(mozafari2018(), compat=compat, seed=0)

    assert list(net.weights) == ["S1", "S2", "S3"]
    for name, w in zip(("S1", "S2", "S3"), old.weights, strict=True):
        assert torch.equal(net.weights[name], w), name

    waves = [net.encode(images[i]) for i in range(n)]
    for i in range(n):
        expect = ref.times_to_wave(ref.encode_image(images[i], MOZAFARI_DOG), 15)
        assert torch.equal(waves[i], expect), f"sample {i}"

    n_winners = 0
    for name, step in (("S1", old.stdp1), ("S2", old.stdp2)):
        for i in range(n):
            winners = net.stdp_step(name, waves[i])
            assert winners == step(waves[i]), f"{name} sample {i}"
            n_winners += len(winners)
            for other, w in zip(("S1", "S2", "S3"), old.weights, strict=True):
                assert torch.equal(net.weights[other], w), f"{name} sample {i}: {other} differs"
        assert net.samples_seen(name) == n
    assert net.rates("S1") == old.lr1 and net.rates("S2") == old.lr2
    assert n_winners > 0

    decisions = []
    for i in range(n):
        _assert_same_decision(net.decide(waves[i]), old.decide(waves[i]), i)
        d = net.rstdp(waves[i], int(labels[i]))
        assert d == old.rstdp(waves[i], int(labels[i])), f"R-STDP sample {i}"
        decisions.append(d)
        assert torch.equal(net.weights["S3"], old.w3), f"R-STDP sample {i}"
        assert net.predict(waves[i]) == old.predict(waves[i]), f"sample {i}"
    assert any(d >= 0 for d in decisions)
    assert (net.reward_rates, net.punish_rates) == (old.reward_rates, old.punish_rates)


@COMPAT
def test_mozafari_adaptive_rates_equal_hard_coded_reference(mnist, compat):
    """R-STDP with chunks of 3 samples, so that the rates are rescaled several times."""
    train, _ = mnist
    n = 10
    net = ReferenceNetwork(_with_chunk(get_spec("mozafari2018"), 3), compat=compat, seed=1)
    old = ReferenceMozafari2018(mozafari2018(), compat=compat, seed=1)
    old.ADAPT_CHUNK = 3
    rescaled = set()
    for i in range(n):
        wave = net.encode(train.images[i])
        label = int(train.labels[i])
        assert net.rstdp(wave, label) == old.rstdp(wave, label), f"sample {i}"
        assert torch.equal(net.weights["S3"], old.w3), f"sample {i}"
        assert (net.reward_rates, net.punish_rates) == (old.reward_rates, old.punish_rates), f"sample {i}"
        rescaled.add((net.reward_rates, net.punish_rates))
    assert len(rescaled) > 1


def test_reference_mozafari2018_runs_the_mozafari_layout_only():
    """The hard-coded network reads its numbers from the spec it is given and refuses a spec with
    other layers (ReferenceNetwork interprets those)."""
    with pytest.raises(ValueError, match="kheradpisheh2018.*ReferenceNetwork runs any spec"):
        ReferenceMozafari2018(get_spec("kheradpisheh2018"))
    with pytest.raises(TypeError, match="NetworkSpec"):
        ReferenceMozafari2018("mozafari2018")


def test_doubling_rates_follow_the_closed_form():
    net = ReferenceNetwork(get_spec("mozafari2018"))
    moz = ReferenceMozafari2018(mozafari2018())
    for i in range(3600):
        assert net._next_rates("S1") == moz.stdp_rates(i), f"sample {i}"
    assert net.rates("S1") == moz.stdp_rates(3599)
    assert net.rates("S1")[0] == moz.A_PLUS_MAX
    assert net.rates("S2") == (ref.f32(0.004), ref.f32(-0.003))


def test_clean_mode_clamps_initial_weights_once():
    spec = get_spec("mozafari2018")
    clean = ReferenceNetwork(spec, compat=False, seed=0)
    compat = ReferenceNetwork(spec, compat=True, seed=0)
    assert bool((compat.weights["S3"] > 0.8).any())  # about half start above ub
    for conv in spec.convs:
        lb, ub = conv.rule.lb, conv.rule.ub
        assert torch.equal(clean.weights[conv.name], compat.weights[conv.name].clamp(lb, ub))


# ----------------------------------------------------------------------------- Kheradpisheh
def test_kheradpisheh_stage_shapes_and_features(mnist):
    train, _ = mnist
    spec = get_spec("kheradpisheh2018")
    net = ReferenceNetwork(spec)
    wave = net.encode(train.images[0])
    assert wave.dtype == torch.float32 and wave.shape == (15, 2, 28, 28)
    assert torch.equal(ref.wave_to_times(wave), ref.encode_image(train.images[0], KHERADPISHEH_DOG, 3))
    expect = [(2, 32, 32), (32, 28, 28), (32, 15, 15), (32, 17, 17), (32, 17, 17), (150, 16, 16), (150, 9, 9)]
    assert spec.shapes() == [(2, 28, 28)] + expect
    for training in (False, True):
        stages = net.stages(wave, training=training)
        assert [tuple(s.shape[1:]) for s in stages] == expect
        assert all(s.shape[0] == 15 and s.dtype == torch.float32 for s in stages)
    assert net.layer_input("S1", wave).shape == (15, 2, 32, 32)
    assert net.layer_input("S2", wave).shape == (15, 32, 17, 17)

    features = net.features(wave)
    assert features.dtype == torch.float32 and features.shape == (12150,)
    assert set(features.unique().tolist()) <= {0.0, 1.0} and features.sum() > 0
    assert torch.equal(features, net.forward(wave)[-1].flatten())
    with pytest.raises(ValueError, match="not a decision network"):
        net.decide(wave)


def test_kheradpisheh_inhibition_only_in_training(mnist):
    """S2 sees one spiking feature per position while it trains (the lowest index among the
    earliest), and the uninhibited map in eval mode."""
    train, _ = mnist
    net = ReferenceNetwork(get_spec("kheradpisheh2018"))
    T = net.T
    differs = 0
    for i in range(5):
        wave = net.encode(train.images[i])
        s_eval = net.layer_input("S2", wave, training=False)
        s_train = net.layer_input("S2", wave, training=True)
        assert int(s_train[-1].sum(0).max()) <= 1, f"sample {i}"
        # expected: per position, the lowest feature index among the earliest firing keeps its spikes
        tau = ref.wave_to_times(s_eval).long()  # [32, 17, 17]
        t_min = tau.min(0).values
        features = torch.arange(tau.shape[0]).reshape(-1, 1, 1)
        first = torch.where(tau == t_min, features, tau.shape[0]).min(0).values
        keep = (features == first) & (t_min < T)
        assert torch.equal(s_train, s_eval * keep), f"sample {i}"
        if int(s_eval[-1].sum(0).max()) > 1:
            differs += 1
            assert not torch.equal(s_train, s_eval)
        # eval mode and the features see no inhibition
        assert torch.equal(net.forward(wave)[-1].flatten(), net.features(wave))
        assert torch.equal(net.stages(wave)[-1], net.forward(wave, training=False))
    assert differs > 0  # on real data the inhibition matters


@COMPAT
def test_kheradpisheh_stdp_changes_only_the_winners(mnist, compat):
    train, _ = mnist
    spec = get_spec("kheradpisheh2018")
    net = ReferenceNetwork(spec, compat=compat)
    rates = {"S1": net.rates("S1"), "S2": net.rates("S2")}
    for name in ("S1", "S2"):
        rule = net.conv(name).rule
        n_winners = 0
        for i in range(4):
            wave = net.encode(train.images[i])
            before = {k: w.clone() for k, w in net.weights.items()}
            winners = net.stdp_step(name, wave)
            n_winners += len(winners)
            won = sorted({f for f, _, _ in winners})
            assert len(won) == len(winners), "k-WTA gives each winner its own feature"
            w, w0 = net.weights[name], before[name]
            lost = [f for f in range(w.shape[0]) if f not in won]
            untouched = w0.clamp(rule.lb, rule.ub) if compat else w0
            assert torch.equal(w[lost], untouched[lost]), f"{name} sample {i}"
            for f in won:
                assert not torch.equal(w[f], w0[f]), f"{name} sample {i} feature {f}"
            assert float(w.min()) >= rule.lb and float(w.max()) <= rule.ub
            for other in net.weights:
                if other != name:
                    assert torch.equal(net.weights[other], before[other])
        assert n_winners > 0
        assert net.rates(name) == rates[name]  # 4 samples: no doubling yet (S1), fixed (S2)
        assert net.samples_seen(name) == 4


# ----------------------------------------------------------------------------- compiled network
@COMPAT
def test_kheradpisheh_batch_one_equals_reference(mnist, compat):
    """The compiled network trained one sample at a time equals the reference bit for bit."""
    from fastspike.network import Network
    from fastspike.training import learner, train_epoch

    train, _ = mnist
    n = 12
    spec = get_spec("kheradpisheh2018")
    images = train.images[:n]
    net = Network(spec, compat=compat, seed=0)
    rnet = ReferenceNetwork(spec, compat=compat, seed=0)

    times = net.encoder(images)
    waves = [rnet.encode(images[i]) for i in range(n)]
    assert times.dtype == torch.uint8 and times.shape == (n, 2, 28, 28)
    for i in range(n):
        assert torch.equal(times[i].cpu(), ref.wave_to_times(waves[i])), f"encoding, sample {i}"
    for name in ("S1", "S2"):
        assert torch.equal(net.conv(name).weight.detach().cpu(), rnet.weights[name]), f"initial {name}"

    for name in ("S1", "S2"):
        x = net.layer_input(name, times, training=True)
        for i in range(n):
            expect = ref.wave_to_times(rnet.layer_input(name, waves[i], training=True))
            assert torch.equal(x[i].cpu(), expect), f"{name} input, sample {i}"
        state = learner(net, name)
        n_winners = 0
        for i in range(n):
            n_winners += len(rnet.stdp_step(name, waves[i]))
            train_epoch(net, name, x[i : i + 1], state, batch_size=1)
            for other in ("S1", "S2"):
                got = net.conv(other).weight.detach().cpu()
                assert torch.equal(got, rnet.weights[other]), f"training {name}, sample {i}: {other} differs"
        assert n_winners > 0, name

    features = net.features(times)
    assert features.shape == (n, 12150)
    expect = torch.stack([rnet.features(w) for w in waves]).to(torch.uint8)
    assert torch.equal(features.cpu().to(torch.uint8), expect)


# ----------------------------------------------------------------------------- operators
# The reference's operators are written as whole-tensor computations; these pin them to the plain
# step-by-step definitions of docs/reference/semantics.md (winner after winner, synapse after synapse).
def _tied_thresholded(F, H, W, T, gen):
    """[T, F, H, W] thresholded potentials with few distinct times and values (ties everywhere)."""
    times = torch.randint(0, T + 1, (F, H, W), generator=gen)
    values = torch.randint(1, 4, (F, H, W), generator=gen).float() * 0.5 + 10
    steps = torch.arange(T).view(T, 1, 1, 1)
    return torch.where((steps >= times) & (times < T), values, torch.zeros(()))


def _sequential_k_winners(thresholded, k, radius, compat):
    """docs/reference/semantics.md#kwta step by step: k times the best live candidate, then inhibit."""
    T, nf, H, W = thresholded.shape
    spikes = thresholded.sign()
    tau = T - spikes.sum(0).long()
    V = thresholded.gather(0, tau.clamp(max=T - 1)[None])[0]
    if compat:
        v = (spikes * V).max() * T
        per_step = spikes * V + spikes * v
        score = torch.zeros_like(V)
        for t in range(T):
            score = score + per_step[t]
    alive = tau < T
    winners = []
    for _ in range(k):
        if compat:
            live = torch.where(alive, score, 0.0)
            if float(live.max()) == 0:
                break
            q = int((live.flatten() == live.max()).nonzero()[0])
        else:
            if not bool(alive.any()):
                break
            best = min(
                (int(tau.flatten()[q]), -float(V.flatten()[q]), q)
                for q in alive.flatten().nonzero()[:, 0].tolist()
            )
            q = best[2]
        f, y, x = q // (H * W), q // W % H, q % W
        winners.append((f, y, x))
        alive[f] = False
        if radius > 0:
            alive[:, max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = False
    return winners


@COMPAT
def test_k_winners_equal_the_sequential_definition(compat):
    g = torch.Generator().manual_seed(3)
    for trial in range(40):
        thr = _tied_thresholded(5, 6, 7, 15, g)
        if trial % 2:
            thr = ref.pointwise_inhibition(thr)
        for k, radius in ((1, 0), (3, 1), (8, 2), (40, 0)):
            expect = _sequential_k_winners(thr, k, radius, compat)
            assert ref.get_k_winners(thr, k, radius, compat) == expect, f"trial {trial}, k={k}, r={radius}"
            assert ref.get_k_winners(thr, k, radius, compat, thr.sign()) == expect
    assert ref.get_k_winners(torch.zeros(15, 3, 4, 4), 5, 1, compat) == []


@pytest.mark.parametrize("stabilize,lb,ub,clamp_all", [(True, 0.0, 1.0, False), (False, 0.2, 0.8, True)])
def test_stdp_equals_the_per_winner_definition(stabilize, lb, ub, clamp_all):
    """All winners at once equal one winner after another, deltas taken from the weights before the
    call; a feature listed twice gets its last winner's delta."""
    g = torch.Generator().manual_seed(5)
    T, F, C, K, H, W = 15, 6, 3, 3, 5, 6
    for trial in range(20):
        wave_in = ref.times_to_wave(torch.randint(0, T + 1, (C, H + K - 1, W + K - 1), generator=g), T)
        wave_out = ref.times_to_wave(torch.randint(0, T + 1, (F, H, W), generator=g), T)
        winners = [
            (
                int(torch.randint(0, F, (1,), generator=g)),
                int(torch.randint(0, H, (1,), generator=g)),
                int(torch.randint(0, W, (1,), generator=g)),
            )
            for _ in range(trial % 5)
        ]
        weight = 0.8 + 0.1 * torch.randn(F, C, K, K, generator=g)
        lr = torch.rand(F, 2, generator=g) * torch.tensor([0.1, -0.1])
        expect = weight.clone()
        pre, post = wave_in.sum(0), wave_out.sum(0)
        delta = {}
        for f, y, x in winners:
            rate = torch.where(pre[:, y : y + K, x : x + K] >= post[f, y, x], lr[f, 0], lr[f, 1])
            delta[f] = rate * ((weight[f] - lb) * (ub - weight[f])) if stabilize else rate
        for f, d in delta.items():
            expect[f] = expect[f] + d
            if not clamp_all:
                expect[f] = expect[f].clamp(lb, ub)
        if clamp_all:
            expect.clamp_(lb, ub)
        got = weight.clone()
        ref.stdp(got, wave_in, wave_out, winners, lr, stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all)
        assert torch.equal(got, expect), f"trial {trial}: {winners}"


def test_fire_pool_and_normalisation_equal_their_plain_forms(mnist):
    g = torch.Generator().manual_seed(7)
    p = torch.randint(0, 3, (15, 4, 6, 6), generator=g).float().cumsum(0)
    for threshold in (0.0, 4.0, 9.5):
        spikes, thr = ref.fire(p, threshold)
        assert torch.equal(thr, torch.where(p > threshold, p, torch.zeros(())))
        assert torch.equal(spikes, (thr > 0).float())
    with pytest.raises(ValueError, match="threshold"):
        ref.fire(p, -1.0)
    wave = ref.times_to_wave(torch.randint(0, 16, (5, 13, 14), generator=g), 15)
    for kernel, stride, padding in ((2, 2, 0), (3, 3, 0), (2, 2, 1)):
        pooled = ref.pool(wave, kernel, stride, padding)
        assert torch.equal(pooled, torch.nn.functional.max_pool2d(wave, kernel, stride, padding))
        assert pooled.is_contiguous()
    # local normalisation: the separable box sum equals the 17x17 box convolution on DoG responses
    train, _ = mnist
    bank = ref.dog_bank(MOZAFARI_DOG)
    box = torch.ones(1, 1, 17, 17, dtype=torch.float64)
    for i in range(20):
        x = ref.filter_image(train.images[i], bank, 6)
        mean = torch.nn.functional.conv2d(x.double()[:, None], box, padding=8)[:, 0] / 289 + 1e-12
        assert torch.equal(ref.local_normalization(x), (x.double() / mean).float()), f"image {i}"


def test_cached_lower_layers_train_the_same(mnist):
    """stdp2 / rstdp on a cached S2 / S3 input (frozen lower layers run once, as trainers and
    the bench run them) equal the recomputing calls."""
    train, _ = mnist
    times = Encoder()(train.images[:40])
    waves = [ref.times_to_wave(t, 15) for t in times]
    a, b = ReferenceMozafari2018(mozafari2018(), seed=0), ReferenceMozafari2018(mozafari2018(), seed=0)
    for w in waves:
        assert a.stdp2(w) == b.stdp2(w, b.s2_input(w))
    assert torch.equal(a.w2, b.w2) and not torch.equal(a.w2, ReferenceMozafari2018(mozafari2018(), seed=0).w2)
    decisions = [a.rstdp(w, int(y)) for w, y in zip(waves, train.labels[:40], strict=True)]
    cached = [b.rstdp(w, int(y), b.s3_input(w)) for w, y in zip(waves, train.labels[:40], strict=True)]
    assert decisions == cached and torch.equal(a.w3, b.w3)
