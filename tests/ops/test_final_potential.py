"""fastspike.final_potential (csrc/ops/final_potential.cpp: the decision layer's P[T-1],
float64 sums rounded once) against a float64 convolution, both ways the CPU kernel adds, the
kept weight layout and tap sums (FinalPotentialCache) and the CPU decision layer built on them,
uint8 and int16 times, CUDA against the CPU; opcheck; bad inputs."""

import pytest
import torch
import torch.nn.functional as F
from conftest import random_times
from helpers.ops import (
    DEVICES,
    assert_bad_inputs_named,
    assert_same,
    both,
    decision_weights,
    non_contiguous_case,
    opcheck_inputs,
    relabelled_case,
    uint8_and_int16_case,
)

import fastspike
from fastspike.layers import SpikingConv
from fastspike.ops.final_potential import FinalPotentialCache


def exact_final_potential(times_in, weight, T):
    """Reference: float64 convolution of "fired at all" (exact for these weights), rounded once."""
    return F.conv2d((times_in < T).double(), weight.double()).float()


def padded(times, border, T):
    return F.pad(times, (border,) * 4, value=T) if border else times


@pytest.mark.parametrize(
    "B,C,H,W,F_,K,border,p_never",
    [
        (4, 250, 4, 4, 200, 5, 2, 0.01),  # Mozafari S3, nearly every input fires (complement)
        (4, 250, 4, 4, 200, 5, 2, 0.7),  # trained-like density (direct)
        (3, 20, 6, 5, 33, 3, 1, 0.95),  # sparse, odd sizes
        (3, 7, 6, 6, 10, 4, 0, 0.5),  # no border, even kernel
        (2, 5, 3, 3, 8, 3, 2, 0.0),  # every inner input fires
        (2, 5, 3, 3, 8, 3, 2, 1.0),  # silence
    ],
)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_final_potential_is_the_rounded_exact_sum(B, C, H, W, F_, K, border, p_never, dtype):
    g = torch.Generator().manual_seed(C + F_ + border)
    T = 15
    x = padded(random_times((B, C, H, W), T, g, p_never=p_never, dtype=dtype), border, T)
    w = decision_weights((F_, C, K, K), g)
    p, done = fastspike.final_potential(x, w, T, border)
    assert bool(done.all())
    assert torch.equal(p, exact_final_potential(x, w, T))
    # the border only lets the kernel skip padding: the result is the same without it
    assert torch.equal(fastspike.final_potential(x, w, T, 0)[0], p)
    # batch independence: each sample alone gives the same bits
    for b in range(B):
        assert torch.equal(fastspike.final_potential(x[b : b + 1], w, T, border)[0][0], p[b])


def test_final_potential_leaves_dense_samples_to_the_caller():
    g = torch.Generator().manual_seed(5)
    T = 15
    dens = [0.0, 0.02, 0.5, 0.97, 1.0, 0.3]  # fraction of inner inputs that never fire
    x = torch.cat([padded(random_times((1, 30, 5, 5), T, g, p_never=q), 2, T) for q in dens])
    w = decision_weights((12, 30, 5, 5), g)
    n_inner = 30 * 25
    fired = (x < T).sum((1, 2, 3))
    events = torch.minimum(fired, n_inner - fired)
    p, done = fastspike.final_potential(x, w, T, 2, max_event_fraction=0.1)
    assert torch.equal(done, events <= 0.1 * n_inner)
    assert 0 < int(done.sum()) < len(dens)
    exact = exact_final_potential(x, w, T)
    assert torch.equal(p[done], exact[done])
    assert bool((p[~done] == 0).all())


