"""fastspike.conv_fire (csrc/ops/conv_fire.cpp) vs the reference (conv2d on spike waves + fire +
first spike): every CPU path, forced, and every CPU build (generic, AVX2, AVX-512), uint8 and
int16 times, CUDA against the CPU; opcheck; bad inputs."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import dyadic_weights, random_times
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

HERE = os.path.dirname(os.path.abspath(__file__))


def reference_conv_fire(times_in, weight, T, threshold):
    out_t, out_v, pots = [], [], []
    for b in range(times_in.shape[0]):
        p = ref.conv_potentials(ref.times_to_wave(times_in[b], T), weight)
        s, thr = ref.fire(p, threshold)
        t, v = ref.first_spike(s, thr)
        out_t.append(t)
        out_v.append(v)
        pots.append(p)
    return torch.stack(out_t), torch.stack(out_v), torch.stack(pots)


@pytest.mark.parametrize(
    "B,C,H,W,F,K,T,threshold",
    [
        (3, 6, 12, 12, 7, 5, 15, 3.0),
        (1, 4, 9, 11, 5, 3, 15, 2.0),  # B = 1, odd sizes
        (2, 3, 7, 7, 4, 2, 8, 1.0),  # even kernel
        (2, 5, 8, 8, 3, 3, 15, None),  # decision mode
        (2, 2, 6, 6, 3, 3, 1, 0.0),  # T = 1
        (2, 3, 6, 9, 4, 3, 30, 4.0),  # T = 30
    ],
)
def test_conv_fire_matches_reference_exactly(B, C, H, W, F, K, T, threshold):
    g = torch.Generator().manual_seed(B * 1000 + C * 10 + K)
    times_in = random_times((B, C, H, W), T, g)
    weight = dyadic_weights((F, C, K, K), g)
    t, v, p = fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=True)
    rt, rv, rp = reference_conv_fire(times_in, weight, T, threshold)
    assert t.dtype == torch.uint8 and t.shape == (B, F, H - K + 1, W - K + 1)
    torch.testing.assert_close(p, rp, rtol=0, atol=0)
    torch.testing.assert_close(t, rt, rtol=0, atol=0)
    torch.testing.assert_close(v, rv, rtol=0, atol=0)
    # exact-threshold potentials occur with dyadic weights and must not spike
    if threshold is not None:
        assert bool((p == threshold).any()) or T == 1


def test_conv_fire_random_float_weights_close():
    g = torch.Generator().manual_seed(7)
    T, th = 15, 10.0
    times_in = random_times((4, 30, 16, 16), T, g, p_never=0.8)
    weight = 0.8 + 0.05 * torch.randn(50, 30, 3, 3, generator=g)
    t, v, _ = fastspike.conv_fire(times_in, weight.clamp(0, 1), T, th)
    rt, rv, rp = reference_conv_fire(times_in, weight.clamp(0, 1), T, th)
    # summation order differs from conv2d: a spike time may only differ where P is within rounding of theta
    diff = t != rt
    if diff.any():
        tt = torch.minimum(t, rt)[diff].long()
        b, f, y, x = diff.nonzero().unbind(1)
        near = (rp[b, tt, f, y, x] - th).abs() < 1e-4
        assert bool(near.all())
    same = ~diff
    torch.testing.assert_close(v[same], rv[same], rtol=1e-5, atol=1e-5)


def test_conv_fire_int16_times_and_noncontiguous():
    g = torch.Generator().manual_seed(3)
    T = 300
    times_in = random_times((2, 3, 10, 10), T, g, dtype=torch.int16)
    weight = dyadic_weights((4, 3, 3, 3), g)
    t, v, p = fastspike.conv_fire(times_in, weight, T, 5.0, return_potentials=True)
    assert t.dtype == torch.int16
    rt, rv, rp = reference_conv_fire(times_in, weight, T, 5.0)
    assert rt.dtype == torch.int16
    assert torch.equal(p, rp) and torch.equal(t, rt) and torch.equal(v, rv)
    # non-contiguous input (transposed spatial dims) gives the same as its contiguous copy
    tin = random_times((2, 3, 10, 12), 15, g).transpose(2, 3)
    a = fastspike.conv_fire(tin, weight, 15, 2.0)
    b = fastspike.conv_fire(tin.contiguous(), weight, 15, 2.0)
    assert all(torch.equal(x, y) for x, y in zip(a[:2], b[:2], strict=False))


def test_conv_fire_empty_batch_and_silence():
    w = torch.rand(4, 2, 3, 3)
    t, v, _ = fastspike.conv_fire(torch.zeros(0, 2, 5, 5, dtype=torch.uint8), w, 15, 1.0)
    assert t.shape == (0, 4, 3, 3) and v.shape == (0, 4, 3, 3)
    t, v, _ = fastspike.conv_fire(torch.full((1, 2, 5, 5), 15, dtype=torch.uint8), w, 15, 0.0)
    assert bool((t == 15).all()) and bool((v == 0).all())


def _as_long_run(times_in, T):
    """The same spikes with T = 300 (int16): conv_fire then takes the CPU's
    event-scatter path instead of the T <= 255 gather path."""
    return torch.where(times_in >= T, 300, times_in.long()).to(torch.int16)


@pytest.mark.parametrize(
    "B,C,H,W,F,K,threshold,p_never,gain",
    [
        (3, 30, 16, 16, 250, 3, 10.0, 0.4, 1.3),  # S2 shape: several feature blocks, programs
        (1, 30, 16, 16, 250, 3, 10.0, 0.0, 1.3),  # B = 1 (features split over threads), every input fires
        (4, 6, 32, 32, 30, 5, 15.0, 0.8, 1.3),  # S1 shape: one block, output rows from row events
        (3, 2, 32, 32, 32, 5, 10.0, 0.5, 1.3),  # a full single block (Kheradpisheh S1)
        (2, 4, 12, 12, 20, 4, 3.0, 0.5, 1.3),  # row events, even kernel (no unrolled variant)
        (2, 3, 10, 10, 8, 1, 0.5, 0.5, 1.3),  # row events, 1x1 kernel
        (1, 2, 9, 64, 10, 2, 1.0, 0.5, 1.3),  # row events, 64 inputs per row (the widest)
        (2, 3, 12, 12, 10, 3, None, 0.5, 1.3),  # row events, no threshold
        (2, 3, 20, 70, 16, 3, 2.0, 0.5, 1.3),  # one block, rows too wide for row events: masks per position
        (2, 7, 13, 11, 70, 4, 3.0, 0.5, 1.3),  # odd sizes, 3 blocks, even kernel
        (2, 2, 14, 14, 40, 9, 6.0, 0.3, 1.3),  # kernel wider than 8
        (2, 250, 8, 8, 200, 5, None, 0.6, 1.3),  # decision layer: 6250 inputs per position
        (2, 5, 9, 9, 33, 3, 2.0, 1.0, 1.3),  # silence
        (1, 4, 10, 10, 300, 3, 4.0, 0.3, 1.3),  # 10 blocks: groups of 8 + 2 blocks (early-exit path)
        (2, 4, 10, 10, 260, 3, 4.0, 0.0, 1.3),  # 9 blocks, 4 padding features in the last
        (4, 6, 32, 32, 30, 5, 15.0, 0.8, 4.0),  # S1 shape, most positions done early (row early exit)
        (3, 3, 12, 40, 9, 3, 2.0, 0.5, 3.0),  # row early exit, 9 real features of 32
        (2, 2, 9, 64, 32, 2, 1.0, 0.3, 5.0),  # row early exit, 64-wide rows, a full block
        (1, 30, 16, 16, 250, 3, 10.0, 0.4, 4.0),  # wide path, most positions done early
        (2, 5, 9, 9, 100, 2, 2.0, 0.4, 1.3),  # wide path, 2-wide kernel (4-byte segments)
        (2, 7, 6, 6, 64, 1, 1.0, 0.5, 3.0),  # wide path, 1x1 kernel
        (1, 3, 11, 11, 96, 4, 3.0, 0.4, 3.0),  # wide path, 4-wide kernel (segments without padding)
        (2, 6, 10, 10, 64, 5, 4.0, 0.5, 1.3),  # wide path, 5-wide kernel (packed receptive field)
    ],
)
def test_conv_fire_gather_path_bitwise_equals_scatter_path(B, C, H, W, F, K, threshold, p_never, gain):
    # float (non-dyadic) weights: only the same fp32 additions in the same order agree bit for bit
    g = torch.Generator().manual_seed(C * 100 + F)
    T = 15
    times_in = random_times((B, C, H, W), T, g, p_never=p_never)
    weight = (0.8 + 0.05 * torch.randn(F, C, K, K, generator=g)).clamp(0, 1)
    if threshold is not None:
        # final potentials around gain x theta: some neurons fire, at various steps
        # (with a large gain, every feature of most positions fires early)
        weight = weight * (gain * threshold / (weight.sum((1, 2, 3), keepdim=True) * max(1 - p_never, 0.1)))
    t, v, _ = fastspike.conv_fire(times_in, weight, T, threshold)
    t2, v2, _ = fastspike.conv_fire(_as_long_run(times_in, T), weight, 300, threshold)
    if threshold is None:
        assert torch.equal(t == T - 1, t2 == 299)
    else:
        assert torch.equal(t.long(), torch.where(t2 == 300, T, t2.long()))
        assert bool((t < T).any()) or p_never == 1.0
        if gain > 2:  # the early exits are exercised: most positions have every feature fire
            assert float((t < T).all(1).float().mean()) > 0.5
    assert torch.equal(v, v2)
    # without values: the same times
    t4, v4, _ = fastspike.conv_fire(times_in, weight, T, threshold, return_values=False)
    assert v4 is None and torch.equal(t, t4)
    # and the potentials path agrees with the plain one
    t3, v3, p3 = fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=True)
    assert torch.equal(t, t3) and torch.equal(v, v3)
    assert torch.equal(
        p3[:, -1],
        fastspike.conv_fire(_as_long_run(times_in, T), weight, 300, threshold, return_potentials=True)[2][
            :, T - 1
        ],
    )


def test_conv_fire_gather_path_on_real_mnist(mnist):
    from fastspike.encoding import Encoder
    from fastspike.models import Mozafari2018

    m = Mozafari2018(seed=0)
    times = Encoder(T=m.T)(mnist[1].images[:8])
    for layer, conv in ((1, m.conv1), (2, m.conv2), (3, m.conv3)):
        x = m.layer_input(layer, times)
        t, v, _ = fastspike.conv_fire(x, conv.weight, m.T, conv.threshold)
        t2, v2, _ = fastspike.conv_fire(_as_long_run(x, m.T), conv.weight, 300, conv.threshold)
        assert torch.equal(v, v2), layer
        if conv.threshold is not None:
            assert torch.equal(t.long(), torch.where(t2 == 300, m.T, t2.long()))
            assert bool((t < m.T).any())


@pytest.mark.parametrize("threads", [1, 3])
def test_conv_fire_and_final_potential_independent_of_thread_count(mnist, threads):
    """Tasks are handed out dynamically to the threads: results must not depend on
    how many there are or which thread ran which sample."""
    from fastspike.encoding import Encoder
    from fastspike.models import Mozafari2018

    m = Mozafari2018(seed=0)
    times = Encoder(T=m.T)(mnist[1].images[:24])
    x2 = m.layer_input(2, times)
    x3 = m.layer_input(3, times)
    base = [
        fastspike.conv_fire(x2, m.conv2.weight, m.T, 10.0),
        fastspike.conv_fire(x2[:1], m.conv2.weight, m.T, 10.0),
        fastspike.final_potential(x3, m.conv3.weight, m.T, 2),
    ]
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        other = [
            fastspike.conv_fire(x2, m.conv2.weight, m.T, 10.0),
            fastspike.conv_fire(x2[:1], m.conv2.weight, m.T, 10.0),
            fastspike.final_potential(x3, m.conv3.weight, m.T, 2),
        ]
    finally:
        torch.set_num_threads(old)
    for a, b in zip(base, other, strict=False):
        for u, v in zip(a, b, strict=False):
            assert (u is None and v is None) or torch.equal(u, v)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "B,C,H,W,F,K,threshold,potentials",
    [
        (2, 6, 20, 20, 30, 5, 4.0, False),  # S1-like: rows path, early exit
        (2, 6, 20, 20, 30, 5, 4.0, True),  # every P[t] asked for
        (3, 30, 10, 10, 70, 3, 3.0, False),  # S2-like, several 32-feature blocks: wide path
        (1, 30, 10, 10, 70, 3, 3.0, True),
        (2, 9, 12, 40, 40, 3, 2.0, False),  # wide rows
        (2, 12, 8, 8, 50, 5, None, False),  # no threshold (decision mode)
        (2, 12, 8, 8, 20, 5, None, True),
        (4, 3, 9, 9, 5, 3, 1.0, False),
    ],
)
def test_conv_fire_exact_threshold_hits_and_silent_neurons(B, C, H, W, F, K, threshold, potentials, threads):
    """Dyadic weights put potentials exactly on the threshold (which must not fire: the
    comparison is strict), and features with zero weights or inputs that never fire leave
    neurons silent (P[T-1] = 0: never, value 0, also without a threshold), on every shape
    class the CPU kernel has a path for, at 1 and 2 threads."""
    g = torch.Generator().manual_seed(B * 7 + C + F + K)
    times_in = random_times((B, C, H, W), T := 15, g, p_never=0.6)
    times_in[:, :, : H // 3] = T  # a band where nothing fires
    weight = dyadic_weights((F, C, K, K), g, denom=4)
    weight[::4] = 0.0  # every fourth feature never fires
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t, v, p = fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=potentials)
    finally:
        torch.set_num_threads(before)
    rt, rv, rp = reference_conv_fire(times_in, weight, T, threshold)
    assert torch.equal(t, rt) and torch.equal(v, rv)
    if potentials:
        assert torch.equal(p, rp)
    assert bool((rt == T).any()) and bool((rv == 0).any())  # silent neurons are present
    if threshold is not None:
        assert bool((rp == threshold).any())  # and exact threshold hits
    else:
        assert bool(((rp[:, -1] == 0) & (rt == T)).any())


# --- every CPU path, forced, against the reference -------------------------------------------
# torch.ops.fastspike._conv_fire_debug(force) forces the CPU kernel's path for the calls that
# follow and returns (then resets) the tasks each path ran since the last call, in this order:
PATHS = ["scatter", "rows-exit", "rows", "wide", "direct", "tiles"]


def _path_counts(force=""):
    return dict(zip(PATHS, torch.ops.fastspike._conv_fire_debug(force), strict=True))


@pytest.fixture
def forced_path():
    """Sets a forced path for the test; production's automatic choice again afterwards."""
    _path_counts("auto")
    yield lambda path: _path_counts(path)
    _path_counts("auto")


