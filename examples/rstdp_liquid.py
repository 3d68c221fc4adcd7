"""Reward-modulated STDP readout of a recurrent LIF "liquid" on MNIST.

    python examples/rstdp_liquid.py --train 30000 --val 2000 --test 10000   # ~4 min, 1 core
    python examples/rstdp_liquid.py --quick                                 # ~20 s

A liquid state machine (Maass, Natschlaeger and Markram 2002) whose readout is trained
by reward-modulated STDP with a critic (Izhikevich 2007; Florian 2007; Fremaux, Sprekeler
and Gerstner 2010). The reward, one scalar per image, is the only supervision signal.

Methods
-------
*Input.* Each MNIST image is average-pooled 2x2 to 14x14 = 196 intensities ``x`` in
[0, 1], then rate-coded over ``T`` steps of ``dt`` with
:func:`fastspike.spiketrain.poisson_encode`: pixel ``p`` spikes at step ``t`` with
probability ``x_p * r_max * dt``, independently (Philox draws keyed by the seed and the
image's global index, so a run is reproducible and independent of the batch size).

*Liquid.* ``n_exc`` excitatory and ``n_inh`` inhibitory LIF neurons
(:func:`fastspike.neurons.lif`, Euler steps, refractory periods),

    v(t+1) = v(t) + dt / tau_m * (v_rest - v(t) + R I(t)),  spike when v >= v_th,
    then v = v_reset for t_ref,

driven by current-based exponential synapses

    I(t) = exp(-dt / tau_syn) I(t-1) + W_in^T s_in(t) + W_rec^T s_liq(t-1).

``W_in`` [196, n] is random and sparse (each neuron sees a fraction ``p_in`` of the
pixels, with its own positive weights), so different digits drive different neurons.
``W_rec`` is sparse and random with Dale's law: rows of excitatory neurons are >= 0,
rows of inhibitory neurons <= 0, with connection probabilities ``p_ee``, ``p_ei``,
``p_ie``, ``p_ii``. The liquid is fixed (no plasticity), so it is simulated for a batch
of images at once, one time step per :func:`~fastspike.neurons.lif` call (``T = 1``, the
membrane potential and refractory counter carried from step to step), because the
recurrent input at ``t`` needs the spikes of ``t - 1``.

*Readout.* ``10 k`` output LIF neurons (``k`` per digit; ``k = 1`` by default) receive
the excitatory liquid spikes through plastic weights ``W_out >= 0`` (the same synapse
model), a homeostatic bias current ``-theta_j`` and lateral inhibition from the other
output neurons (a soft winner-take-all, stepped like the liquid):

    I_j(t) = sum_i W_ij syn_i(t) - theta_j - L_j(t),
    L_j(t) = exp(-dt / tau_syn) L_j(t-1) + w_lat sum_{j' != j} s_j'(t-1).

The decision is the digit whose output population fired most (a tie between the top
counts is broken at random; no output spike at all counts as wrong).

*R-STDP.* Spike traces ``x_i(t) = exp(-dt / tau_plus) x_i(t-1) + s_i(t)`` (pre, liquid)
and ``y_j(t) = exp(-dt / tau_minus) y_j(t-1) + s_j(t)`` (post, output) give the
eligibility of synapse ``i -> j`` accumulated over the image's presentation,

    e_ij = A_plus sum_t (x_i(t) - xbar_i) s_j(t) - A_minus sum_t y_j(t-1) (s_i(t) - pbar_i)

(pre-before-post potentiates, post-before-pre depresses), where the presynaptic
activity is measured against its running average (``xbar_i``, updated after every
image, and ``pbar_i`` the matching mean spike probability per step). Without that
baseline, every liquid neuron that fires for most digits would be potentiated with
every rewarded decision, and the readout would learn the average digit. At the end of
each image the environment returns the reward ``r = +1`` if the decision is the label
and ``-1`` otherwise; a critic, the running average of the reward for the digit shown
``rbar_c <- rbar_c + alpha (r - rbar_c)`` (the stimulus-specific critic of Fremaux et al.
2010; ``critic_per_class=False``: one average for all images, about one point lower on
validation), turns it into a reward-prediction error that gates the weight change:

    W_out <- clip(W_out + eta_n (r - rbar_c) e, 0, w_max),  eta_n = eta / (1 + n / n_eta),

``n`` the number of images seen. The homeostatic bias follows each neuron's share of
the output spikes, ``theta_j <- theta_j + gamma (n_j / sum_j' n_j' - 1 / 10k)``, so every
output neuron keeps winning some images (exploration) and none takes over; it uses no
label. The updates are applied image by image in the order of the training set
(sequential semantics: image ``n`` is classified, and rewarded, with the weights left by
images ``0 .. n-1``; its liquid activity does not depend on them and is computed in
batches of 100 images beforehand).

Hyper-parameters (input rate and weights with a linear probe of the liquid's spike
counts, then the readout's) were chosen on images 50,000-51,999 of the training set,
never on the test set; ``--val N`` reports accuracy on images 50,000.. (the training
images are then limited to the first 50,000). Test images use Poisson draws of their own
(global indices 60,000..), and each training epoch fresh ones.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.data import load_dataset
from fastspike.neurons import LIF, lif
from fastspike.spiketrain import poisson_encode

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.environ.get("FASTSPIKE_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
N_CLASSES = 10
VAL_START = 50_000  # images VAL_START.. of the training set: the held-out tuning split


@dataclass(frozen=True)
class Config:
    """Every hyper-parameter of the model (times in ms, potentials in mV, rates in Hz;
    a current of 1 drives the membrane 1 mV above rest at steady state, ``R = 1``)."""

    # input coding
    T: int = 100  # time steps per image
    dt: float = 1.0  # step (ms)
    r_max: float = 200.0  # rate of a white pixel (Hz)
    # liquid
    n_exc: int = 400
    n_inh: int = 100
    p_in: float = 0.1  # fraction of the 196 pixels that reach each liquid neuron
    w_in: float = 16.0  # mean input weight (weights uniform in [0.5, 1.5] x mean)
    p_ee: float = 0.1  # connection probabilities, E -> E ...
    p_ei: float = 0.2  # E -> I
    p_ie: float = 0.2  # I -> E
    p_ii: float = 0.2  # I -> I
    w_ee: float = 1.0  # mean weights (magnitudes; the I -> * weights are negative)
    w_ei: float = 2.0
    w_ie: float = 4.0
    w_ii: float = 2.0
    tau_syn: float = 5.0  # synaptic current decay
    exc: LIF = field(default_factory=lambda: LIF(tau_m=20.0, t_ref=2.0))  # rest -65, threshold -52 mV
    inh: LIF = field(default_factory=lambda: LIF(tau_m=10.0, t_ref=1.0))
    # readout
    k: int = 1  # output neurons per digit
    out: LIF = field(default_factory=lambda: LIF(tau_m=20.0, t_ref=2.0))
    w_init: float = 1.0  # initial weights uniform in [0, w_init]
    w_max: float = 2.0
    w_lat: float = 60.0  # lateral inhibition between output neurons (0: none)
    gamma: float = 0.1  # homeostasis rate (bias current per image)
    # R-STDP
    tau_plus: float = 20.0  # pre trace
    tau_minus: float = 20.0  # post trace
    a_plus: float = 1.0
    a_minus: float = 0.3
    eta: float = 0.005  # learning rate ...
    eta_decay: float = 5000.0  # ... divided by 1 + n / eta_decay after n images (0: constant)
    baseline_rate: float = 0.01  # presynaptic baseline: running-average rate per image
    critic_alpha: float = 0.05  # critic: running-average rate per image
    critic_per_class: bool = True  # one expected reward per digit (False: one overall)


# ----------------------------------------------------------------------------- data


def pool_images(images: Tensor) -> Tensor:
    """uint8 ``[N, 28, 28]`` -> float32 ``[N, 196]`` in [0, 1]: 2x2 average pooling."""
    x = images.float().div_(255.0).unsqueeze(1)
    return F.avg_pool2d(x, 2).flatten(1)


def load_mnist(root: str) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_train, y_train), (x_test, y_test))``, pooled, from ``root/MNIST/raw`` (no download)."""
    train, test = load_dataset("mnist", root, download=False)
    return (pool_images(train.images), train.labels), (pool_images(test.images), test.labels)