def test_final_potential_on_real_mnist_decision_input(mnist):
    from fastspike.encoding import Encoder
    from fastspike.models import Mozafari2018

    m = Mozafari2018(seed=0)
    x3 = m.layer_input(3, Encoder(T=m.T)(mnist[1].images[:16]))
    p, done = fastspike.final_potential(x3, m.conv3.weight, m.T, 2)  # C2 pads its output with 2 rows of never
    assert bool(done.all())
    assert torch.equal(p, exact_final_potential(x3, m.conv3.weight, m.T))
    # the canonical stepwise fp32 sum (conv_fire) agrees to its own rounding error
    # (thousands of fp32 additions of values near 0.5: relative errors ~1e-5)
    t, v, _ = fastspike.conv_fire(x3, m.conv3.weight, m.T, None)
    assert torch.equal(t == m.T - 1, p > 0)  # the same neurons fire (P > 0), none masked away
    assert bool((p > 0).any())
    torch.testing.assert_close(v, p, rtol=3e-5, atol=0)  # unmasked: a silent neuron is 0 in both


def test_decision_layer_is_exact_for_every_sample():
    """SpikingConv (no threshold) on CPU: the exactly rounded sum for sparse and dense
    samples alike (one definition); a sample's result never depends on its batch."""
    g = torch.Generator().manual_seed(11)
    T = 15
    conv = SpikingConv(40, 20, 5, threshold=None, lb=0.2, ub=0.8, stabilize=False, generator=g)
    dens = [0.01, 0.5, 0.0, 0.6, 0.99, 0.4]
    x = torch.cat([padded(random_times((1, 40, 4, 4), T, g, p_never=q), 2, T) for q in dens])
    t, v = conv(x, T, border=2)
    exact = exact_final_potential(x, conv.weight, T)
    assert torch.equal(v, exact)
    assert torch.equal(t, torch.where(exact > 0, T - 1, T).to(x.dtype))
    for b in range(len(dens)):
        tb, vb = conv(x[b : b + 1], T, border=2)
        assert torch.equal(vb[0], v[b]) and torch.equal(tb[0], t[b])
    # the cached weight layout follows in-place updates
    conv.weight.mul_(0.5)
    assert torch.equal(conv(x, T, border=2)[1], exact_final_potential(x, conv.weight, T))


@pytest.mark.parametrize("compat,B", [(False, 1), (False, 3), (True, 1)])
def test_decision_layer_weight_layout_patched_after_stdp(compat, B):
    """SpikingConv.stdp patches the cached [C, kh, kw, F] layout for the winners'
    features (only they change without the whole-tensor clamp); it must equal a
    rebuild from the weight, and the potentials after the update must be exact."""
    g = torch.Generator().manual_seed(5 + B)
    T = 15
    conv = SpikingConv(
        40, 20, 5, threshold=None, k=1, lb=0.2, ub=0.8, stabilize=True, compat=compat, generator=g
    )
    for step in range(4):
        x = torch.cat([padded(random_times((1, 40, 4, 4), T, g, p_never=0.02), 2, T) for _ in range(B)])
        t, v = conv(x, T, border=2)
        assert torch.equal(v, exact_final_potential(x, conv.weight, T))
        winners = conv.winners(t, v, T, pointwise=False)
        assert bool((winners[:, 0, 0] >= 0).all())
        lr = torch.tensor([[0.05, -0.04]] * B) * (1 if step % 2 else -1)
        before = conv.weight.clone()
        conv.stdp(x, t, winners, lr, T)
        changed = (conv.weight != before).flatten(1).any(1).nonzero().flatten()
        assert changed.numel() > 0
        if not compat:  # what the patch relies on: only the winners' features change
            assert set(changed.tolist()) <= set(winners[:, :, 0].flatten().tolist())
        cache = conv._final_potential_cache()
        assert cache.current == (not compat)  # patched, not left to a rebuild
        rows, taps = cache.tensors()
        assert torch.equal(rows, conv.weight.permute(1, 2, 3, 0).contiguous())
        assert torch.equal(taps, FinalPotentialCache(conv.weight).tensors()[1])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, w: fastspike.final_potential(x.float(), w, 15, 2), "times_in"),
        (lambda x, w: fastspike.final_potential(x, w.double(), 15, 2), "weight"),
        (lambda x, w: torch.ops.fastspike.final_potential(x, w[:, :2], 15, 2), "weight_rows"),
        (lambda x, w: fastspike.final_potential(x, -w, 15, 2), "non-negative"),
        (lambda x, w: fastspike.final_potential(x, w, 15, 4), "border"),
        (lambda x, w: fastspike.final_potential(x, w, 15, -1), "border"),
        (lambda x, w: fastspike.final_potential(x, w, 15, 2, max_event_fraction=1.5), "max_event_fraction"),
        (lambda x, w: fastspike.final_potential(x[..., :3, :3], w, 15, 0), "kernel"),
        (lambda x, w: fastspike.final_potential(torch.zeros_like(x), w, 15, 2), "border"),  # border fires
    ],
)
def test_final_potential_errors(call, match):
    g = torch.Generator().manual_seed(0)
    x = padded(random_times((2, 3, 4, 4), 15, g), 2, 15)
    w = decision_weights((5, 3, 5, 5), g)
    with pytest.raises((RuntimeError, ValueError), match=match):
        call(x, w)