_MODES = [(3.0, False), (3.0, True), (None, False)]  # (threshold, return_potentials)


_FORCED_CASES = [
    (path, T, dtype, mode)
    for path in ["scatter", "rows", "wide", "direct", "tiles"]
    for T, dtype in [
        (1, "u8"),
        (15, "u8"),
        (255, "u8"),
        (15, "i16"),
        (255, "i16"),
        (256, "i16"),
        (300, "i16"),
    ]
    for mode in range(len(_MODES))
    # the wide path is only for a threshold without potentials out (its early exit)
    if path != "wide" or mode == 0
]


@pytest.mark.parametrize("path,T,dtype,mode", _FORCED_CASES)
def test_conv_fire_forced_path_matches_reference(forced_path, path, T, dtype, mode):
    """Each path of the CPU kernel (and, under FASTSPIKE_CPU_ISA, each ISA build: see
    test_conv_fire_every_isa_matches_the_reference), forced, on dyadic weights with exact
    threshold hits, silent neurons, a partly used second feature block and T from 1 to 300;
    the debug counters prove the forced path is the one that ran."""
    threshold, potentials = _MODES[mode]
    g = torch.Generator().manual_seed(T * 31 + mode)
    B, C, H, W, F, K = 2, 3, 12, 12, 40, 3  # F = 40: one full and one partly used block of 32
    times_in = random_times(
        (B, C, H, W), T, g, p_never=0.5, dtype=torch.uint8 if dtype == "u8" else torch.int16
    )
    times_in[:, :, :3] = T  # a band where nothing fires
    weight = dyadic_weights((F, C, K, K), g, denom=4)
    weight[::5] = 0.0  # features that never fire
    rt, rv, rp = reference_conv_fire(times_in, weight, T, threshold)
    if T > 255 and path != "scatter":
        forced_path(path)
        with pytest.raises(RuntimeError, match="forced gather path needs T <= 255"):
            fastspike.conv_fire(times_in, weight, T, threshold)
        return
    forced_path(path)
    t, v, p = fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=potentials)
    ran = _path_counts()
    name = "rows-exit" if path == "rows" and threshold is not None and not potentials else path
    assert ran[name] > 0 and sum(ran.values()) == ran[name], ran
    assert t.dtype == times_in.dtype
    assert torch.equal(t.long(), rt.long()) and torch.equal(v, rv)
    if potentials:
        assert torch.equal(p, rp)
    assert bool((rt == T).any()) and bool((rt < T).any())  # silent and firing neurons
    if threshold is not None and T > 1:
        assert bool((rp == threshold).any())  # exact hits, which must not fire