def encode(x: Tensor, cfg: Config, seed: int, offset: int) -> Tensor:
    """Poisson spike trains uint8 ``[B, T, 196]`` for the images with global indices
    ``offset .. offset + B - 1`` (rate ``x * r_max``; ``dt`` converted to seconds)."""
    return poisson_encode(x, cfg.T, cfg.r_max, cfg.dt * 1e-3, seed, sample_offset=offset)


# ----------------------------------------------------------------------------- liquid


@dataclass
class Liquid:
    """A fixed random recurrent network: neurons ``0 .. n_exc-1`` excitatory, the rest inhibitory."""

    w_in: Tensor  # [196, n] >= 0, sparse
    w_rec: Tensor  # [n, n]; row i = the outgoing weights of neuron i (Dale's law by row)
    n_exc: int


def _sparse(gen: torch.Generator, rows: int, cols: int, p: float, mean: float) -> Tensor:
    """A ``rows x cols`` matrix whose entries are nonzero with probability ``p``, with
    weights drawn uniformly in ``[0.5, 1.5] * mean``."""
    mask = torch.rand(rows, cols, generator=gen) < p
    return mask * (mean * (0.5 + torch.rand(rows, cols, generator=gen)))


def build_liquid(cfg: Config, seed: int, n_in: int = 196) -> Liquid:
    """Draw the input and recurrent weights (deterministic for a given ``seed``)."""
    gen = torch.Generator().manual_seed(seed)
    ne, ni = cfg.n_exc, cfg.n_inh
    w_in = _sparse(gen, n_in, ne + ni, cfg.p_in, cfg.w_in)
    w_rec = torch.zeros(ne + ni, ne + ni)
    w_rec[:ne, :ne] = _sparse(gen, ne, ne, cfg.p_ee, cfg.w_ee)  # E -> E
    w_rec[:ne, ne:] = _sparse(gen, ne, ni, cfg.p_ei, cfg.w_ei)  # E -> I
    w_rec[ne:, :ne] = -_sparse(gen, ni, ne, cfg.p_ie, cfg.w_ie)  # I -> E (negative)
    w_rec[ne:, ne:] = -_sparse(gen, ni, ni, cfg.p_ii, cfg.w_ii)  # I -> I (negative)
    w_rec.fill_diagonal_(0.0)  # no autapses
    return Liquid(w_in, w_rec, ne)


