"""The reward-modulated liquid example (examples/rstdp_liquid.py): its pieces and a tiny run."""

import importlib.util
import json
import math
import os
import sys
from dataclasses import replace

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "rstdp_liquid.py")


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("rstdp_liquid", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rstdp_liquid"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("rstdp_liquid", None)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_liquid_obeys_dale_and_is_sparse(ex):
    cfg = ex.Config()
    liq = ex.build_liquid(cfg, seed=3)
    ne, n = cfg.n_exc, cfg.n_exc + cfg.n_inh
    assert liq.w_in.shape == (196, n) and bool((liq.w_in >= 0).all())
    assert bool((liq.w_rec[:ne] >= 0).all()) and bool((liq.w_rec[ne:] <= 0).all())  # Dale's law by row
    assert bool((liq.w_rec.diagonal() == 0).all())
    assert abs((liq.w_in > 0).float().mean().item() - cfg.p_in) < 0.02
    # each neuron has its own input weights: no two columns alike
    assert torch.unique(liq.w_in, dim=1).shape[1] == n
    assert torch.equal(ex.build_liquid(cfg, seed=3).w_rec, liq.w_rec)  # deterministic


def test_liquid_response_depends_on_the_digit(ex, mnist):
    """Images of different digits drive different liquid neurons: the class-mean spike counts
    of 0s and 1s differ, and a nearest-class-mean rule on them separates held-out images."""
    cfg = replace(ex.Config(), T=50)
    liq = ex.build_liquid(cfg, seed=0)
    x = ex.pool_images(mnist[0].images[:600])
    y = mnist[0].labels[:600]
    counts = {}
    for digit in (0, 1):
        idx = torch.nonzero(y == digit).flatten()[:30]
        s = ex.run_liquid(liq, ex.encode(x[idx], cfg, seed=0, offset=0), cfg)
        assert s.dtype == torch.uint8 and s.shape == (len(idx), cfg.T, cfg.n_exc)
        counts[digit] = s.sum(1).float()
    for c in counts.values():
        assert c.mean() > 0.5  # the liquid is active
        assert c[0].std() > 0  # neurons differ within one image (not one shared current)
    m0, m1 = counts[0][:20].mean(0), counts[1][:20].mean(0)

    def cos(a, b):
        return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-9)

    assert cos(m0, m1) < 0.9  # different digits, different sets of active neurons
    held = torch.cat([counts[0][20:], counts[1][20:]])
    truth = torch.tensor([0] * 10 + [1] * 10)
    pred = (cos(held, m1) > cos(held, m0)).long()  # nearest class-mean pattern (cosine)
    assert (pred == truth).float().mean() >= 0.9


def test_stepping_carries_the_refractory_state(ex):
    """The liquid is stepped one lif call per step; a neuron driven hard spikes every
    n_ref + 1 steps (the refractory period is carried from step to step)."""
    cfg = replace(ex.Config(), n_exc=2, n_inh=1, p_in=1.0, w_in=1000.0, p_ee=0, p_ei=0, p_ie=0, p_ii=0)
    liq = ex.build_liquid(cfg, seed=0)
    s_in = torch.ones(1, 20, 196, dtype=torch.uint8)
    s = ex.run_liquid(liq, s_in, cfg)
    period = cfg.exc.n_ref + 1
    assert s[0, :, 0].tolist() == [1 if t % period == 0 else 0 for t in range(20)]


def test_eligibility_signs(ex):
    cfg = replace(ex.Config(), n_exc=2, a_plus=1.0, a_minus=0.5)
    T = 10
    pre = torch.zeros(T, 2, dtype=torch.uint8)
    post = torch.zeros(T, 10, dtype=torch.uint8)
    pre[2, 0] = 1  # neuron 0 fires before output 3 ...
    post[4, 3] = 1
    pre[6, 1] = 1  # ... neuron 1 after it
    trace = ex.exp_filter(pre.unsqueeze(0), cfg.tau_plus, cfg.dt)[0]
    e = ex.eligibility(trace, pre, post, torch.zeros(2), cfg)
    assert e[0, 3] == pytest.approx(math.exp(-2 / cfg.tau_plus))  # pre before post: potentiation
    assert e[1, 3] == pytest.approx(-0.5 * math.exp(-1 / cfg.tau_minus))  # post before pre: depression
    assert bool((e[:, [0, 1, 2, 4, 5, 6, 7, 8, 9]] == 0).all())  # silent outputs are not eligible
    # activity at the presynaptic baseline is not eligible (LTP measured against the average)
    e0 = ex.eligibility(trace, pre, post, trace[4].clone(), replace(cfg, a_minus=0.0))
    assert e0[:, 3].abs().max() < 1e-6