@pytest.mark.parametrize(
    "shape,threshold,potentials,expected",
    [
        ((1, 6, 32, 32, 30, 5), 15.0, False, "rows-exit"),  # S1: one block, rows of 32 inputs
        ((1, 6, 32, 32, 30, 5), 15.0, True, "rows"),  # S1 with potentials (the plots)
        ((1, 30, 13, 13, 250, 3), 10.0, False, "wide"),  # S2: 8 blocks, early exit
        ((1, 30, 13, 13, 250, 3), 10.0, True, "tiles"),  # S2 with potentials
        ((1, 250, 9, 9, 200, 5), None, False, "tiles"),  # the decision layer's conv_fire form
        ((1, 2, 70, 70, 8, 3), 2.0, False, "direct"),  # rows wider than 64 inputs
        ((1, 6, 32, 32, 30, 5), 15.0, False, "scatter"),  # T = 300 (int16 times)
    ],
)
def test_conv_fire_automatic_path_choice(forced_path, shape, threshold, potentials, expected):
    """What production runs at one thread and B = 1, so a change in the choice shows."""
    B, C, Hp, Wp, F, K = shape
    T = 300 if expected == "scatter" else 15
    g = torch.Generator().manual_seed(F)
    dtype = torch.int16 if T > 255 else torch.uint8
    times_in = random_times((B, C, Hp, Wp), T, g, dtype=dtype)
    weight = dyadic_weights((F, C, K, K), g, denom=8)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        forced_path("auto")
        fastspike.conv_fire(times_in, weight, T, threshold, return_potentials=potentials)
    finally:
        torch.set_num_threads(before)
    ran = _path_counts()
    assert ran[expected] > 0 and sum(ran.values()) == ran[expected], ran


