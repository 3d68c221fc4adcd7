"""Inputs, oracles and comparisons shared by the operator tests (tests/ops/)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import torch
from conftest import HAS_CUDA, dyadic_weights, random_times

import fastspike.ops  # noqa: F401  (loads the compiled library and registers the fake kernels)

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the devices every operator runs on here
DEVICES = ["cpu"] + (["cuda"] if HAS_CUDA else [])


def potentials(B, T, shape, gen, dtype=torch.float32):
    """Monotone potentials with many values exactly on small integers."""
    steps = torch.randint(0, 3, (B, T, *shape), generator=gen).float()
    return steps.cumsum(1).to(dtype)


def decision_weights(shape, g):
    """Weights in the R-STDP bounds [0.2, 0.8] (the decision layer's)."""
    return (0.5 + 0.15 * torch.randn(shape, generator=g)).clamp(0.2, 0.8)


# --- the inhibition operators ---------------------------------------------------------------
def to_thresholded(times, values, T):
    """The reference's [T, F, H, W] thresholded potentials for one sample: V from the first spike on."""
    steps = torch.arange(T).view(T, 1, 1, 1)
    return torch.where(steps >= times.long().unsqueeze(0), values.unsqueeze(0), torch.zeros(()))


def tied_inputs(B, F, H, W, T, gen, n_values=3, p_never=0.5):
    """Few distinct times and values, so ties in time and potential are everywhere."""
    times = random_times((B, F, H, W), T, gen, p_never=p_never)
    values = torch.randint(1, n_values + 1, (B, F, H, W), generator=gen).float() * 0.5 + 10
    values = torch.where(times < T, values, torch.zeros(()))
    return times, values


# --- CUDA against the CPU -------------------------------------------------------------------
def both(fn, *args, **kw):
    """``fn`` on the CPU and on CUDA (every tensor argument copied there)."""
    cpu = fn(*args, **kw)
    gpu = fn(*[a.cuda() if isinstance(a, torch.Tensor) else a for a in args], **kw)
    return cpu, gpu


def assert_same(cpu, gpu):
    """The CUDA results are on CUDA and equal the CPU's bit for bit (nested tuples, ``None``)."""
    if isinstance(cpu, (tuple, list)):
        for a, b in zip(cpu, gpu, strict=False):
            assert_same(a, b)
    elif cpu is None:
        assert gpu is None
    else:
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)


def non_contiguous_case(T):
    """Input times ``[3, 4, 10, 12]`` and weights ``[6, 4, 3, 3]``, neither contiguous, and
    the contiguous layer's output ``(times, values)`` transposed (not contiguous either)."""
    g = torch.Generator().manual_seed(5)
    tin = random_times((3, 4, 12, 10), T, g).transpose(2, 3)  # [3, 4, 10, 12], not contiguous
    w = torch.rand(6, 3, 4, 3, generator=g).permute(0, 2, 1, 3)  # [6, 4, 3, 3], not contiguous
    assert not tin.is_contiguous() and not w.is_contiguous()
    times, values, _ = fastspike.ops.conv_fire(tin.contiguous(), w.contiguous(), T, 2.0)
    return tin, w, times.transpose(2, 3), values.transpose(2, 3)


# --- uint8 and int16 first-spike times ------------------------------------------------------
def relabel(t, T_from, T_to):
    """The same spikes with "never" written ``T_to`` instead of ``T_from``."""
    return torch.where(t >= T_from, torch.full_like(t, T_to), t)


def values_of(times, T, g):
    """Random potentials at the first spike (0 where never)."""
    return torch.where(times < T, torch.rand(times.shape, generator=g) + 1, torch.zeros(()))


def uint8_and_int16_case(T):
    """``(t8, t16, values, weight)``: the same random times as uint8 and int16, their
    values and conv weights ``[5, 6, 3, 3]``."""
    g = torch.Generator().manual_seed(T)
    t8 = random_times((3, 6, 9, 9), T, g, p_never=0.4)
    v = values_of(t8, T, g)
    w = torch.rand(5, 6, 3, 3, generator=g)
    return t8, t8.to(torch.int16), v, w


