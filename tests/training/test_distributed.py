"""Data-parallel training on torch.distributed (gloo, CPU): equal to one process bit for bit.

The update exchange is checked without processes (the canvases give stdp_update the same
weights as the full inputs); the gather order with 3 processes and uneven, empty shards;
then whole runs under torchrun with 2 and 3 processes against one process with the same
global batch (weights, rule states, history, log, test metrics), resume across process
counts, and a rank that dies."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from conftest import random_times

import fastspike
from fastspike import distributed
from fastspike.distributed import Shard, World, _pack, _unpack

HERE = os.path.dirname(os.path.abspath(__file__))
TIMING = ("seconds", "wall", "samples_per_s")


# ----------------------------------------------------------------------------- exchange
def _case(B, F, C, K, H, W, T, k, g, dtype):
    times_in = random_times((B, C, H + K - 1, W + K - 1), T, g, p_never=0.4, dtype=dtype)
    times_out = random_times((B, F, H, W), T, g, p_never=0.5, dtype=dtype)
    # k distinct features per sample, each at a position where it fired (as k-WTA gives)
    winners = torch.full((B, k, 3), -1, dtype=torch.int32)
    for b in range(B):
        r = 0
        for f in torch.randperm(F, generator=g).tolist():
            fired = (times_out[b, f] < T).nonzero()
            if r < k and fired.shape[0]:
                y, x = fired[int(torch.randint(fired.shape[0], (1,), generator=g))].tolist()
                winners[b, r] = torch.tensor([f, y, x])
                r += 1
    return times_in, times_out, winners


@pytest.mark.parametrize(
    "T,dtype,k,stabilize,lb,ub,clamp_all",
    [
        (15, torch.uint8, 3, True, 0.0, 1.0, False),
        (15, torch.uint8, 5, False, 0.2, 0.8, True),
        (15, torch.uint8, 1, False, 0.2, 0.8, False),
        (300, torch.int16, 4, True, 0.0, 1.0, True),
    ],
)
def test_canvases_give_the_same_update(T, dtype, k, stabilize, lb, ub, clamp_all):
    """stdp_update on the exchanged receptive fields (side by side on a small canvas per
    sample) equals stdp_update on the whole inputs, bit for bit: ties, samples without
    winners, fewer than k winners, weights starting out of bounds, both time dtypes."""
    g = torch.Generator().manual_seed(k * 7 + T)
    B, F, C, K, H, W = 9, 7, 4, 3, 6, 5
    times_in, times_out, winners = _case(B, F, C, K, H, W, T, k, g, dtype)
    winners[2] = -1  # a sample without winners
    if k > 1:
        winners[4, k - 1] = -1  # fewer than k winners
    assert int((winners[:, :, 0] >= 0).sum()) >= B - 1  # the case has winners to move
    weight = 0.5 + 0.3 * torch.randn(F, C, K, K, generator=g)  # some out of [lb, ub]
    weight.clamp_(min=0)
    lr = torch.rand(B, 2, generator=g) * torch.tensor([0.1, -0.1])
    classes = torch.randint(-1, 10, (B, 1), generator=g)
    parts = [(times_in, times_out, winners, K, K)]
    [(ti, to, wi)], extra = _unpack(_pack(parts, classes), parts, T, 1)
    assert ti.shape == (B, C, K, k * K) and to.shape == (B, F, 1, (k - 1) * K + 1) and ti.dtype == dtype
    assert torch.equal(extra, classes.to(torch.int32))
    kw = dict(stabilize=stabilize, lb=lb, ub=ub, clamp_all=clamp_all)
    expect, got = weight.clone(), weight.clone()
    fastspike.stdp_update(expect, times_in, times_out, winners, lr, T, **kw)
    fastspike.stdp_update(got, ti, to, wi, lr, T, **kw)
    assert not torch.equal(expect, weight)
    torch.testing.assert_close(got, expect, rtol=0, atol=0)


def test_canvas_of_two_convs_and_no_extra():
    """Two learning convs of one batch (a joint phase) share a row per sample."""
    g = torch.Generator().manual_seed(3)
    a = _case(5, 6, 3, 5, 4, 4, 15, 2, g, torch.uint8)
    b = _case(5, 10, 6, 3, 2, 2, 15, 1, g, torch.uint8)
    parts = [(*a, 5, 5), (*b, 3, 3)]
    out, extra = _unpack(_pack(parts, None), parts, 15, 0)
    assert extra is None
    for (ti, to, wi), (xin, xout, xw, K, _) in zip(out, parts, strict=True):
        w0 = torch.rand(xout.shape[1], xin.shape[1], K, K, generator=g)
        lr = torch.full((5, 2), 0.05) * torch.tensor([1.0, -0.8])
        e, o = w0.clone(), w0.clone()
        fastspike.stdp_update(e, xin, xout, xw, lr, 15)
        fastspike.stdp_update(o, ti, to, wi, lr, 15)
        assert torch.equal(e, o) and not torch.equal(e, w0)


def test_world_ownership():
    w = World(1, 3)
    assert [w.count(n) for n in range(7)] == [0, 0, 1, 1, 1, 2, 2]
    assert w.local(2, 8) == (1, 3)  # samples 4 and 7
    assert torch.equal(w.shard(torch.arange(10)), torch.tensor([1, 4, 7]))
    with pytest.raises(ValueError, match="rank"):
        World(3, 3)


def test_shard_rows_are_checked():
    from fastspike.models import Mozafari2018
    from fastspike.training import learner, train_epoch

    m = Mozafari2018(seed=0)
    x = torch.full((4, 6, 32, 32), 15, dtype=torch.uint8)
    with pytest.raises(ValueError, match="owns 5 of 10 samples, got 4 rows"):
        train_epoch(m, 1, Shard(x, 10, World(0, 2)), learner(m, 1))


def test_timeout_setting_is_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("FASTSPIKE_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="FASTSPIKE_DIST_TIMEOUT"):
        distributed.init_from_env("cpu")
    monkeypatch.setenv("FASTSPIKE_DIST_TIMEOUT", "0")
    with pytest.raises(ValueError, match="timeout_s"):
        distributed.init_from_env("cpu")


GATHER = r"""
import sys, torch, torch.distributed as dist
from fastspike.distributed import World
rank, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("gloo", init_method="file://" + path, rank=rank, world_size=size)
w = World(rank, size)
for s, e in [(0, 10), (3, 4), (5, 12), (7, 7), (1, 3)]:
    mine = torch.arange(s, e)[torch.arange(s, e) % size == rank]
    rows = torch.stack([mine, -mine], 1)
    got = w.gather(rows, s, e)
    want = torch.arange(s, e)
    assert torch.equal(got[:, 0], want) and torch.equal(got[:, 1], -want), (s, e, got)
