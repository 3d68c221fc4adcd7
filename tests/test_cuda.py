"""CUDA kernels vs CPU kernels on the same inputs (bit-exact where the spec pins it).

Skipped when no GPU is visible or fastspike was built without CUDA."""

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
