"""fastspike.pool_times (csrc/ops/pool_times.cpp): max-pooling of spike waves in first-spike
form fused with the next layer's padding, vs the reference, the CPU and generic (ATen, used on
CUDA) kernels, uint8 and int16 times, on every device; opcheck; bad inputs."""

import pytest
import torch
from conftest import random_times
from helpers.ops import (
    DEVICES,
    assert_bad_inputs_named,
    assert_same,
    both,
    non_contiguous_case,
    opcheck_inputs,
    relabel,
    relabelled_case,
    uint8_and_int16_case,
)

import fastspike
from fastspike import reference as ref
from fastspike.layers import pad_times


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
@pytest.mark.parametrize(
    "kernel,stride,padding,out_padding,H,W",
    [
        (2, 2, 0, 1, 26, 26),
        (3, 3, 0, 2, 12, 12),
        (3, 3, 0, 0, 14, 13),
        (2, 2, 1, 1, 15, 15),
        (3, 2, 1, 0, 9, 11),
        (1, 1, 0, 3, 4, 5),
        (4, 4, 0, 0, 9, 8),
    ],
)
def test_pool_times_op_equals_pool_then_pad(dtype, kernel, stride, padding, out_padding, H, W):
    """The fused operator = max-pool of the wave, then padding with never; the
    CPU kernel and the generic (ATen, used on CUDA) kernel agree."""
    g = torch.Generator().manual_seed(H * 10 + kernel)
    T = 15
    times = random_times((3, 5, H, W), T, g, p_never=0.5).to(dtype)
    got = fastspike.pool_times(times, kernel, stride, padding, T, out_padding)
    assert got.dtype == dtype
    for b in range(3):
        pooled = ref.wave_to_times(ref.pool(ref.times_to_wave(times[b], T), kernel, stride, padding))
        assert torch.equal(got[b].long(), pad_times(pooled, out_padding, T).long())
    generic = torch.ops.fastspike.pool_times.default.redispatch(
        torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd),
        times,
        kernel,
        stride,
        padding,
        T,
        out_padding,
    )
    assert torch.equal(generic, got)


def test_pool_times_op_errors():
    t = torch.zeros(1, 2, 6, 6, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="kernel: expected"):
        fastspike.pool_times(t, 0, 1, 0, 15)
    with pytest.raises(RuntimeError, match="stride: expected"):
        fastspike.pool_times(t, 2, 0, 0, 15)
    with pytest.raises(RuntimeError, match="padding: expected"):
        fastspike.pool_times(t, 2, 2, 2, 15)
    with pytest.raises(RuntimeError, match="out_padding: expected"):
        fastspike.pool_times(t, 2, 2, 0, 15, -1)
    with pytest.raises(RuntimeError, match="kernel: the 7x7 pooling window is larger than"):
        fastspike.pool_times(t, 7, 1, 0, 15)
    with pytest.raises(RuntimeError, match="times: expected first-spike times"):
        fastspike.pool_times(t.float(), 2, 2, 0, 15)
    with pytest.raises(RuntimeError, match="T: 300 time steps do not fit"):
        fastspike.pool_times(t, 2, 2, 0, 300)
    assert fastspike.pool_times(torch.zeros(0, 2, 6, 6, dtype=torch.uint8), 2, 2, 0, 15, 1).shape == (
        0,
        2,
        5,
        5,
    )


@pytest.mark.parametrize("T", [1, 15, 255])
def test_pool_times_uint8_and_int16_times_give_the_same_results(T):
    t8, t16, _, _ = uint8_and_int16_case(T)
    assert torch.equal(
        fastspike.pool_times(t8, 2, 2, 1, T, 1).long(), fastspike.pool_times(t16, 2, 2, 1, T, 1).long()
    )


def test_pool_times_never_relabelled_from_256_to_300_changes_nothing():
    t256, t300, _, _ = relabelled_case()
    pooled256 = fastspike.pool_times(t256, 3, 2, 1, 256, 2)
    assert torch.equal(relabel(pooled256, 256, 300), fastspike.pool_times(t300, 3, 2, 1, 300, 2))


@pytest.mark.cuda
def test_pool_times_non_contiguous_inputs():
    T = 15
    _, _, tt, _ = non_contiguous_case(T)
    assert_same(*both(fastspike.pool_times, tt, 2, 2, 0, T))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.pool_times.default, (x.tin, 2, 2, 0, x.T, 1))
    torch.library.opcheck(ops.pool_times.default, (x.tin, 3, 2, 1, x.T, 0))


def test_bad_inputs():
    assert_bad_inputs_named("pool_times")