def test_final_potential_empty_batch():
    w = torch.full((5, 3, 3, 3), 0.5)
    p, done = fastspike.final_potential(torch.full((0, 3, 6, 6), 15, dtype=torch.uint8), w, 15, 1)
    assert p.shape == (0, 5, 4, 4) and done.shape == (0,)


def test_final_potential_with_tap_sums_equals_without(mnist):
    """Kept per-tap sums (FinalPotentialCache) give the same result as the kernel's own
    (they are the same exact float64 sums), on random and real inputs, direct and complement."""
    g = torch.Generator().manual_seed(21)
    T = 15
    w = decision_weights((20, 40, 5, 5), g)
    x = torch.cat([padded(random_times((1, 40, 4, 4), T, g, p_never=q), 2, T) for q in (0.01, 0.5, 0.97)])
    cache = FinalPotentialCache(w)
    taps = cache.tensors()[1]
    assert taps.shape == (5, 5, 20) and taps.dtype == torch.float64
    for frac in (1.0, 0.1):
        a = fastspike.final_potential(x, w, T, 2, max_event_fraction=frac)
        b = cache(x, T, 2, max_event_fraction=frac)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    from fastspike.encoding import Encoder
    from fastspike.models import Mozafari2018

    m = Mozafari2018(seed=0)
    x3 = m.layer_input(3, Encoder(T=m.T)(mnist[1].images[:16]))
    w3 = m.conv3.weight
    a = fastspike.final_potential(x3, w3, m.T, 2)
    b = FinalPotentialCache(w3)(x3, m.T, 2)
    assert torch.equal(a[0], b[0]) and bool(a[1].all())
    assert torch.equal(a[0], exact_final_potential(x3, w3, m.T))


@pytest.mark.parametrize(
    "bad,match",
    [
        (lambda t: t.float(), "tap_sums: expected float64"),
        (lambda t: t[:, :, :5], "tap_sums: expected shape"),
        (lambda t: t.reshape(-1), "tap_sums: expected shape"),
    ],
)
def test_final_potential_bad_tap_sums(bad, match):
    """The kernel checks the tap sums it is given (only FinalPotentialCache gives any), and
    the cache refuses weights it cannot sum."""
    g = torch.Generator().manual_seed(3)
    w = decision_weights((8, 4, 3, 3), g)
    x = padded(random_times((2, 4, 5, 5), 15, g), 1, 15)
    rows, taps = FinalPotentialCache(w).tensors()
    with pytest.raises(RuntimeError, match=match):
        torch.ops.fastspike.final_potential(x, rows, 15, 1, 1.0, bad(taps))
    with pytest.raises(ValueError, match="non-negative"):
        FinalPotentialCache(-w).tensors()
    with pytest.raises(ValueError, match="weight: expected"):
        FinalPotentialCache(w.double()).tensors()