def run_liquid(liquid: Liquid, s_in: Tensor, cfg: Config) -> Tensor:
    """Simulate the liquid on input spikes uint8 ``[B, T, 196]`` for the whole batch at once;
    returns the excitatory neurons' spikes uint8 ``[B, T, n_exc]``."""
    B, T, _ = s_in.shape
    ne = liquid.n_exc
    n = liquid.w_rec.shape[0]
    decay = math.exp(-cfg.dt / cfg.tau_syn)
    drive = s_in.float() @ liquid.w_in  # [B, T, n]: the feed-forward part of the current, all steps
    i_syn = torch.zeros(B, n)
    s_prev = torch.zeros(B, n)
    v_e = ref_e = v_i = ref_i = None  # None: start at rest, not refractory
    out = torch.empty(B, T, ne, dtype=torch.uint8)
    for t in range(T):
        # I(t) = exp(-dt/tau_syn) I(t-1) + W_in^T s_in(t) + W_rec^T s(t-1)
        i_syn = i_syn * decay + drive[:, t] + s_prev @ liquid.w_rec
        cur = i_syn.unsqueeze(1)  # [B, 1, n]: one step of the fused LIF op
        run_e = lif(cur[..., :ne].contiguous(), cfg.exc, v0=v_e, ref0=ref_e)
        run_i = lif(cur[..., ne:].contiguous(), cfg.inh, v0=v_i, ref0=ref_i)
        v_e, ref_e, v_i, ref_i = run_e.v, run_e.state, run_i.v, run_i.state
        out[:, t] = run_e.spikes[:, 0]
        s_prev = torch.cat([run_e.spikes[:, 0], run_i.spikes[:, 0]], 1).float()
    return out


