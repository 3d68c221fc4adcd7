"""Fused multi-step LIF and Izhikevich kernels against the per-step reference loops.

Same spikes (same step, same neuron), same final states and the same v trace, bit for bit,
on random and real (MNIST-driven) currents, at T up to 1,000; refractory edges, threshold
equality, Izhikevich resets and the compat order; opcheck; bad inputs."""

import math

import pytest
import torch

from fastspike import neurons
from fastspike import reference as ref
from fastspike.neurons import LIF, Izhikevich


def _lif_case(B, T, shape, gen, scale=30.0):
    cur = torch.rand((B, T, *shape), generator=gen) * scale
    v0 = -65.0 + 15.0 * torch.rand((B, *shape), generator=gen)
    ref0 = torch.randint(0, 4, (B, *shape), generator=gen, dtype=torch.int32)
    return cur, v0, ref0


def _assert_lif(cur, params, v0, ref0):
    got = neurons.lif(cur, params, v0, ref0, return_trace=True)
    s, v, r, tr = ref.lif_reference(cur, params, v0, ref0)
    assert torch.equal(got.spikes, s)
    assert torch.equal(got.v, v) and torch.equal(got.state, r) and torch.equal(got.trace, tr)
    return got


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize(
    "T,shape,t_ref", [(1, (7,), 2.0), (50, (3, 5), 0.0), (300, (33,), 5.0), (1000, (4, 2), 3.0)]
)
def test_lif_matches_reference(exact, T, shape, t_ref):
    g = torch.Generator().manual_seed(T + int(exact))
    cur, v0, ref0 = _lif_case(3, T, shape, g)
    p = LIF(tau_m=10.0, t_ref=t_ref, exact=exact, dt=0.5)
    got = _assert_lif(cur, p, v0, ref0)
    if T >= 50:
        n = int(got.spikes.sum())
        assert 0 < n < got.spikes.numel()  # the case spikes, but not always


def test_lif_refractory_edges_and_threshold_equality():
    """A constant current that reaches v_th exactly: spike at that step (>=), then exactly
    n_ref silent steps at v_reset, whatever the input, then integration again."""
    p = LIF(tau_m=1.0, v_rest=0.0, v_reset=0.0, v_th=1.0, R=1.0, t_ref=3.0, dt=1.0)  # k = 1: v = I
    cur = torch.tensor([0.5, 1.0, 9.0, 9.0, 9.0, 1.0, 0.999, 1.0]).view(1, 8, 1)
    got = _assert_lif(cur, p, torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.int32))
    assert got.spikes.view(-1).tolist() == [0, 1, 0, 0, 0, 1, 0, 0]
    # a neuron that starts refractory ignores its input for ref0 steps
    got = _assert_lif(cur, p, torch.zeros(1, 1), torch.full((1, 1), 2, dtype=torch.int32))
    assert got.spikes.view(-1).tolist()[:3] == [0, 0, 1]
    # t_ref = 0: no refractory step at all
    p0 = LIF(tau_m=1.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=0.0)
    got = _assert_lif(torch.full((1, 5, 1), 2.0), p0, torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.int32))
    assert got.spikes.view(-1).tolist() == [1] * 5


def test_lif_on_real_mnist_poisson_input(mnist):
    """784 Poisson inputs (fastspike.spiketrain) through random weights into 100 LIF neurons."""
    from fastspike.spiketrain import poisson_encode

    train, _ = mnist
    x = train.images[:8].float().reshape(8, -1) / 255.0
    spikes_in = poisson_encode(x, 250, r_max=63.75, dt=0.001, seed=1)
    g = torch.Generator().manual_seed(0)
    w = torch.rand(784, 100, generator=g) * 6.0
    cur = spikes_in.float() @ w  # [8, 250, 100]
    p = LIF(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, t_ref=5.0, dt=1.0)
    got = _assert_lif(cur, p, torch.full((8, 100), -65.0), torch.zeros(8, 100, dtype=torch.int32))
    assert 0 < int(got.spikes.sum()) < got.spikes.numel() // 4


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("n_sub,dt,T", [(2, 1.0, 200), (1, 0.5, 1000), (4, 1.0, 37)])
def test_izhikevich_matches_reference(compat, n_sub, dt, T):
    g = torch.Generator().manual_seed(T + n_sub)
    cur = torch.rand((2, T, 4, 6), generator=g) * 20.0
    v0 = -70.0 + 40.0 * torch.rand((2, 4, 6), generator=g)  # some start at or above 30 mV
    v0[0, 0, 0] = 30.0  # exactly the threshold
    u0 = 0.2 * v0
    p = Izhikevich(dt=dt, n_sub=n_sub, compat=compat)
    got = neurons.izhikevich(cur, p, v0, u0, return_trace=True)
    s, v, u, tr = ref.izhikevich_reference(cur, p, v0, u0)
    assert torch.equal(got.spikes, s) and torch.equal(got.v, v) and torch.equal(got.state, u)
    assert torch.equal(got.trace, tr)
    assert int(s.sum()) > 0