# --- the two ways the CPU kernel adds: float64, and fixed point ------------------------------
# torch.ops.fastspike._final_potential_debug(force) forces the way for the calls that follow
# ("auto", "float64", "fixed") and returns, then resets, the calls made each way since the
# last call: [float64, fixed].
def _sum_calls(force=""):
    return dict(zip(("float64", "fixed"), torch.ops.fastspike._final_potential_debug(force), strict=True))


@pytest.fixture
def forced_sum():
    _sum_calls("auto")
    yield _sum_calls
    _sum_calls("auto")


def _weights_spanning(shape, g, lo_exp, hi_exp):
    """Weights whose binary exponents cover [lo_exp, hi_exp] (both ends present, most at
    the top), with random 24-bit significands: the fixed-point form needs hi_exp - lo_exp
    + 24 bits."""
    e = torch.randint(lo_exp, hi_exp + 1, shape, generator=g)
    # mostly near the top: int32 partial sums near 2^31
    e = torch.where(torch.rand(shape, generator=g) < 0.8, hi_exp, e)
    w = torch.ldexp(1.0 + torch.rand(shape, generator=g, dtype=torch.float64), e.double()).float()
    w.view(-1)[0] = 2.0**lo_exp * 1.5
    w.view(-1)[1] = 2.0**hi_exp * 1.999
    return w


@pytest.mark.parametrize(
    "lo_exp,hi_exp,fixed",
    [
        (-3, -1, True),  # the R-STDP range [0.2, 0.8]: 26 bits, 32 rows per int32 partial sum
        (-5, -1, True),  # 28 bits: 8 rows per partial sum, the most the fixed path takes
        (-6, -1, False),  # 29 bits: float64
        (-40, -1, False),  # far apart: float64 (still exact in float64 here)
    ],
)
@pytest.mark.parametrize("p_never", [0.02, 0.6])  # complement and direct
def test_fixed_point_sums_equal_float64_sums(forced_sum, lo_exp, hi_exp, fixed, p_never):
    """The CPU kernel adds in fixed point when the weights' exponents span at most 5
    binades: the same bits as float64 and as the exact sum, every sample as it is alone;
    wider weights fall back to float64. Near-maximal weights and hundreds of rows per
    output position cross many int32 partial sums."""
    g = torch.Generator().manual_seed(hi_exp - lo_exp + int(100 * p_never))
    T = 15
    B, C, F_ = 17, 60, 37  # a partial last group of 8; F not a multiple of 16
    x = padded(random_times((B, C, 4, 5), T, g, p_never=p_never), 2, T)
    w = _weights_spanning((F_, C, 5, 5), g, lo_exp, hi_exp)
    if lo_exp == -40:  # few distinct significands, so float64 holds every sum exactly
        w = torch.ldexp(torch.ones_like(w), torch.frexp(w).exponent - 1)
    exact = exact_final_potential(x, w, T)
    forced_sum("fixed")
    p, done = fastspike.final_potential(x, w, T, 2)
    assert bool(done.all()) and torch.equal(p, exact)
    assert forced_sum() == {"float64": 0, "fixed": 1} if fixed else {"float64": 1, "fixed": 0}
    forced_sum("float64")
    assert torch.equal(fastspike.final_potential(x, w, T, 2)[0], exact)
    assert forced_sum() == {"float64": 1, "fixed": 0}
    for force in ("auto", "fixed"):  # each sample alone
        forced_sum(force)
        for b in (0, B - 1):
            assert torch.equal(fastspike.final_potential(x[b : b + 1], w, T, 2)[0][0], exact[b])
        assert sum(forced_sum().values()) == 2


