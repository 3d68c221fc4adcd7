"""The Mozafari 2018 model layer: batch_size=1 equals the reference network, training
learns on real MNIST, checkpoints resume exactly, bad input is rejected clearly."""

import os

import pytest
import torch

from fastspike import reference as ref
from fastspike.api import load_model, train_mnist
from fastspike.encoding import Encoder
from fastspike.models import Mozafari2018
from fastspike.registry import mozafari2018
from fastspike.rules import RSTDPState, stdp_rates
from fastspike.training import learner, train_epoch


def test_public_api():
    import fastspike

    assert fastspike.train_mnist is train_mnist and fastspike.load_model is load_model
    assert fastspike.Mozafari2018 is Mozafari2018


def test_stdp_schedule_closed_form_matches_reference():
    i = torch.arange(4000)
    r = stdp_rates(i)
    moz = ref.ReferenceMozafari2018(mozafari2018())
    for n in list(range(0, 4000, 37)) + [498, 499, 500, 998, 999, 2998, 2999, 3000]:
        a_plus, a_minus = float(r[n, 0]), float(r[n, 1])
        ra_plus, ra_minus = moz.stdp_rates(n)
        assert a_plus == ra_plus
        if n >= 499:
            assert a_minus == ra_minus
    assert float(r[0, 1]) == float(torch.tensor(-0.003))
    assert float(r[3999, 0]) == float(torch.tensor(0.15))


def test_rstdp_adaptive_rates():
    st = RSTDPState()
    st.chunk_hits, st.chunk_misses, st.chunk_seen = 700, 200, 1000
    st.end_chunk(1000)
    f32 = lambda v: float(torch.tensor(v, dtype=torch.float32))  # noqa: E731
    assert st.reward == (f32(f32(0.004) * 0.2), f32(f32(-0.003) * 0.2))
    assert st.punish == (f32(f32(-0.004) * 0.7), f32(f32(0.0005) * 0.7))
    assert st.chunk_seen == st.chunk_hits == st.chunk_misses == 0


@pytest.mark.parametrize("compat", [False, True])
def test_batch_size_one_equals_reference_network(mnist, compat):
    """Same winners and weight updates as the pure-torch reference, sample by sample."""
    train, _ = mnist
    n = 12
    images, labels = train.images[:n], train.labels[:n]
    times = Encoder()(images)
    rnet = ref.ReferenceMozafari2018(mozafari2018(), compat=compat, seed=0)
    model = Mozafari2018(compat=compat, seed=0)
    for w, conv in zip(rnet.weights, model.spiking_layers, strict=False):
        assert torch.equal(conv.weight, w)  # same initial draws
    waves = [ref.times_to_wave(times[i], 15) for i in range(n)]
    # S1, then S2: one sample at a time through the public training step, checking winners and weights
    for layer, conv, ref_step, ref_w in (
        (1, model.conv1, rnet.stdp1, lambda: rnet.w1),
        (2, model.conv2, rnet.stdp2, lambda: rnet.w2),
    ):
        x = model.layer_input(layer, times, training=True)
        state = learner(model, layer)
        for i in range(n):
            expect = ref_step(waves[i])
            t, v = conv(x[i : i + 1], 15)
            got = [tuple(r) for r in conv.winners(t, v, 15)[0].tolist() if r[0] >= 0]
            assert got == expect, f"S{layer} winners, sample {i}"
            train_epoch(model, layer, x[i : i + 1], state, batch_size=1)
            torch.testing.assert_close(conv.weight, ref_w(), rtol=0, atol=0)
        assert state.samples == n
    # S3: R-STDP decisions and updates
    x3 = model.layer_input(3, times, training=True)
    state = learner(model, "S3")
    for i in range(n):
        expect = rnet.rstdp(waves[i], int(labels[i]))
        got = int(model.decide(x3[i : i + 1])[0])
        assert got == expect, f"S3 decision, sample {i}"
        train_epoch(model, "S3", x3[i : i + 1], state, labels=labels[i : i + 1], batch_size=1)
        torch.testing.assert_close(model.conv3.weight, rnet.w3, rtol=0, atol=0)