def test_rstdp_update_follows_the_reward_sign(ex):
    cfg = replace(ex.Config(), eta=0.1, w_max=1.0)
    w = torch.full((4, 10), 0.5)
    elig = torch.zeros(4, 10)
    elig[1, 2] = 1.0
    elig[3, 7] = -1.0
    up = ex.rstdp_update(w, elig, +1.0, cfg)
    down = ex.rstdp_update(w, elig, -1.0, cfg)
    assert up[1, 2] > 0.5 and down[1, 2] < 0.5  # positive eligibility: sign of r - rbar
    assert up[3, 7] < 0.5 and down[3, 7] > 0.5
    assert torch.equal(ex.rstdp_update(w, elig, 0.0, cfg), w)  # as predicted: no change
    mask = elig == 0
    assert torch.equal(up[mask], w[mask])
    big = ex.rstdp_update(w, elig * 100, 1.0, cfg)
    assert float(big.max()) == 1.0 and float(big.min()) == 0.0  # clipped to [0, w_max]


def test_critic_tracks_the_reward(ex):
    critic = ex.Critic(alpha=0.1)
    deltas = [critic.update(label=3, reward=1.0) for _ in range(50)]
    assert deltas[0] == 1.0 and all(a > b > 0 for a, b in zip(deltas[:-1], deltas[1:], strict=True))
    assert 0.99 < float(critic.rbar[3]) < 1.0
    before = float(critic.rbar[3])
    d = critic.update(label=5, reward=-1.0)  # one expected reward for all digits by default
    assert d == pytest.approx(-1.0 - before)
    assert bool((critic.rbar == critic.rbar[3]).all()) and float(critic.rbar[3]) < before
    per = ex.Critic(alpha=0.5, per_class=True)
    per.update(2, 1.0)
    assert per.rbar.tolist() == [0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0]


def test_homeostasis_and_decision(ex):
    cfg = ex.Config()
    post = torch.zeros(5, 10, dtype=torch.uint8)
    post[:, 4] = 1
    theta = ex.homeostasis(torch.zeros(10), post, cfg)
    assert theta[4] > 0 and bool((theta[torch.arange(10) != 4] < 0).all())
    assert abs(float(theta.sum())) < 1e-6
    spikes = torch.zeros(3, 5, 10, dtype=torch.uint8)
    spikes[0, :3, 7] = 1
    spikes[0, :2, 2] = 1
    spikes[1, 0, [1, 6]] = 1  # a tie: broken at random between 1 and 6
    pred = ex.decide(spikes, 1, torch.Generator().manual_seed(0))
    assert pred[0] == 7 and int(pred[1]) in (1, 6) and pred[2] == -1  # -1: no spike at all


def test_example_runs_and_learns(ex, mnist_root, tmp_path):
    """A small run of the script's main(): it learns well above chance (10%) and writes its JSON."""
    out = tmp_path / "r.json"
    r = ex.main(["--root", mnist_root, "--train", "1500", "--test", "300", "--seed", "0", "--out", str(out)])
    assert r["train_images"] == 1500 and r["test_images"] == 300
    assert r["test_accuracy"] > 0.3, r["test_accuracy"]
    saved = json.loads(out.read_text())
    assert saved["test_accuracy"] == r["test_accuracy"]
    assert saved["machine"] and saved["torch"] == torch.__version__ and saved["args"]["train"] == 1500
    w = r["readout"].w
    assert bool((w >= 0).all()) and float(w.max()) <= r["config"]["w_max"]