@pytest.mark.parametrize(
    "p_never,B,fixed", [(0.99, 1, False), (0.99, 8, False), (0.99, 64, True), (0.6, 1, True)]
)
def test_automatic_choice_of_the_way_to_add(forced_sum, p_never, B, fixed):
    """Automatically, fixed point only when the batch has rows enough to repay converting
    the weights (about 3 rows per weight row): not for a few events (sparse samples, as in
    a fresh network's decision layer) unless a large batch adds up enough of them, and for
    trained-like densities even at B = 1."""
    g = torch.Generator().manual_seed(B)
    T = 15
    x = padded(random_times((B, 250, 4, 4), T, g, p_never=p_never), 2, T)
    w = decision_weights((200, 250, 5, 5), g)
    p, _ = fastspike.final_potential(x, w, T, 2)
    assert torch.equal(p, exact_final_potential(x, w, T))
    assert forced_sum() == ({"float64": 0, "fixed": 1} if fixed else {"float64": 1, "fixed": 0})


def test_fixed_point_zero_subnormal_and_negative_zero_weights(forced_sum):
    """In fixed point as in float64: subnormal weights count as 0, -0.0 is 0, all-zero
    weights give 0 (any unit), and a negative or NaN weight is still an error."""
    g = torch.Generator().manual_seed(3)
    T = 15
    x = padded(random_times((9, 20, 4, 4), T, g, p_never=0.4), 2, T)
    w = decision_weights((12, 20, 5, 5), g)
    w[0, :, 0, 0] = 1e-40  # subnormal
    w[1, :, 1, 1] = -0.0
    w[2] = 0.0
    w_ftz = torch.where(w.abs() < torch.finfo(torch.float32).tiny, 0.0, w)
    expected = exact_final_potential(x, w_ftz, T)
    for force in ("fixed", "float64"):
        forced_sum(force)
        p, _ = fastspike.final_potential(x, w, T, 2)
        assert torch.equal(p, expected), force
        assert bool((p[:, 2] == 0).all())
        assert forced_sum()[force] == 1
    forced_sum("fixed")
    assert torch.equal(fastspike.final_potential(x, torch.zeros_like(w), T, 2)[0], torch.zeros_like(expected))
    for bad in (-0.5, float("nan"), float("inf")):
        wb = w.clone()
        wb[3, 4, 2, 2] = bad
        with pytest.raises(RuntimeError, match="non-negative"):
            fastspike.final_potential(x, wb, T, 2)


def test_final_potential_debug_rejects_unknown_ways():
    with pytest.raises(RuntimeError, match="float64 or fixed"):
        torch.ops.fastspike._final_potential_debug("int8")


# --- the kept weight layout and tap sums follow the weight ----------------------------------
def test_final_potential_takes_no_tap_sums_or_weight_layout():
    """The public operator computes what it needs from the weights; only
    FinalPotentialCache keeps anything between calls."""
    g = torch.Generator().manual_seed(4)
    w = decision_weights((6, 3, 3, 3), g)
    x = padded(random_times((2, 3, 4, 4), 15, g), 1, 15)
    rows, taps = FinalPotentialCache(w).tensors()
    with pytest.raises(TypeError):
        fastspike.final_potential(x, w, 15, 1, tap_sums=taps)
    with pytest.raises(TypeError):
        fastspike.final_potential(x, w, 15, 1, weight_rows=rows)
    assert not hasattr(fastspike, "final_potential_tap_sums")
    assert "final_potential_tap_sums" not in fastspike.__all__ + fastspike.ops.__all__


