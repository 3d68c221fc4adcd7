"""Models and training on CUDA vs the CPU on the same inputs (bit-exact where the spec pins
it); each operator's CUDA tests are in tests/ops/test_<stem>.py.

Skipped when no GPU is visible or fastspike was built without CUDA."""

import functools

import pytest
import torch

pytestmark = pytest.mark.cuda


def test_model_cuda_matches_cpu(mnist):
    from fastspike.encoding import Encoder
    from fastspike.models import Mozafari2018

    train, _ = mnist
    images = train.images[:256]
    enc_cpu = Encoder()(images)
    enc_gpu = Encoder()(images.cuda())
    assert torch.equal(enc_gpu.cpu(), enc_cpu)
    m = Mozafari2018(seed=0)
    x2_cpu = m.layer_input(2, enc_cpu)
    x2_gpu = m.to("cuda").layer_input(2, enc_gpu)
    assert torch.equal(x2_gpu.cpu(), x2_cpu)
    x3_cpu = m.cpu().layer_input(3, enc_cpu)
    classes_cpu = m(enc_cpu)
    m.cuda()
    assert torch.equal(m.layer_input(3, enc_gpu).cpu(), x3_cpu)
    assert torch.equal(m(enc_gpu).cpu(), classes_cpu)  # through the decision layer


def _trained_pair(mnist, n=512):
    """A Mozafari 2018 network with S1 and S2 trained briefly on CPU, and its copy on CUDA."""
    import copy

    from fastspike.models import Mozafari2018
    from fastspike.training import learner, train_epoch

    train, _ = mnist
    m = Mozafari2018(seed=0)
    x = m.encoder(train.images[:n])
    for layer in (1, 2):
        train_epoch(m, layer, m.layer_input(layer, x, training=True), learner(m, layer), batch_size=64)
    return m, copy.deepcopy(m).cuda(), x


@pytest.mark.parametrize("batch_size", [1, 32])
def test_training_on_cuda_matches_cpu(mnist, batch_size):
    """S1 / S2 STDP and S3 R-STDP epochs on CUDA give the CPU's weights, decisions and
    rule states bit for bit (the decision layer included)."""
    from fastspike.training import learner, train_epoch

    train, _ = mnist
    n = 40 if batch_size == 1 else 1200  # 1200 > the R-STDP chunk of 1000: the rates adapt once
    m_cpu, m_gpu, _ = _trained_pair(mnist)
    x = m_cpu.encoder(train.images[:n])
    for layer in (1, 2):
        xc = m_cpu.layer_input(layer, x, training=True)
        xg = m_gpu.layer_input(layer, x.cuda(), training=True)
        assert torch.equal(xg.cpu(), xc)
        sc, sg = learner(m_cpu, layer), learner(m_gpu, layer)
        train_epoch(m_cpu, layer, xc[:200], sc, batch_size=batch_size)
        train_epoch(m_gpu, layer, xg[:200], sg, batch_size=batch_size)
        assert torch.equal(m_gpu.conv(layer).weight.cpu(), m_cpu.conv(layer).weight) and sc == sg
    x3c = m_cpu.layer_input(3, x, training=True)
    x3g = m_gpu.layer_input(3, x.cuda(), training=True)
    assert torch.equal(x3g.cpu(), x3c)
    for a, b in zip(m_cpu.decide(x3c), m_gpu.decide(x3g), strict=True):
        assert torch.equal(b.cpu(), a)
    labels = train.labels[:n]
    sc, sg = learner(m_cpu, 3), learner(m_gpu, 3)
    rc = train_epoch(m_cpu, 3, x3c, sc, labels=labels, batch_size=batch_size)
    rg = train_epoch(m_gpu, 3, x3g, sg, labels=labels, batch_size=batch_size)
    assert rc == rg and sc == sg
    assert torch.equal(m_gpu.conv3.weight.cpu(), m_cpu.conv3.weight)
    assert torch.equal(m_gpu(x.cuda()).cpu(), m_cpu(x))


def _sync_sites(fn) -> list[str]:
    """Where ``fn`` synchronises the host with the GPU: one ``file:line`` (the Python
    caller) per synchronisation that torch's sync debug mode reports."""
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [
        f"{w.filename.rsplit('/', 1)[-1]}:{w.lineno}"
        for w in caught
        if "synchronizing CUDA operation" in str(w.message)
    ]


def test_training_step_host_sync_budget(mnist):
    """Training on a GPU synchronises with the host a fixed number of times per epoch
    (and once per R-STDP chunk), never per batch."""
    from fastspike.training import learner, train_epoch

    train, _ = mnist
    _, m, _ = _trained_pair(mnist, n=256)
    x = m.encoder(train.images[:512].cuda())
    labels = train.labels[:512].cuda()
    sites = {}
    for layer in (1, 2, 3):
        xl = m.layer_input(layer, x, training=True)
        for n in (128, 512):  # 4 and 16 batches of 32, inside one R-STDP chunk
            kw = {"labels": labels[:n]} if layer == 3 else {}
            # once uncounted first: the first call of a process (or of a shape) may make
            # one-time allocations, kernel loads and attribute queries
            epoch = functools.partial(train_epoch, m, layer, xl[:n], batch_size=32, **kw)
            _sync_sites(lambda: epoch(learner(m, layer)))  # noqa: B023 (called at once)
            sites[layer, n] = _sync_sites(lambda: epoch(learner(m, layer)))  # noqa: B023
    for layer in (1, 2, 3):
        # nothing per batch: 4 batches synchronise as often as 16, at the same places
        assert sorted(sites[layer, 128]) == sorted(sites[layer, 512]), sites
        assert len(sites[layer, 512]) <= (1 if layer < 3 else 6), sites