def test_conv_fire_forced_path_errors(forced_path):
    with pytest.raises(
        RuntimeError, match="expected '', auto, scatter, rows, wide, direct or tiles, got 'fast'"
    ):
        _path_counts("fast")
    times_in = torch.zeros(1, 1, 70, 70, dtype=torch.uint8)
    forced_path("rows")
    with pytest.raises(RuntimeError, match="rows of at most 64 inputs, got 70"):
        fastspike.conv_fire(times_in, torch.ones(2, 1, 3, 3), 15, 1.0)
    forced_path("wide")
    with pytest.raises(RuntimeError, match="wide path needs a threshold and return_potentials=False"):
        fastspike.conv_fire(times_in, torch.ones(2, 1, 3, 3), 15, None)


# --- every CPU build of the gather code -------------------------------------------------------
# The library compiles the gather kernels three times and runs the best one the CPU has, so on
# an AVX-512 machine the AVX2 and generic code would otherwise never run. FASTSPIKE_CPU_ISA
# forces one (read once per process), so each build runs here in a subprocess.
def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_conv_fire_every_isa_matches_the_reference(isa):
    flags = _cpu_flags()
    if isa == "avx2" and " avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    if isa == "avx512" and " avx512bw" not in flags:
        pytest.skip("this CPU has no AVX-512")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            os.path.join(HERE, "test_conv_fire.py"),
            "-k",
            "exact_threshold_hits or matches_reference_exactly or gather_path_bitwise or int16"
            " or forced_path",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "FASTSPIKE_CPU_ISA": isa},
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout.splitlines()[-1]