# ----------------------------------------------------------------------------- readout and R-STDP


def exp_filter(s: Tensor, tau: float, dt: float) -> Tensor:
    """``z(t) = exp(-dt / tau) z(t-1) + s(t)``, ``z(-1) = 0``, along dim 1 of ``s [B, T, N]``:
    one product with the lower-triangular matrix ``L[t, t'] = exp(-(t - t') dt / tau)``."""
    T = s.shape[1]
    lag = torch.arange(T).view(-1, 1) - torch.arange(T).view(1, -1)
    kernel = torch.where(lag >= 0, torch.exp(-lag.clamp(min=0) * (dt / tau)), torch.zeros(()))
    return kernel @ s.float()


@dataclass
class Critic:
    """Expected reward, a running average ``rbar <- rbar + alpha (r - rbar)``: one value for
    all images (``per_class=False``) or one per digit (a stimulus-specific critic)."""

    alpha: float
    per_class: bool = False
    rbar: Tensor = field(default_factory=lambda: torch.zeros(N_CLASSES))

    def update(self, label: int, reward: float) -> float:
        """Return the reward-prediction error ``r - rbar`` (before the update), then update."""
        delta = reward - float(self.rbar[label])
        self.rbar[label if self.per_class else slice(None)] += self.alpha * delta
        return delta


@dataclass
class Readout:
    """The plastic part: weights, homeostatic biases, presynaptic baselines and the critic."""

    w: Tensor  # [n_exc, 10 k] in [0, w_max]
    theta: Tensor  # [10 k] homeostatic bias current (mV)
    pre_mean: Tensor  # [n_exc] running average of each liquid neuron's pre trace
    critic: Critic
    seen: int = 0  # training images so far

    @classmethod
    def create(cls, cfg: Config, seed: int) -> Readout:
        gen = torch.Generator().manual_seed(seed + 1)
        n_out = N_CLASSES * cfg.k
        w = cfg.w_init * torch.rand(cfg.n_exc, n_out, generator=gen)
        return cls(
            w, torch.zeros(n_out), torch.zeros(cfg.n_exc), Critic(cfg.critic_alpha, cfg.critic_per_class)
        )


def run_readout(readout: Readout, syn: Tensor, cfg: Config) -> Tensor:
    """Output spikes uint8 ``[B, T, 10 k]`` for synaptically filtered liquid spikes ``syn [B, T, n_exc]``.

    Output neuron ``j`` gets the current ``I_j(t) = sum_i w_ij syn_i(t) - theta_j - L_j(t)``:
    a homeostatic bias ``theta_j`` (see :func:`homeostasis`) and lateral inhibition from
    the other output neurons, ``L_j(t) = exp(-dt / tau_syn) L_j(t-1) + w_lat * sum_{j' != j}
    s_j'(t-1)``, a soft winner-take-all that concentrates the output spikes (and so the
    eligibility) on the neurons that make the decision. Stepped one ``lif`` call per time
    step (``T = 1``, state carried); with ``w_lat = 0`` it is one fused call over ``T``."""
    ff = syn @ readout.w - readout.theta  # [B, T, 10 k]
    if cfg.w_lat == 0:
        return lif(ff.contiguous(), cfg.out).spikes
    B, T, n = ff.shape
    decay = math.exp(-cfg.dt / cfg.tau_syn)
    lat = torch.zeros(B, n)
    s_prev = torch.zeros(B, n)
    v = ref = None
    out = torch.empty(B, T, n, dtype=torch.uint8)
    for t in range(T):
        lat = lat * decay + cfg.w_lat * (s_prev.sum(1, keepdim=True) - s_prev)
        run = lif((ff[:, t] - lat).unsqueeze(1), cfg.out, v0=v, ref0=ref)
        v, ref = run.v, run.state
        out[:, t] = run.spikes[:, 0]
        s_prev = run.spikes[:, 0].float()
    return out