assert int(w.all_reduce_sum(torch.tensor([rank + 1]))) == size * (size + 1) // 2
dist.destroy_process_group()
print("ok", rank)
"""


def test_gather_puts_every_rank_s_rows_in_sample_order(tmp_path):
    """3 processes; batches with 1 and 2 samples (empty shards), uneven shards, an empty batch."""
    path = str(tmp_path / "store")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATHER, str(r), "3", path],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    assert sorted(o.decode().strip() for o, _ in outs) == ["ok 0", "ok 1", "ok 2"]


# ----------------------------------------------------------------------------- whole runs
def _run(nproc: int, kwargs: dict, env_extra: dict | None = None, timeout: float = 900):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    worker = os.path.join(HERE, "..", "helpers", "dist_worker.py")
    if nproc == 1:
        cmd = [sys.executable, worker, json.dumps(kwargs)]
    else:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
            "--standalone", worker, json.dumps(kwargs),
        ]  # fmt: skip
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p, time.perf_counter() - t0


def _strip(h):
    if isinstance(h, dict):
        return {k: _strip(v) for k, v in h.items() if k not in TIMING}
    if isinstance(h, list):
        return [_strip(v) for v in h]
    return h


def _result(folder: str) -> dict:
    from fastspike.training import checkpoint

    ck = checkpoint.load(os.path.join(folder, "best.pt"))
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    prog = ck["progress"]
    return {
        "model": ck["model"],
        "states": prog["states"],
        "history": _strip(prog["history"]),
        "log": _strip(prog["log"]),
        "metrics": metrics,
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["model"].keys() == b["model"].keys()
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for key in ("states", "history", "log", "metrics"):
        assert a[key] == b[key], key


def _ok(p) -> None:
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-4000:])


MOZAFARI = dict(
    model="mozafari2018",
    epochs=[1, 1, 2],
    samples=[2000, 2000, 2000],
    validation=500,
    test_samples=500,
    batch_size=64,
)
KHERADPISHEH = dict(
    model="kheradpisheh2018", epochs=[1, 1, 1], samples=[2000, 2000, 2000], validation=500, test_samples=500
)


@pytest.fixture(scope="module")
def single_runs(mnist_root, tmp_path_factory):
    """One process (one thread) per network: the result every split must equal."""
    out = {}
    for name, kw in (("mozafari", MOZAFARI), ("kheradpisheh", KHERADPISHEH)):
        folder = str(tmp_path_factory.mktemp(f"{name}-1"))
        p, _ = _run(1, dict(kw, root=mnist_root, checkpoint_dir=folder))
        _ok(p)
        out[name] = _result(folder)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [2, 3])
@pytest.mark.parametrize("name,kw", [("mozafari", MOZAFARI), ("kheradpisheh", KHERADPISHEH)])
def test_torchrun_equals_one_process(single_runs, mnist_root, tmp_path, nproc, name, kw):
    p, _ = _run(nproc, dict(kw, root=mnist_root, checkpoint_dir=str(tmp_path)))
    _ok(p)
    got, want = _result(str(tmp_path)), single_runs[name]
    assert want["metrics"]["test_images"] == 500 and 0.1 < want["metrics"]["accuracy"] < 1.0
    _assert_same(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_resume_with_another_number_of_processes(single_runs, mnist_root, tmp_path, first, then):
    """Interrupted after 2 epochs (S1, S2) with one process count, resumed with the other."""
    kw = dict(MOZAFARI, root=mnist_root, checkpoint_dir=str(tmp_path))
    p, _ = _run(first, dict(kw, stop_after_epochs=2))
    _ok(p)
    assert not os.path.exists(tmp_path / "best.pt")
    p, _ = _run(then, dict(kw, resume=True))
    _ok(p)
    _assert_same(_result(str(tmp_path)), single_runs["mozafari"])


@pytest.mark.slow
def test_zoo_networks_split_across_processes(mnist_root, tmp_path):
    """A vote network (heads; a global batch of 2 on 3 processes: every batch has an empty
    shard) and a joint R-STDP phase across an R-STDP chunk boundary, in compat mode."""
    for model, epochs, samples, bs in (
        ("majority2024", [1, 1, 1], [150, 150, 400], 2),
        ("deepr2024", [1, 1, 1, 1], [300, 300, 300, 1100], 16),
    ):
        kw = dict(model=model, epochs=epochs, samples=samples, validation=200, test_samples=200)
        kw["batch_size"] = bs
        kw["root"], kw["compat"] = mnist_root, True
        one, three = tmp_path / f"{model}-1", tmp_path / f"{model}-3"
        _ok(_run(1, dict(kw, checkpoint_dir=str(one)))[0])
        _ok(_run(3, dict(kw, checkpoint_dir=str(three)))[0])
        _assert_same(_result(str(three)), _result(str(one)))


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_others_with_a_clear_error(mnist_root, tmp_path):
    kw = dict(MOZAFARI, root=mnist_root, checkpoint_dir=str(tmp_path))
    p, seconds = _run(2, kw, {"FASTSPIKE_TEST_DIE": "1:2", "FASTSPIKE_DIST_TIMEOUT": "30"}, timeout=300)
    assert p.returncode != 0
    err = p.stderr
    assert "distributed: rank 0 of 2" in err and "failed: another rank has stopped" in err, err[-3000:]
    assert seconds < 120
    assert os.path.exists(tmp_path / "last.pt")  # the epoch before the failure was saved


def test_cli_under_torchrun(mnist_root, tmp_path):
    """The documented command: torchrun ... -m fastspike train."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
        "-m", "fastspike", "train", "--root", mnist_root, "--epochs", "1", "1", "1",
        "--samples", "300", "300", "300", "--validation", "100", "--test-samples", "100",
        "--no-progress", "--checkpoint-dir", str(tmp_path / "run"),
    ]  # fmt: skip
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    _ok(p)
    assert "(2 ranks)" in p.stdout and p.stdout.count("fastspike train: model=mozafari2018") == 1
    assert os.path.exists(tmp_path / "run" / "best.pt") and os.path.exists(tmp_path / "run" / "metrics.json")
