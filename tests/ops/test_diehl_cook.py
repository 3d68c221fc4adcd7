"""fastspike.ops.diehl_cook (csrc/ops/diehl_cook.cpp): diehl_cook_train / diehl_cook_infer
against the per-step torch reference (the intensity retry rule, batch and thread invariance),
every CPU build, CUDA against the CPU, the operators' bad inputs and opcheck; trace_stdp
likewise. (The model, readouts, trainer and command line: tests/networks/test_diehlcook.py.)"""

import os
import subprocess
import sys

import pytest
import torch
from helpers.diehl_cook import SHORT

import fastspike.ops  # noqa: F401  (loads the compiled library and registers the fake kernels)
from fastspike.diehlcook import DiehlCook, DiehlCookParams, DiehlCookSpec, diehlcook2015
from fastspike.reference import diehl_cook_reference

HERE = os.path.dirname(os.path.abspath(__file__))


def _images(mnist, n, start=0):
    return mnist[0].images[start : start + n].reshape(n, -1).float() / 255.0


def _state(m: DiehlCook):
    return m.weight.clone(), m.theta.clone(), m.state.clone(), m.refs.clone(), m.x_pre.clone()


def _check_learn(m: DiehlCook, x, seed):
    w0, th0, st0, rf0, xp0 = _state(m)
    offset = int(m.seen)
    counts, attempts = m.learn(x, seed)
    ref = diehl_cook_reference(x, w0, th0, m.spec.params, seed, offset, True, st0, rf0, xp0)
    assert torch.equal(counts, ref["counts"])
    assert torch.equal(attempts, ref["attempts"])
    for name, got in (
        ("w", m.weight),
        ("theta", m.theta),
        ("state", m.state),
        ("refs", m.refs),
        ("x_pre", m.x_pre),
    ):
        assert torch.equal(got, ref[name]), name
    return counts, attempts