def test_unknown_isa_is_a_clear_error():
    code = (
        "import torch, fastspike; "
        "fastspike.conv_fire(torch.zeros(1, 1, 3, 3, dtype=torch.uint8), torch.ones(1, 1, 2, 2), 15, 1.0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "FASTSPIKE_CPU_ISA": "sse9"},
    )
    assert r.returncode != 0 and "FASTSPIKE_CPU_ISA: expected generic, avx2 or avx512, got 'sse9'" in r.stderr


# --- uint8 and int16 times ------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 15, 255])
def test_conv_fire_uint8_and_int16_times_give_the_same_results(T):
    t8, t16, _, w = uint8_and_int16_case(T)
    c8 = fastspike.conv_fire(t8, w, T, 2.0)
    c16 = fastspike.conv_fire(t16, w, T, 2.0)
    assert torch.equal(c8[0].long(), c16[0].long()) and torch.equal(c8[1], c16[1])


def test_conv_fire_never_relabelled_from_256_to_300_changes_nothing():
    t256, t300, _, w = relabelled_case()
    c256, c300 = fastspike.conv_fire(t256, w, 256, 2.0), fastspike.conv_fire(t300, w, 300, 2.0)
    assert torch.equal(relabel(c256[0], 256, 300), c300[0]) and torch.equal(c256[1], c300[1])
    assert bool((c300[0] < 300).any())