def decide(spikes: Tensor, k: int, gen: torch.Generator | None = None) -> Tensor:
    """The digit whose population of ``k`` output neurons fired most, int64 ``[B]``; a tie
    between the top counts is broken uniformly at random (``gen``), and -1 (counted as
    wrong) where no output neuron fired at all."""
    counts = spikes.sum(1, dtype=torch.int32).view(spikes.shape[0], N_CLASSES, k).sum(2)
    jitter = 0.5 * torch.rand(counts.shape, generator=gen)  # < 1: only reorders equal counts
    pred = (counts + jitter).argmax(1)
    return torch.where(counts.amax(1) > 0, pred, torch.full_like(pred, -1))


def eligibility(pre_trace: Tensor, pre: Tensor, post: Tensor, pre_mean: Tensor, cfg: Config) -> Tensor:
    """Eligibility ``[n_exc, 10 k]`` of one presentation, from the pre trace ``x`` and spikes
    ``[T, n_exc]`` of the liquid and the output spikes ``post [T, 10 k]``:

        e_ij = A_plus sum_t (x_i(t) - xbar_i) s_j(t) - A_minus sum_t y_j(t-1) (s_i(t) - pbar_i)

    ``y``: the post trace; ``xbar``: the presynaptic baseline ``pre_mean`` (the running
    average of ``x``) and ``pbar = xbar (1 - exp(-dt / tau_plus))`` the matching mean
    spike probability per step (pre activity is measured against its average)."""
    post = post.float()
    y = exp_filter(post.unsqueeze(0), cfg.tau_minus, cfg.dt)[0]
    y_prev = torch.cat([torch.zeros_like(y[:1]), y[:-1]])  # y(t-1): post spikes strictly before t
    ltp = (pre_trace - pre_mean).T @ post
    if cfg.a_minus == 0:
        return cfg.a_plus * ltp
    rate_mean = pre_mean * -math.expm1(-cfg.dt / cfg.tau_plus)
    return cfg.a_plus * ltp - cfg.a_minus * ((pre.float() - rate_mean).T @ y_prev)


def rstdp_update(w: Tensor, elig: Tensor, delta: float, cfg: Config, eta: float | None = None) -> Tensor:
    """``W <- clip(W + eta * (r - rbar) * e, 0, w_max)`` (``eta``: default ``cfg.eta``)."""
    return (w + ((cfg.eta if eta is None else eta) * delta) * elig).clamp(0.0, cfg.w_max)


def homeostasis(theta: Tensor, post: Tensor, cfg: Config) -> Tensor:
    """``theta_j <- theta_j + gamma * (n_j / sum_j' n_j' - 1 / (10 k))`` after each training
    image (``n_j``: neuron ``j``'s spike count; no spike at all lowers every bias): a
    neuron that takes more than its share of the output spikes becomes less excitable, one
    that stays silent more excitable, so every output neuron keeps winning some images
    (exploration) and none takes over. It uses no label."""
    n = post.sum(0).float()
    share = n / n.sum().clamp(min=1.0)
    return theta + cfg.gamma * (share - 1.0 / n.numel())


