"""fastspike.fire (csrc/ops/fire.cpp) vs the reference, on every device; opcheck; bad inputs."""

import pytest
import torch
from helpers.ops import DEVICES, assert_bad_inputs_named, assert_same, both, opcheck_inputs, potentials

import fastspike
from fastspike import reference as ref


@pytest.mark.parametrize("threshold", [0.0, 2.0, 5.0, None])
@pytest.mark.parametrize("B,T,shape", [(3, 15, (4, 5, 6)), (1, 7, (3,)), (2, 1, (2, 3, 3))])
def test_fire_matches_reference(B, T, shape, threshold):
    g = torch.Generator().manual_seed(B + T)
    p = potentials(B, T, shape, g)
    s, thr = fastspike.fire(p, threshold, return_thresholded=True)
    assert s.dtype == torch.uint8
    for b in range(B):
        rs, rthr = ref.fire(p[b], threshold)
        assert torch.equal(s[b].float(), rs)
        assert torch.equal(thr[b], rthr)
    assert fastspike.fire(p, threshold)[1] is None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fire_half_precision(dtype):
    g = torch.Generator().manual_seed(0)
    p = potentials(2, 15, (3, 4), g)
    s32, _ = fastspike.fire(p, 4.0)
    s, thr = fastspike.fire(p.to(dtype), 4.0, return_thresholded=True)
    assert torch.equal(s, s32) and thr.dtype == dtype


def test_fire_empty_and_noncontiguous():
    s, _ = fastspike.fire(torch.zeros(0, 15, 3), 1.0)
    assert s.shape == (0, 15, 3)
    g = torch.Generator().manual_seed(1)
    p = potentials(2, 15, (6, 5), g).transpose(2, 3)
    assert not p.is_contiguous()
    for threshold in (2.0, None):
        for a, b in zip(
            fastspike.fire(p, threshold, True), fastspike.fire(p.contiguous(), threshold, True), strict=True
        ):
            assert torch.equal(a, b)  # spikes and thresholded potentials


@pytest.mark.cuda
@pytest.mark.parametrize("threshold", [0.0, 3.0, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_fire_cuda_matches_cpu(threshold, dtype):
    T = 15
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 3, (3, T, 4, 9, 7), generator=g).float().cumsum(1).to(dtype)
    assert_same(*both(fastspike.fire, p, threshold, True))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.fire.default, (x.pot, 2.0, True))
    torch.library.opcheck(ops.fire.default, (x.pot, None, False))


def test_bad_inputs():
    assert_bad_inputs_named("fire")
