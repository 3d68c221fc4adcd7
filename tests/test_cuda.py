"""CUDA kernels vs CPU kernels on the same inputs (bit-exact where the spec pins it).

Skipped when no GPU is visible or fastspike was built without CUDA."""

import functools

import pytest
import torch
from conftest import dyadic_weights, random_times

import fastspike

pytestmark = pytest.mark.cuda
T = 15


def both(fn, *args, **kw):
    cpu = fn(*args, **kw)
    gpu = fn(*[a.cuda() if isinstance(a, torch.Tensor) else a for a in args], **kw)
    return cpu, gpu


def assert_same(cpu, gpu):
    if isinstance(cpu, (tuple, list)):
        for a, b in zip(cpu, gpu, strict=False):
            assert_same(a, b)
    elif cpu is None:
        assert gpu is None
    else:
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)


@pytest.mark.parametrize("threshold", [0.0, 3.0, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_fire_and_first_spike(threshold, dtype):
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 3, (3, T, 4, 9, 7), generator=g).float().cumsum(1).to(dtype)
    assert_same(*both(fastspike.fire, p, threshold, True))
    assert_same(*both(fastspike.first_spike, p, threshold))
    s = (p.float() > 2).to(torch.uint8)
    for compat in (False, True):
        assert_same(*both(fastspike.first_spike_from_wave, s, p, compat))
    times = random_times((3, 4, 5), T, g)
    assert_same(*both(fastspike.spike_wave, times, T))


@pytest.mark.parametrize(
    "B,C,H,W,F,K,T_,threshold,dtype",
    [
        (4, 6, 32, 32, 30, 5, 15, 15.0, torch.uint8),
        (3, 30, 16, 16, 250, 3, 15, 10.0, torch.uint8),
        (2, 250, 8, 8, 200, 5, 15, None, torch.uint8),
        (1, 3, 11, 9, 5, 2, 300, 4.0, torch.int16),
        (0, 3, 8, 8, 4, 3, 15, 1.0, torch.uint8),
    ],
)
def test_conv_fire_bitwise(B, C, H, W, F, K, T_, threshold, dtype):
    g = torch.Generator().manual_seed(B + C)
    tin = random_times((B, C, H, W), T_, g, p_never=0.7, dtype=dtype)
    for w in (
        dyadic_weights((F, C, K, K), g),
        (0.8 + 0.05 * torch.randn(F, C, K, K, generator=g)).clamp(0, 1),
    ):
        assert_same(*both(fastspike.conv_fire, tin, w, T_, threshold, return_potentials=B < 4))


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize(
    "k,radius,pointwise", [(5, 3, True), (8, 1, True), (1, 0, False), (50, 0, False), (3, 2, False)]
)
def test_inhibition_and_kwta(k, radius, compat, pointwise):
    g = torch.Generator().manual_seed(k)
    times = random_times((7, 30, 14, 13), T, g, p_never=0.6)
    values = torch.where(
        times < T, torch.randint(1, 4, times.shape, generator=g).float() + 10, torch.zeros(())
    )
    if pointwise:
        (times, values), gpu = both(fastspike.pointwise_inhibition, times, values, T)
        assert_same((times, values), gpu)
    assert_same(*both(fastspike.kwta, times, values, T, k, radius, compat))


@pytest.mark.parametrize("clamp_all", [False, True])
@pytest.mark.parametrize("per_feature", [False, True])
def test_stdp_update_bitwise(clamp_all, per_feature):
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


def test_cuda_validation_errors():
    w = torch.rand(4, 3, 3, 3, device="cuda")
    tin = torch.zeros(2, 3, 6, 6, dtype=torch.uint8, device="cuda")
    tout = torch.zeros(2, 4, 4, 4, dtype=torch.uint8, device="cuda")
    bad = torch.tensor([[[7, 0, 0]], [[0, 0, 0]]], dtype=torch.int32, device="cuda")
    with pytest.raises(ValueError, match="out of range"):
        fastspike.stdp_update(w, tin, tout, bad, torch.ones(2, 2, device="cuda"), T)
    with pytest.raises(ValueError, match="non-negative"):
        fastspike.conv_fire(tin, -w, T, 1.0)
    for bad_value in (float("nan"), float("inf")):
        wb = w.clone()
        wb[1, 2, 0, 1] = bad_value
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.conv_fire(tin, wb, T, 1.0)
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.conv_fire(tin, wb, T, None)
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.final_potential(tin, wb, T)
    with pytest.raises(RuntimeError, match="same device"):
        fastspike.conv_fire(tin, w.cpu(), T, 1.0)


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


@pytest.mark.parametrize(
    "B,T_,dtype,threshold",
    [
        (1, 200, torch.uint8, 6.0),  # T > 128: several histogram windows
        (3, 255, torch.uint8, None),
        (2, 300, torch.int16, 4.0),  # T > 255
        (1, 1000, torch.int16, None),
        (300, 15, torch.uint8, 5.0),  # a large batch
    ],
)
def test_conv_fire_long_windows_and_batches(B, T_, dtype, threshold):
    g = torch.Generator().manual_seed(B + T_)
    tin = random_times((B, 4, 9, 8), T_, g, p_never=0.5, dtype=dtype)
    for w in (dyadic_weights((6, 4, 3, 3), g), torch.rand(6, 4, 3, 3, generator=g)):
        for pot in (False, True) if B < 10 else (False,):
            assert_same(*both(fastspike.conv_fire, tin, w, T_, threshold, return_potentials=pot))
        t_cpu, _, _ = fastspike.conv_fire(tin, w, T_, threshold, return_values=False)
        t_gpu, v_gpu, _ = fastspike.conv_fire(tin.cuda(), w.cuda(), T_, threshold, return_values=False)
        assert v_gpu is None and torch.equal(t_gpu.cpu(), t_cpu)


def test_non_contiguous_inputs():
    g = torch.Generator().manual_seed(5)
    tin = random_times((3, 4, 12, 10), T, g).transpose(2, 3)  # [3, 4, 10, 12], not contiguous
    w = torch.rand(6, 3, 4, 3, generator=g).permute(0, 2, 1, 3)  # [6, 4, 3, 3], not contiguous
    assert not tin.is_contiguous() and not w.is_contiguous()
    assert_same(*both(fastspike.conv_fire, tin, w, T, 2.0))
    assert_same(*both(fastspike.final_potential, tin, w, T))
    times, values, _ = fastspike.conv_fire(tin.contiguous(), w.contiguous(), T, 2.0)
    tt, vt = times.transpose(2, 3), values.transpose(2, 3)
    assert_same(*both(fastspike.pointwise_inhibition, tt, vt, T))
    assert_same(*both(fastspike.kwta, tt, vt, T, 4, 1))
    assert_same(*both(fastspike.pool_times, tt, 2, 2, 0, T))


@pytest.mark.parametrize("B", [1, 64])
def test_decision_potential_is_one_definition(B):
    """The decision layer's P[T-1]: CUDA (float64 convolution) equals the CPU (event-driven
    or dense float64) bit for bit, for sparse and dense samples alike."""
    from fastspike.layers import SpikingConv

    g = torch.Generator().manual_seed(B)
    conv = SpikingConv(250, 200, 5, None, k=1, lb=0.2, ub=0.8, stabilize=False)
    conv.weight.copy_(0.2 + 0.6 * torch.rand(200, 250, 5, 5, generator=g))
    p_never = torch.linspace(0.02, 0.98, B) if B > 1 else torch.tensor([0.5])
    x = torch.stack([random_times((250, 9, 9), T, g, p_never=float(p)) for p in p_never])
    x[..., :2, :] = T  # a border of never, as the network pads it
    x[..., -2:, :] = T
    x[..., :, :2] = T
    x[..., :, -2:] = T
    cpu = conv(x, T, border=2)
    conv_gpu = SpikingConv(250, 200, 5, None, k=1, lb=0.2, ub=0.8, stabilize=False).cuda()
    conv_gpu.weight.copy_(conv.weight)
    assert_same(cpu, conv_gpu(x.cuda(), T, border=2))


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