def relabelled_case():
    """``(t256, t300, values, weight)``: int16 times with "never" = 256 (a neuron firing
    at 255 included), the same spikes with never = 300, values and conv weights."""
    g = torch.Generator().manual_seed(256)
    t256 = random_times((3, 6, 9, 9), 256, g, p_never=0.4, dtype=torch.int16)
    t256[0, 0, 0, :3] = 255  # the last step before never
    t300 = relabel(t256, 256, 300)
    assert int(t256.max()) == 256 and int(t300.max()) == 300
    v = values_of(t256, 256, g)
    w = torch.rand(5, 6, 3, 3, generator=g)
    return t256, t300, v, w


# --- torch.library.opcheck ------------------------------------------------------------------
def opcheck_inputs(device):
    """Small valid arguments for every operator on ``device``: ``T``, input times ``tin``
    ``[2, 3, 8, 8]``, dyadic weights ``w`` ``[4, 3, 3, 3]``, potentials ``pot``, the
    layer's output ``tout``/``vout``, its k-WTA ``winners`` and STDP rates ``lr``."""
    ops = torch.ops.fastspike
    g = torch.Generator().manual_seed(0)
    T = 15
    tin = random_times((2, 3, 8, 8), T, g).to(device)
    w = dyadic_weights((4, 3, 3, 3), g).to(device)
    pot = torch.rand(2, T, 3, 5, generator=g).cumsum(1).to(device)
    tout, vout, _ = ops.conv_fire(tin, w, T, 1.0, False)
    winners = ops.kwta(tout, vout, T, 2, 1, False)
    lr = torch.tensor([[0.01, -0.01], [0.02, -0.01]], device=device)
    return SimpleNamespace(T=T, tin=tin, w=w, pot=pot, tout=tout, vout=vout, winners=winners, lr=lr)


# --- the bad-input corpus (tests/helpers/bad_input_corpus.py) ---------------------------------------
@functools.lru_cache(maxsize=1)
def bad_input_results() -> tuple[int, tuple[dict, ...]]:
    """``(n, results)``: the corpus run once per test process, in a subprocess so that a
    crash is a test failure that names the case, not a dead test run. Raises
    ``AssertionError`` naming the running case when the subprocess ended early."""
    proc = subprocess.run(
        [sys.executable, os.path.join(TESTS, "helpers", "bad_input_corpus.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    lines = proc.stdout.splitlines()
    n = json.loads(lines[0])["n"]
    results = [json.loads(ln) for ln in lines[1:] if ln.startswith("{")]
    started = [int(ln.split()[1]) for ln in lines if ln.startswith("START ")]
    if proc.returncode != 0 or len(results) != n:
        crashed = started[-1] if started else None
        raise AssertionError(
            f"the corpus process ended with status {proc.returncode} after {len(results)} of {n} cases; "
            f"case {crashed} was running\n{proc.stderr[-3000:]}"
        )
    return n, tuple(results)


#: the corpus's operators, each checked by its tests/ops module (the rest: tests/surface/test_bad_inputs.py)
OPERATORS = (
    "conv_fire",
    "final_potential",
    "fire",
    "first_spike",
    "first_spike_from_wave",
    "kwta",
    "pointwise_inhibition",
    "pool_times",
    "spike_wave",
    "stdp_update",
)


def assert_bad_inputs_named(*ops: str) -> None:
    """Every corpus case of the operators ``ops`` got an error that names the mutated
    argument (or, for valid input, the equivalent call's result)."""
    assert set(ops) <= set(OPERATORS), ops
    _, results = bad_input_results()
    mine = [r for r in results if r["case"].split(":")[0] in ops]
    assert mine, ops
    bad = [r for r in mine if r["status"] not in ("named", "equal")]
    assert not bad, "\n".join(f"{r['case']}: {r['status']} ({r['detail']})" for r in bad)