def test_izhikevich_reset_and_compat_delay():
    """A regular-spiking neuron driven at I = 10: after a spike v = c and u grows by d;
    compat spikes come exactly one step later (test before integrating)."""
    cur = torch.full((1, 300, 1), 10.0)
    p = Izhikevich()
    got = neurons.izhikevich(cur, p, return_trace=True)
    t = got.spikes.view(-1).nonzero().view(-1)
    assert t.numel() >= 3
    assert torch.all(got.trace.view(-1)[t] == p.c)  # reset where it spiked
    late = neurons.izhikevich(cur, Izhikevich(compat=True)).spikes.view(-1).nonzero().view(-1)
    assert late[0] == t[0] + 1
    # u jumps by d at a spike: compare with the step before
    s, v, u, _ = ref.izhikevich_reference(
        cur[:, : int(t[0]) + 1], p, torch.full((1, 1), p.c), torch.full((1, 1), p.b * p.c)
    )
    s2, v2, u2, _ = ref.izhikevich_reference(
        cur[:, : int(t[0])], p, torch.full((1, 1), p.c), torch.full((1, 1), p.b * p.c)
    )
    assert float(v) == p.c and float(u) > float(u2) + p.d * 0.9


def test_defaults_and_empty_batch():
    cur = torch.zeros(0, 5, 3)
    out = neurons.lif(cur)
    assert out.spikes.shape == (0, 5, 3) and out.v.shape == (0, 3) and out.trace is None
    out = neurons.izhikevich(torch.zeros(2, 3, 4))
    assert out.v.shape == (2, 4) and int(out.spikes.sum()) == 0  # at rest, no input: silent


def test_opcheck():
    g = torch.Generator().manual_seed(5)
    cur, v0, ref0 = _lif_case(2, 9, (3,), g)
    k, a, b = LIF().coefficients()
    for trace in (False, True):
        torch.library.opcheck(
            torch.ops.fastspike.lif_run, (cur, v0, ref0, k, a, b, -65.0, -65.0, -52.0, 1.0, 2, False, trace)
        )
        torch.library.opcheck(
            torch.ops.fastspike.izhikevich_run,
            (cur, v0, v0 * 0.2, 0.02, 0.2, -65.0, 8.0, 1.0, 2, False, trace),
        )


def test_compiles():
    f = torch.compile(lambda c: neurons.lif(c, LIF(exact=True)).spikes, fullgraph=True)
    cur = torch.rand(2, 20, 5) * 40
    assert torch.equal(f(cur), neurons.lif(cur, LIF(exact=True)).spikes)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: LIF(dt=0.0), "dt: expected a positive"),
        (lambda: LIF(dt=-1.0), "dt: expected a positive"),
        (lambda: LIF(tau_m=math.nan), "tau_m"),
        (lambda: LIF(t_ref=-1.0), "t_ref"),
        (lambda: Izhikevich(dt=0.0), "dt: expected a positive"),
        (lambda: Izhikevich(n_sub=0), "n_sub"),
        (lambda: Izhikevich(a=math.inf), "a: expected a finite"),
        (lambda: neurons.lif(torch.zeros(2, 0, 3)), "T >= 1"),
        (lambda: neurons.izhikevich(torch.zeros(2, 0, 3)), "T >= 1"),
        (lambda: neurons.lif(torch.zeros(2, 3)), None),
        (lambda: neurons.lif(torch.zeros(3), LIF()), r"current: expected shape \[B, T"),
        (lambda: neurons.lif(torch.zeros(2, 3, 4, dtype=torch.float64)), "current: expected dtype float32"),
        (lambda: neurons.lif(torch.full((1, 2, 2), math.nan)), "current: expected finite values"),
        (lambda: neurons.izhikevich(torch.full((1, 2, 2), math.inf)), "current: expected finite values"),
        (lambda: neurons.lif(torch.zeros(1, 2, 2), v0=torch.zeros(1, 3)), "v0: expected shape"),
        (lambda: neurons.lif(torch.zeros(1, 2, 2), ref0=torch.zeros(1, 2)), "ref0: expected dtype"),
        (
            lambda: neurons.lif(torch.zeros(1, 2, 2), ref0=torch.full((1, 2), -1, dtype=torch.int32)),
            "ref0: expected refractory steps >= 0",
        ),
        (
            lambda: neurons.izhikevich(torch.zeros(1, 2, 2), u0=torch.full((1, 2), math.nan)),
            "u0: expected finite",
        ),
        (
            lambda: neurons.lif(torch.zeros(1, 2, 2), params=Izhikevich()),
            "params: expected a fastspike.neurons.LIF",
        ),
    ],
)
def test_bad_inputs(call, match):
    if match is None:  # [B, T] with no neuron dimensions is fine: one neuron per sample
        assert call().spikes.shape == (2, 3)
        return
    with pytest.raises((ValueError, TypeError, RuntimeError), match=match):
        call()


@pytest.mark.cuda
@pytest.mark.parametrize("exact", [False, True])
def test_cuda_matches_cpu(exact):
    g = torch.Generator().manual_seed(11)
    cur, v0, ref0 = _lif_case(4, 700, (50,), g)
    p = LIF(tau_m=10.0, t_ref=3.0, exact=exact)
    a = neurons.lif(cur, p, v0, ref0, return_trace=True)
    b = neurons.lif(cur.cuda(), p, v0.cuda(), ref0.cuda(), return_trace=True)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y.cpu())
    for compat in (False, True):
        q = Izhikevich(compat=compat)
        a = neurons.izhikevich(cur, q, return_trace=True)
        b = neurons.izhikevich(cur.cuda(), q, return_trace=True)
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y.cpu())
    with pytest.raises(ValueError, match="current: expected finite"):
        neurons.lif(torch.full((1, 2, 2), math.nan, device="cuda"))