def test_batched_forward_equals_per_sample(mnist):
    train, _ = mnist
    times = Encoder()(train.images[:20])
    model = Mozafari2018(seed=1)
    batched = model(times)
    single = torch.cat([model(times[i : i + 1]) for i in range(20)])
    assert torch.equal(batched, single)
    assert batched.dtype == torch.int64 and bool(((batched >= -1) & (batched < 10)).all())


@pytest.mark.parametrize("trained", [False, True])
def test_cropped_feature_maps_equal_full_computation(mnist, trained):
    """layer_input(3) runs S1 and S2 only where C2 (floor mode) keeps their
    outputs; the S3 input must equal the one computed from the full maps."""
    import fastspike
    from fastspike.layers import pad_times

    m = Mozafari2018(seed=0)
    if trained:  # sparser, selective features: train S1 and S2 briefly
        times_tr = Encoder()(mnist[0].images[:256])
        train_epoch(m, 1, m.layer_input(1, times_tr), learner(m, 1), batch_size=32)
        train_epoch(m, 2, m.layer_input(2, times_tr), learner(m, 2), batch_size=32)
    times = Encoder()(mnist[1].images[:32])
    T = m.T
    x1 = pad_times(times, 2, T)
    t1 = fastspike.conv_fire(x1, m.conv1.weight, T, 15.0)[0]
    x2 = pad_times(fastspike.pool_times(t1, 2, 2, 0, T), 1, T)
    assert torch.equal(m.layer_input(2, times), x2)
    t2 = fastspike.conv_fire(x2, m.conv2.weight, T, 10.0)[0]
    x3 = pad_times(fastspike.pool_times(t2, 3, 3, 0, T), 2, T)
    assert x3.shape == (32, 250, 8, 8)
    assert torch.equal(m.layer_input(3, times), x3)
    assert torch.equal(m.next_input(2, x2), x3)
    assert bool((x3 < T).any())


@pytest.mark.slow
def test_short_training_learns(mnist_root):
    model, history = train_mnist(
        mnist_root,
        samples=(6000, 6000, 3000),
        epochs=(1, 1, 2),
        test_samples=1000,
        validation=1000,
        batch_size=64,
        progress=False,
        download=False,
    )
    assert len(history) == 2
    # chance is 0.1; this seeded run reaches 0.515 on the test images (0.559 on the validation split)
    assert model.test_metrics["accuracy"] > 0.48, history
    assert history[-1]["val"]["correct"] > 0.52, history
    h = history[-1]["val"]
    assert abs(h["correct"] + h["wrong"] + h["silent"] - 1) < 1e-9


def test_checkpoint_resume_equals_uninterrupted(mnist_root, tmp_path):
    kw = dict(
        samples=(600, 600, 800),
        epochs=(1, 1, 3),
        test_samples=300,
        validation=300,
        batch_size=50,
        progress=False,
        download=False,
    )
    full, hist_full = train_mnist(mnist_root, checkpoint_dir=str(tmp_path / "a"), **kw)
    # stop after S1's, S2's and the first S3 epoch, as if interrupted
    part, hist_part = train_mnist(mnist_root, checkpoint_dir=str(tmp_path / "b"), stop_after_epochs=3, **kw)
    assert len(hist_part) == 1 and not os.path.exists(tmp_path / "b" / "best.pt")
    resumed, hist_res = train_mnist(mnist_root, checkpoint_dir=str(tmp_path / "b"), resume=True, **kw)
    for a, b in zip(full.spiking_layers, resumed.spiking_layers, strict=False):
        assert torch.equal(a.weight, b.weight)
    assert [h["val"] for h in hist_res] == [h["val"] for h in hist_full]
    assert resumed.test_metrics == full.test_metrics
    loaded = load_model(str(tmp_path / "b" / "best.pt"))
    assert torch.equal(loaded.conv3.weight, full.conv3.weight)