# --- CUDA against the CPU -------------------------------------------------------------------
@pytest.mark.cuda
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


@pytest.mark.cuda
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


@pytest.mark.cuda
def test_conv_fire_non_contiguous_inputs():
    T = 15
    tin, w, _, _ = non_contiguous_case(T)
    assert_same(*both(fastspike.conv_fire, tin, w, T, 2.0))


@pytest.mark.cuda
def test_conv_fire_cuda_validation_errors():
    T = 15
    w = torch.rand(4, 3, 3, 3, device="cuda")
    tin = torch.zeros(2, 3, 6, 6, dtype=torch.uint8, device="cuda")
    with pytest.raises(ValueError, match="non-negative"):
        fastspike.conv_fire(tin, -w, T, 1.0)
    for bad_value in (float("nan"), float("inf")):
        wb = w.clone()
        wb[1, 2, 0, 1] = bad_value
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.conv_fire(tin, wb, T, 1.0)
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.conv_fire(tin, wb, T, None)
    with pytest.raises(RuntimeError, match="same device"):
        fastspike.conv_fire(tin, w.cpu(), T, 1.0)


# --- opcheck, bad inputs --------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    torch.library.opcheck(ops.conv_fire.default, (x.tin, x.w, x.T, 1.0, True))
    torch.library.opcheck(ops.conv_fire.default, (x.tin, x.w, x.T, None, False))
    torch.library.opcheck(ops.conv_fire.default, (x.tin, x.w, x.T, 1.0, False, False))


def test_bad_inputs():
    assert_bad_inputs_named("conv_fire")