def test_final_potential_cache_follows_every_change_of_the_weight():
    """Kept tensors are only ever those of the weight's current values: in-place updates,
    copy_, stdp_update, a new storage of the same or another shape make the next call
    recompute them, and weights that cannot be summed (NaN, negative) raise instead of
    giving a potential."""
    g = torch.Generator().manual_seed(8)
    T = 15
    w = decision_weights((12, 20, 5, 5), g)
    x = torch.cat([padded(random_times((1, 20, 4, 4), T, g, p_never=q), 2, T) for q in (0.02, 0.6)])
    cache = FinalPotentialCache(w)
    assert not cache.current

    def check():
        assert torch.equal(cache(x, T, 2)[0], exact_final_potential(x, cache.weight, T))
        assert cache.current

    check()
    w.mul_(0.5)  # in place
    assert not cache.current
    check()
    w.copy_(decision_weights(w.shape, g))
    check()
    w[3, 1, 2, 2] = 0.75  # one element
    check()
    w.data = decision_weights(w.shape, g)  # another storage, same shape
    assert not cache.current
    check()
    w.data = decision_weights((7, 20, 3, 3), g)  # another shape
    check()
    t, v, _ = fastspike.conv_fire(x, w, T, 1.0)
    winners = fastspike.kwta(t, v, T, 2, 0)
    fastspike.stdp_update(w, x, t, winners, torch.tensor([[0.05, -0.04]] * 2), T, lb=0.2, ub=0.8)
    assert not cache.current
    check()
    cache.stdp_update(x, t, winners, torch.tensor([[0.05, -0.04]] * 2), T, lb=0.2, ub=0.8)
    assert cache.current  # patched: only the winners' features changed
    check()
    assert torch.equal(cache.tensors()[1], FinalPotentialCache(w).tensors()[1])
    for bad in (float("nan"), -0.5):
        w[0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match="weight: expected finite, non-negative weights"):
            cache(x, T, 2)


# --- uint8 and int16 times ------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 15, 255])
def test_final_potential_uint8_and_int16_times_give_the_same_results(T):
    t8, t16, _, w = uint8_and_int16_case(T)
    assert torch.equal(fastspike.final_potential(t8, w, T)[0], fastspike.final_potential(t16, w, T)[0])


def test_final_potential_never_relabelled_from_256_to_300_changes_nothing():
    t256, t300, _, w = relabelled_case()
    assert torch.equal(fastspike.final_potential(t256, w, 256)[0], fastspike.final_potential(t300, w, 300)[0])


# --- CUDA against the CPU -------------------------------------------------------------------
@pytest.mark.cuda
def test_final_potential_non_contiguous_inputs():
    T = 15
    tin, w, _, _ = non_contiguous_case(T)
    assert_same(*both(fastspike.final_potential, tin, w, T))


@pytest.mark.cuda
def test_final_potential_cuda_validation_errors():
    T = 15
    w = torch.rand(4, 3, 3, 3, device="cuda")
    tin = torch.zeros(2, 3, 6, 6, dtype=torch.uint8, device="cuda")
    for bad_value in (float("nan"), float("inf")):
        wb = w.clone()
        wb[1, 2, 0, 1] = bad_value
        with pytest.raises(ValueError, match="finite, non-negative weights"):
            fastspike.final_potential(tin, wb, T)


@pytest.mark.cuda
@pytest.mark.parametrize("B", [1, 64])
def test_decision_potential_is_one_definition(B):
    """The decision layer's P[T-1]: CUDA (float64 convolution) equals the CPU (event-driven
    or dense float64) bit for bit, for sparse and dense samples alike."""
    T = 15
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


# --- opcheck, bad inputs --------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    ops, x = torch.ops.fastspike, opcheck_inputs(device)
    rows = x.w.permute(1, 2, 3, 0).contiguous()
    torch.library.opcheck(ops.final_potential.default, (x.tin, rows, x.T, 0, 1.0))
    padded_tin = torch.nn.functional.pad(x.tin, (1, 1, 1, 1), value=x.T)
    torch.library.opcheck(ops.final_potential.default, (padded_tin, rows, x.T, 1, 0.3))
    taps = FinalPotentialCache(x.w).tensors()[1]
    torch.library.opcheck(ops.final_potential.default, (x.tin, rows, x.T, 0, 1.0, taps))


def test_bad_inputs():
    assert_bad_inputs_named("final_potential")