def test_bad_input_errors(mnist_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="not in"):
        train_mnist(str(tmp_path / "nowhere"), download=False, progress=False)
    with pytest.raises(ValueError, match="preset: expected one of"):
        train_mnist(mnist_root, preset="fast", progress=False)
    with pytest.raises(ValueError, match=r"phases\[2\]\.epochs: expected an integer >= 1, got 0"):
        train_mnist(mnist_root, epochs=(1, 1, 0), progress=False)
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        train_mnist(mnist_root, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="dataset: expected one of"):
        train_mnist(mnist_root, dataset="cifar", progress=False)
    bad = tmp_path / "other.pt"
    torch.save({"config": {"architecture": "kheradpisheh2018"}, "model": {}}, bad)
    with pytest.raises(ValueError, match="architecture 'kheradpisheh2018' is not 'mozafari2018'"):
        load_model(str(bad))  # a version-1 file (they only held Mozafari 2018)
    with pytest.raises(FileNotFoundError, match="checkpoint: no file"):
        load_model(str(tmp_path / "missing.pt"))


@pytest.mark.slow
def test_batch_size_one_from_subnormal_weights_through_train_mnist(mnist_root, mnist, tmp_path):
    """The public train_mnist at batch_size=1, resumed from weights that look trained (a fifth
    of S1's and S2's weights subnormal, as thousands of stabilised updates leave them), through
    the rate doubling at sample 499, equals the reference sample by sample. fastspike's kernels
    flush subnormal floats to zero (docs/reference/semantics.md#subnormals), so the reference runs with
    torch.set_flush_denormal(True) on one thread: the same arithmetic, bit for bit."""
    from fastspike.training import checkpoint

    kw = dict(samples=(300, 200, 200), epochs=(2, 1, 1), batch_size=1, validation=0)
    kw.update(test_samples=50, progress=False, download=False)
    run = str(tmp_path / "run")
    train_mnist(mnist_root, checkpoint_dir=run, stop_after_epochs=1, **kw)  # S1's first epoch
    path = os.path.join(run, "last.pt")
    ck = checkpoint.load(path)
    after_epoch1 = ck["model"]["conv1.weight"].clone()
    g = torch.Generator().manual_seed(5)
    tiny = torch.finfo(torch.float32).tiny
    for name in ("conv1.weight", "conv2.weight"):
        w = ck["model"][name]
        sub = torch.rand(w.shape, generator=g) < 0.2
        w[sub] = (torch.rand(w.shape, generator=g) * tiny).clamp(min=1.5e-45)[sub]
        assert int(((w != 0) & (w.abs() < tiny)).sum()) > 0.15 * w.numel()
    injected = {k: v.clone() for k, v in ck["model"].items()}
    del ck["checksum"]
    checkpoint.save(path, ck)
    model, _ = train_mnist(mnist_root, checkpoint_dir=run, resume=True, **kw)

    train_set = mnist[0]
    waves = [ref.times_to_wave(t, 15) for t in Encoder()(train_set.images[:300])]
    threads, flush = torch.get_num_threads(), torch.set_flush_denormal(True)
    assert flush, "this CPU cannot flush subnormals (no SSE3)"
    torch.set_num_threads(1)
    try:
        rnet = ref.ReferenceMozafari2018(mozafari2018(), seed=0)
        for wave in waves:
            rnet.stdp1(wave)
        assert torch.equal(rnet.w1, after_epoch1)
        rnet.w1.copy_(injected["conv1.weight"])
        rnet.w2.copy_(injected["conv2.weight"])
        for wave in waves:  # S1's second epoch (samples 300-599: the rate doubles at 499)
            rnet.stdp1(wave)
        for wave in waves[:200]:
            rnet.stdp2(wave)
        for i, wave in enumerate(waves[:200]):
            rnet.rstdp(wave, int(train_set.labels[i]))
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    assert rnet._samples[0] == 600 and rnet._rates[0][0] > rnet.A_PLUS
    for got, want in zip(
        (model.conv1.weight, model.conv2.weight, model.conv3.weight), rnet.weights, strict=True
    ):
        assert torch.equal(got, want)
    assert not bool(((model.conv1.weight != 0) & (model.conv1.weight.abs() < tiny)).any())