@pytest.mark.slow
def test_default_presentation_matches_the_reference(mnist):
    """The paper's presentation (350 + 150 ms at dt 0.5 ms), real digits, learning, then frozen."""
    m = DiehlCook(diehlcook2015(n_neurons=16), seed=0)
    counts, _ = _check_learn(m, _images(mnist, 2), seed=3)
    assert int(counts.sum()) > 0  # the excitatory layer spiked
    x = _images(mnist, 2, 100)
    c, a = m.respond(x, seed=5)
    ref = diehl_cook_reference(x, m.weight, m.theta, m.spec.params, 5, 0, learn=False)
    assert torch.equal(c, ref["counts"]) and torch.equal(a, ref["attempts"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_learning_matches_the_reference_over_several_calls(mnist, seed):
    """State, traces, theta and weights carried across calls; adaptive thresholds grow."""
    m = DiehlCook(diehlcook2015(n_neurons=24, **SHORT), seed=seed)
    theta0 = m.theta.clone()
    for k in range(3):
        _check_learn(m, _images(mnist, 3, 3 * k), seed)
    assert bool((m.theta != theta0).any())  # spikes raised theta (minus its slow decay)
    assert int(m.seen) == 9
    # weights stay in [0, w_max] after STDP, before the next normalisation
    assert float(m.weight.min()) >= 0 and float(m.weight.max()) <= 1.0


def test_random_intensities_refractory_edges_and_strong_inhibition():
    """Random (non-MNIST) intensities, bright enough that neurons fire at their refractory
    limit and many inhibitory spikes arrive at once; refractory periods of 0 and 1 step."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(3, 49, generator=g)
    for t_ref in (0.0, 0.5, 5.0):
        spec = DiehlCookSpec(
            params=DiehlCookParams(n_neurons=40, t_ref_e=t_ref, t_ref_i=t_ref, intensity=40.0, **SHORT),
            input_size=(7, 7),
        )
        m = DiehlCook(spec, seed=1)
        counts, _ = _check_learn(m, x, seed=2)
        assert int(counts.max()) >= 3


@pytest.mark.slow
def test_retry_rule_matches_the_reference_and_brightens(mnist):
    """Too few spikes: the image is shown again (after its rest) one intensity brighter;
    a blank image stops at max_attempts."""
    p = DiehlCookParams(n_neurons=12, min_spikes=40, max_attempts=4, intensity=0.5, **SHORT)
    m = DiehlCook(DiehlCookSpec(params=p), seed=0)
    x = torch.cat([_images(mnist, 2), torch.zeros(1, 784)])
    _, attempts = _check_learn(m, x, seed=4)
    assert int(attempts[0]) > 1 and int(attempts[2]) == 4
    c, a = m.respond(x, seed=1)
    ref = diehl_cook_reference(x, m.weight, m.theta, p, 1, 0, learn=False)
    assert torch.equal(c, ref["counts"]) and torch.equal(a, ref["attempts"])
    assert int(a[2]) == 4 and int(c[2].sum()) == 0


def test_inference_does_not_depend_on_batch_split_or_threads(mnist):
    m = DiehlCook(diehlcook2015(n_neurons=30), seed=0)
    m.learn(_images(mnist, 20), seed=0)
    x = _images(mnist, 24, 1000)
    whole, a_whole = m.respond(x, seed=9)
    parts = [m.respond(x[s : s + 5], seed=9, sample_offset=s) for s in range(0, 24, 5)]
    assert torch.equal(whole, torch.cat([c for c, _ in parts]))
    assert torch.equal(a_whole, torch.cat([a for _, a in parts]))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = m.respond(x, seed=9)
    finally:
        torch.set_num_threads(n)
    assert torch.equal(one, whole)
    # a different seed draws different spikes
    assert not torch.equal(m.respond(x, seed=10)[0], whole)
    # the network is frozen: responding changes nothing
    w = m.weight.clone()
    m.respond(x)
    assert torch.equal(w, m.weight)


_ISA_SCRIPT = r"""
import sys, torch
from fastspike.diehlcook import DiehlCook, diehlcook2015
g = torch.Generator().manual_seed(0)
x = torch.rand(4, 784, generator=g) * (torch.rand(4, 784, generator=g) > 0.7)
m = DiehlCook(diehlcook2015(n_neurons=33, t_present=100.0, t_rest=20.0), seed=0)
m.learn(x, seed=1)
c, a = m.respond(x, seed=2)
torch.save({"w": m.weight, "theta": m.theta, "state": m.state, "c": c, "a": a}, sys.argv[1])
"""


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.slow
def test_every_cpu_build_gives_the_same_bits(tmp_path):
    flags = _cpu_flags()
    isas = ["generic"] + (["avx2"] if " avx2" in flags else []) + (["avx512"] if " avx512bw" in flags else [])
    out = {}
    for isa in isas:
        path = tmp_path / f"{isa}.pt"
        env = {**os.environ, "FASTSPIKE_CPU_ISA": isa}
        subprocess.run([sys.executable, "-c", _ISA_SCRIPT, str(path)], check=True, env=env, cwd=HERE)
        out[isa] = torch.load(path, weights_only=True)
    for isa in isas[1:]:
        for k, v in out[isa].items():
            assert torch.equal(v, out["generic"][k]), (isa, k)


# ----------------------------------------------------------------------------- bad input, opcheck
def test_operators_name_the_bad_argument():
    """The operators check their arguments (the same messages on every device)."""
    m = DiehlCook(diehlcook2015(n_neurons=4, **SHORT))
    x = torch.rand(2, 784)
    ops = torch.ops.fastspike
    f, n = m.spec.params.packed()
    with pytest.raises(RuntimeError, match="negative rates"):
        ops.diehl_cook_infer(-x, m.weight, m.theta, f, n, 0, 0)
    with pytest.raises(RuntimeError, match="x: .*finite|finite.*x"):
        ops.diehl_cook_infer(torch.full_like(x, float("nan")), m.weight, m.theta, f, n, 0, 0)
    bad = list(f)
    bad[23] = 0.0
    with pytest.raises(RuntimeError, match="dt: expected a positive step"):
        ops.diehl_cook_infer(x, m.weight, m.theta, bad, n, 0, 0)
    with pytest.raises(RuntimeError, match="T >= 1"):
        ops.diehl_cook_infer(x, m.weight, m.theta, f, [n[0], n[1], 0, *n[3:]], 0, 0)
    with pytest.raises(RuntimeError, match="params: expected 27"):
        ops.diehl_cook_infer(x, m.weight, m.theta, f[:-1], n, 0, 0)
    with pytest.raises(RuntimeError, match="w: expected 784 input rows"):
        ops.diehl_cook_infer(x, m.weight[:10], m.theta, f, n, 0, 0)
    with pytest.raises(RuntimeError, match="theta"):
        ops.diehl_cook_infer(x, m.weight, m.theta[:2], f, n, 0, 0)
    with pytest.raises(RuntimeError, match="state: expected contiguous float32"):
        ops.diehl_cook_train(x, m.weight, m.theta, m.state[:3], m.refs, m.x_pre, f, n, 0, 0)
    with pytest.raises(RuntimeError, match="seed"):
        ops.diehl_cook_infer(x, m.weight, m.theta, f, n, -1, 0)


def test_opcheck():
    m = DiehlCook(diehlcook2015(n_neurons=8, t_present=20.0, t_rest=5.0), seed=0)
    x = torch.rand(3, 784) * (torch.rand(3, 784) > 0.6)
    f, n = m.spec.params.packed()
    ops = torch.ops.fastspike
    torch.library.opcheck(ops.diehl_cook_infer, (x, m.weight, m.theta, f, n, 1, 0))
    torch.library.opcheck(
        ops.diehl_cook_train,
        (x, m.weight.clone(), m.theta.clone(), m.state.clone(), m.refs.clone(), m.x_pre.clone(), f, n, 1, 0),
    )


# ----------------------------------------------------------------------------- CUDA
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("n_neurons", [40, 300])
def test_cuda_equals_cpu_bit_for_bit(mnist, n_neurons):
    """Learning (one block, images in order) and inference (a block per image) on the GPU
    give the CPU's bits: the same functions, the same float order, the same Philox words."""
    cpu = DiehlCook(diehlcook2015(n_neurons=n_neurons, t_present=150.0, t_rest=50.0), seed=0)
    gpu = copy_to(cpu, "cuda")
    x = _images(mnist, 6)
    c1, a1 = cpu.learn(x, seed=2)
    c2, a2 = gpu.learn(x, seed=2)
    assert torch.equal(c1, c2.cpu()) and torch.equal(a1, a2.cpu())
    for k, v in cpu.state_dict().items():
        assert torch.equal(v, gpu.state_dict()[k].cpu()), k
    x = torch.cat([_images(mnist, 20, 500), torch.zeros(1, 784)])
    c1, a1 = cpu.respond(x, seed=3)
    c2, a2 = gpu.respond(x, seed=3)
    assert torch.equal(c1, c2.cpu()) and torch.equal(a1, a2.cpu())


def copy_to(m: DiehlCook, device) -> DiehlCook:
    out = DiehlCook(m.spec)
    out.load_state_dict(m.state_dict())
    return out.to(device)


# ----------------------------------------------------------------------------- trace STDP
@pytest.mark.parametrize("normalise", [True, False])
def test_trace_stdp_matches_the_per_step_reference(mnist, normalise):
    """Random and real (MNIST Poisson) trains, simultaneous pre and post spikes, weights
    driven to both bounds, the traces carried across calls."""
    from fastspike.diehlcook import trace_stdp
    from fastspike.reference import trace_stdp_reference
    from fastspike.spiketrain import poisson_encode

    g = torch.Generator().manual_seed(0)
    p = DiehlCookParams(nu_pre=0.05, nu_post=0.2, w_max=0.3)  # large rates: both clamps hit
    pre_rand = (torch.rand(2, 40, 50, generator=g) < 0.2).to(torch.uint8)
    post_rand = (torch.rand(2, 40, 30, generator=g) < 0.1).to(torch.uint8)
    x = _images(mnist, 2)
    pre_real = poisson_encode(x, 300, 63.75 * 4, 5e-4, seed=1)  # [2, 300, 784]
    post_real = (torch.rand(2, 300, 30, generator=g) < 0.02).to(torch.uint8)
    for pre, post in ((pre_rand, post_rand), (pre_real, post_real)):
        w = torch.rand(pre.shape[2], 30, generator=g) * 0.3
        xp, y = torch.zeros(pre.shape[2]), torch.zeros(2, 30)
        for half in (slice(0, 1), slice(1, 2)):  # two calls: the traces carry over
            ref = trace_stdp_reference(pre[half], post[half], w, xp, y, p, normalise)
            trace_stdp(pre[half], post[half], w, xp, y, p, normalise)
            assert torch.equal(w, ref[0]) and torch.equal(xp, ref[1]) and torch.equal(y, ref[2])
        assert float(w.min()) == 0.0 or not normalise
    assert float(w.max()) <= 0.3 + 1e-6 or normalise


def test_trace_stdp_rejects_bad_input_and_passes_opcheck():
    from fastspike.diehlcook import trace_stdp

    pre = torch.zeros(1, 5, 8, dtype=torch.uint8)
    post = torch.zeros(1, 5, 4, dtype=torch.uint8)
    w, xp, y = torch.rand(8, 4), torch.zeros(8), torch.zeros(2, 4)
    with pytest.raises(RuntimeError, match="pre: expected uint8"):
        trace_stdp(pre.float(), post, w, xp, y)
    with pytest.raises(RuntimeError, match="T >= 1"):
        trace_stdp(pre[:, :0], post[:, :0], w, xp, y)
    with pytest.raises(RuntimeError, match="w: expected contiguous float32 \\[8, 4\\]"):
        trace_stdp(pre, post, w.T.contiguous(), xp, y)
    with pytest.raises(RuntimeError, match="w: .*finite"):
        trace_stdp(pre, post, torch.full((8, 4), float("nan")), xp, y)
    with pytest.raises(RuntimeError, match="y: expected"):
        trace_stdp(pre, post, w, xp, torch.zeros(4))
    pre[0, 1, 2] = post[0, 2, 1] = 1
    torch.library.opcheck(
        torch.ops.fastspike.trace_stdp, (pre, post, w, xp, y, [1e-4, 1e-2, 0.9, 0.9, 0.95, 1.0, 78.0])
    )


@cuda
def test_trace_stdp_cuda_equals_cpu():
    from fastspike.diehlcook import trace_stdp

    g = torch.Generator().manual_seed(3)
    pre = (torch.rand(3, 60, 100, generator=g) < 0.1).to(torch.uint8)
    post = (torch.rand(3, 60, 70, generator=g) < 0.05).to(torch.uint8)
    w = torch.rand(100, 70, generator=g)
    xp, y = torch.zeros(100), torch.zeros(2, 70)
    wc, xc, yc = w.cuda(), xp.cuda(), y.cuda()
    trace_stdp(pre, post, w, xp, y)
    trace_stdp(pre.cuda(), post.cuda(), wc, xc, yc)
    assert torch.equal(w, wc.cpu()) and torch.equal(xp, xc.cpu()) and torch.equal(y, yc.cpu())


def test_trace_stdp_wrapper_takes_the_packed_constants():
    """fastspike.diehlcook.trace_stdp packs the rule's constants for the operator's typed
    wrapper, fastspike.ops.diehl_cook.trace_stdp (the same bits)."""
    import math

    from fastspike.diehlcook import trace_stdp
    from fastspike.ops import diehl_cook

    g = torch.Generator().manual_seed(4)
    pre = (torch.rand(2, 30, 20, generator=g) < 0.2).to(torch.uint8)
    post = (torch.rand(2, 30, 10, generator=g) < 0.1).to(torch.uint8)
    p = DiehlCookParams(nu_pre=0.05, nu_post=0.2, w_max=0.3)
    state = [torch.rand(20, 10, generator=g) * 0.3, torch.zeros(20), torch.zeros(2, 10)]
    a, b = [t.clone() for t in state], [t.clone() for t in state]
    trace_stdp(pre, post, *a, p)
    decay = [math.exp(-p.dt / tau) for tau in (p.tau_pre, p.tau_post1, p.tau_post2)]
    diehl_cook.trace_stdp(pre, post, *b, [p.nu_pre, p.nu_post, *decay, p.w_max, p.norm])
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], state[0])