def learn(
    readout: Readout, pre_trace: Tensor, pre: Tensor, post: Tensor, label: int, pred: int, cfg: Config
) -> float:
    """One R-STDP step after one image (in place): reward, critic, weights, biases, baseline.
    Returns the reward-prediction error ``r - rbar``."""
    reward = 1.0 if pred == label else -1.0
    delta = readout.critic.update(label, reward)
    elig = eligibility(pre_trace, pre, post, readout.pre_mean, cfg)
    eta = cfg.eta / (1.0 + readout.seen / cfg.eta_decay) if cfg.eta_decay else cfg.eta
    readout.w = rstdp_update(readout.w, elig, delta, cfg, eta)
    readout.seen += 1
    readout.theta = homeostasis(readout.theta, post, cfg)
    # xbar_i <- xbar_i + beta (mean_t x_i(t) - xbar_i): the slow presynaptic baseline
    readout.pre_mean += cfg.baseline_rate * (pre_trace.mean(0) - readout.pre_mean)
    return delta


# ----------------------------------------------------------------------------- training and testing


def liquid_batches(liquid: Liquid, x: Tensor, cfg: Config, seed: int, offset: int, batch: int):
    """Yield ``(start, s_liq, syn, pre_trace)`` for consecutive batches of ``x`` (global index
    ``offset + start`` for the Poisson draws)."""
    for s in range(0, x.shape[0], batch):
        s_liq = run_liquid(liquid, encode(x[s : s + batch], cfg, seed, offset + s), cfg)
        syn = exp_filter(s_liq, cfg.tau_syn, cfg.dt)
        pre_trace = syn if cfg.tau_plus == cfg.tau_syn else exp_filter(s_liq, cfg.tau_plus, cfg.dt)
        yield s, s_liq, syn, pre_trace


def train_epoch(
    liquid: Liquid,
    readout: Readout,
    x: Tensor,
    y: Tensor,
    cfg: Config,
    seed: int,
    offset: int = 0,
    batch: int = 100,
    log_every: int = 1000,
) -> float:
    """One pass of R-STDP over ``x``, image by image in order (``readout`` updated in place);
    returns the running accuracy (each image classified before its own update)."""
    gen = torch.Generator().manual_seed(seed + 2 + offset)  # tie-breaking draws
    correct = 0
    seen = 0
    t0 = time.time()
    for s, s_liq, syn, pre_trace in liquid_batches(liquid, x, cfg, seed, offset, batch):
        for b in range(s_liq.shape[0]):
            post = run_readout(readout, syn[b : b + 1], cfg)  # [1, T, 10 k]
            label = int(y[s + b])
            pred = int(decide(post, cfg.k, gen)[0])
            learn(readout, pre_trace[b], s_liq[b], post[0], label, pred, cfg)
            correct += pred == label
            seen += 1
            if log_every and seen % log_every == 0:
                print(
                    f"  train {seen:6d}/{x.shape[0]}: running accuracy {correct / seen:.3f}, "
                    f"critic {readout.critic.rbar.mean():+.2f}, {time.time() - t0:.0f} s",
                    flush=True,
                )
    return correct / max(seen, 1)


@torch.no_grad()
def evaluate(
    liquid: Liquid,
    readout: Readout,
    x: Tensor,
    y: Tensor,
    cfg: Config,
    seed: int,
    offset: int,
    batch: int = 200,
) -> dict:
    """Accuracy with the weights frozen (the readout batched too); ``undecided``: no output spike."""
    gen = torch.Generator().manual_seed(seed + 3 + offset)  # tie-breaking draws
    correct = undecided = 0
    for s, _, syn, _ in liquid_batches(liquid, x, cfg, seed, offset, batch):
        pred = decide(run_readout(readout, syn, cfg), cfg.k, gen)
        correct += int((pred == y[s : s + pred.shape[0]]).sum())
        undecided += int((pred < 0).sum())
    n = max(x.shape[0], 1)
    return {"accuracy": correct / n, "undecided": undecided / n, "images": x.shape[0]}


# ----------------------------------------------------------------------------- script

TEST_OFFSET = 60_000  # Poisson global index of test image i: TEST_OFFSET + i
EPOCH_STRIDE = 100_000  # ... of training image i in epoch e: e * EPOCH_STRIDE + i (fresh draws per epoch)


def machine() -> str:
    """The CPU's model name from ``lscpu`` (or what ``platform`` knows)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=DEFAULT_ROOT, help="folder with MNIST/raw/*.gz (never downloaded)")
    p.add_argument("--train", type=int, default=30_000, help="training images (the first N)")
    p.add_argument("--test", type=int, default=10_000, help="test images (the first N of the test set)")
    p.add_argument("--val", type=int, default=0, help=f"also score images {VAL_START}.. of the training set")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=None, help="time steps per image (default: Config.T)")
    p.add_argument("--quick", action="store_true", help="a 20-second run: 2,000 training, 1,000 test images")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--log-every", type=int, default=1000)
    p.add_argument("--out", default=os.path.join(HERE, "results", "rstdp_liquid.json"), help="JSON result")
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.test = min(args.train, 2000), min(args.test, 1000)
    limit = VAL_START if args.val else 60_000
    if not 1 <= args.train <= limit:
        p.error(f"--train: expected 1..{limit} (images {VAL_START}.. are the validation split)")
    if not 0 <= args.val <= 60_000 - VAL_START or not 1 <= args.test <= 10_000 or args.epochs < 1:
        p.error("--val 0..10000, --test 1..10000 and --epochs >= 1")
    return args


def main(argv: list[str] | None = None, cfg: Config | None = None) -> dict:
    """Run the experiment; returns (and writes to ``--out``) the result as a dict."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = cfg or Config()
    if args.T is not None:
        cfg = replace(cfg, T=args.T)
    t_start = time.time()
    (x_train, y_train), (x_test, y_test) = load_mnist(args.root)
    liquid = build_liquid(cfg, args.seed)
    readout = Readout.create(cfg, args.seed)
    print(
        f"liquid {cfg.n_exc}E + {cfg.n_inh}I LIF, readout {N_CLASSES}x{cfg.k} LIF; T = {cfg.T} steps of "
        f"{cfg.dt} ms; {args.train} training images x {args.epochs} epoch(s), {args.test} test images",
        flush=True,
    )
    history = []
    t_train = time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        acc = train_epoch(
            liquid, readout, x_train[: args.train], y_train[: args.train], cfg, args.seed,
            offset=epoch * EPOCH_STRIDE, log_every=args.log_every,
        )  # fmt: skip
        entry = {"epoch": epoch + 1, "train_running_accuracy": acc, "seconds": time.time() - t0}
        if args.val:
            sl = slice(VAL_START, VAL_START + args.val)
            entry["val"] = evaluate(liquid, readout, x_train[sl], y_train[sl], cfg, args.seed, VAL_START)
        history.append(entry)
        val = f", validation {entry['val']['accuracy']:.4f}" if args.val else ""
        print(f"epoch {epoch + 1}: running training accuracy {acc:.4f}{val} ({entry['seconds']:.0f} s)")
    t_train = time.time() - t_train
    t0 = time.time()
    test = evaluate(liquid, readout, x_test[: args.test], y_test[: args.test], cfg, args.seed, TEST_OFFSET)
    t_test = time.time() - t0
    print(
        f"test accuracy {test['accuracy']:.4f} on the first {args.test} test images "
        f"(no output spike: {test['undecided']:.4f}); {time.time() - t_start:.0f} s in all"
    )
    result = {
        "example": "rstdp_liquid",
        "test_accuracy": test["accuracy"],
        "test_images": args.test,
        "test_undecided": test["undecided"],
        "train_images": args.train,
        "epochs": args.epochs,
        "history": history,
        "wall_time_s": round(time.time() - t_start, 1),
        "train_time_s": round(t_train, 1),
        "test_time_s": round(t_test, 1),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "args": {**vars(args), "root": os.path.normpath(args.root), "out": os.path.normpath(args.out or "")},
        "config": asdict(cfg),
    }
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"wrote {args.out}")
    result["readout"] = readout  # for the caller (tests); not written to the JSON
    result["liquid"] = liquid
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
