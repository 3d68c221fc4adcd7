"""Diehl & Cook (2015): the model's bad inputs, the readouts, training / resume /
checkpoints, the spec and the command line (the operators against the per-step torch
reference, every CPU build and device, their bad inputs and opcheck:
tests/ops/test_diehl_cook.py)."""

import dataclasses
import json
import os

import pytest
import torch
from helpers.diehl_cook import SHORT

from fastspike.diehlcook import (
    DiehlCook,
    DiehlCookParams,
    DiehlCookSpec,
    assign_labels,
    diehlcook2015,
    predict_all_activity,
    predict_proportion,
)
from fastspike.families.diehl_cook import load_diehl_cook, train_diehl_cook
from fastspike.reference import exp_neg


def test_exp_neg_is_accurate_and_zero_below_minus_87():
    x = -torch.rand(20000, generator=torch.Generator().manual_seed(0)) * 90
    e = exp_neg(x).double()
    t = torch.exp(x.double())
    ok = x > -87
    assert float(((e - t).abs() / t)[ok].max()) < 5e-7
    assert bool((e[~ok] == 0).all())
    assert float(exp_neg(torch.zeros(1))) == 1.0


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument():
    m = DiehlCook(diehlcook2015(n_neurons=4, **SHORT))
    x = torch.rand(2, 784)
    with pytest.raises(ValueError, match="images: expected finite"):
        m.learn(torch.full((1, 784), float("nan")))
    with pytest.raises(ValueError, match="negative rates"):
        m.respond(-x)
    with pytest.raises(ValueError, match="784 inputs"):
        m.respond(torch.rand(2, 100))
    with pytest.raises(TypeError, match="images"):
        m.respond([1.0, 2.0])
    with pytest.raises(ValueError, match="dt"):
        DiehlCookParams(dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        DiehlCookParams(dt=-0.5)
    with pytest.raises(ValueError, match="t_present"):
        DiehlCookParams(t_present=0.0)
    with pytest.raises(ValueError, match="intensity"):
        DiehlCookParams(intensity=-1.0)
    with pytest.raises(ValueError, match="n_neurons"):
        DiehlCookParams(n_neurons=0)
    with pytest.raises(ValueError, match="tau_e"):
        DiehlCookParams(tau_e=float("nan"))
    with pytest.raises(ValueError, match="max_attempts"):
        DiehlCookParams(max_attempts=0)


# ----------------------------------------------------------------------------- readouts
def test_labels_and_both_readouts_on_constructed_counts():
    counts = torch.tensor([[5, 0, 0, 1], [0, 4, 0, 0], [6, 0, 0, 3], [0, 2, 0, 0]], dtype=torch.int32)
    labels = torch.tensor([0, 1, 0, 1])
    a, prop = assign_labels(counts, labels, 3)
    assert a.tolist() == [0, 1, -1, 0]  # neuron 2 never spiked
    assert torch.allclose(prop[3], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(prop[0].sum(), torch.tensor(1.0)) and float(prop[2].sum()) == 0
    test = torch.tensor([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 9, 0], [1, 5, 0, 0]], dtype=torch.int32)
    assert predict_all_activity(test, a, 3).tolist() == [0, 1, -1, 1]
    assert predict_proportion(test, prop).tolist() == [0, 1, -1, 1]


# ----------------------------------------------------------------------------- training
def _short(name="dc-test", n=40):
    return DiehlCookSpec(name=name, params=DiehlCookParams(n_neurons=n, t_present=100.0, t_rest=30.0))


def test_training_learns_resumes_exactly_and_reloads(mnist_root, tmp_path):
    kw = dict(samples=600, test_samples=300, progress=False, download=False, chunk=200, seed=3)
    full, hist = train_diehl_cook(_short(), "mnist", mnist_root, checkpoint_dir=str(tmp_path / "a"), **kw)
    assert full.test_metrics["accuracy"] > 0.4  # 10 classes: chance is 0.1
    assert full.test_metrics["proportion_accuracy"] > 0.4
    assert len(hist) == 3 and hist[-1]["samples"] == 600
    d = tmp_path / "b"
    part, _ = train_diehl_cook(
        _short(), "mnist", mnist_root, checkpoint_dir=str(d), stop_after_chunks=1, **kw
    )
    assert part.test_metrics is None and not os.path.exists(d / "best.pt")
    resumed, _ = train_diehl_cook(_short(), "mnist", mnist_root, checkpoint_dir=str(d), resume=True, **kw)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert resumed.test_metrics["confusion"] == full.test_metrics["confusion"]
    loaded = load_diehl_cook(str(tmp_path / "a" / "best.pt"))
    for k, v in full.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    with pytest.raises(ValueError, match="another configuration"):
        train_diehl_cook(
            _short(), "mnist", mnist_root, checkpoint_dir=str(d), resume=True, **{**kw, "seed": 4}
        )
    # the same resume code as the conv family: an edited description resumes, an empty
    # folder is an error, not a fresh start
    edited = dataclasses.replace(_short(), description="edited by hand")
    again, _ = train_diehl_cook(edited, "mnist", mnist_root, checkpoint_dir=str(d), resume=True, **kw)
    assert again.test_metrics["confusion"] == full.test_metrics["confusion"]
    with pytest.raises(ValueError, match="resume: nothing to resume in"):
        train_diehl_cook(_short(), "mnist", mnist_root, checkpoint_dir=str(tmp_path / "c"), resume=True, **kw)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["accuracy"] == full.test_metrics["accuracy"]
    assert len(json.loads((tmp_path / "a" / "history.json").read_text())) == 3


def test_spec_round_trip_and_registry():
    from fastspike.api import resolve_spec
    from fastspike.registry import MODELS, get_spec

    for name in ("diehlcook2015", "diehlcook2015-400", "diehlcook2015-6400"):
        assert name in MODELS
        spec = get_spec(name)
        assert DiehlCookSpec.from_dict(json.loads(spec.to_json())) == spec
        assert resolve_spec(name) == spec
    assert get_spec("diehlcook2015-400").params.n_neurons == 400
    with pytest.raises(ValueError, match="unknown fields"):
        DiehlCookSpec.from_dict({**get_spec("diehlcook2015").to_dict(), "layers": []})
    with pytest.raises(ValueError, match="T"):
        resolve_spec("diehlcook2015", T=30)
    assert dataclasses.replace(get_spec("diehlcook2015"), epochs=2).epochs == 2


def test_cli_trains_and_evaluates(mnist_root, tmp_path, capsys):
    from fastspike.__main__ import main

    run = tmp_path / "run"
    args = ["train", "--model", "diehlcook2015", "--root", str(mnist_root), "--samples", "150",
            "--test-samples", "100", "--no-progress", "--checkpoint-dir", str(run)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "model=diehlcook2015" in out and "test accuracy" in out and "images/s" in out
    assert (
        main(
            ["eval", "--checkpoint", str(run / "best.pt"), "--root", str(mnist_root), "--test-samples", "100"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fastspike eval" in out and "proportion weighting" in out
    assert main(["models", "--spec", "diehlcook2015"]) == 0
    assert '"kind": "diehl_cook"' in capsys.readouterr().out
    assert main(["train", "--model", "diehlcook2015", "--batch-size", "8", "--root", str(mnist_root)]) != 0
    assert "--batch-size: not used by diehlcook2015" in capsys.readouterr().err


def test_tensorboard_and_history_are_the_run_folders_of_every_family(mnist_root, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import fastspike

    run = tmp_path / "run"
    net, hist = fastspike.train(
        _short(), "mnist", mnist_root, samples=[200], test_samples=100, checkpoint_dir=str(run),
        tensorboard=True, progress=False, download=False,
    )  # fmt: skip
    assert {"best.pt", "last.pt", "metrics.json", "history.json", "history.csv"} <= {
        p.name for p in run.iterdir()
    }
    assert json.loads((run / "history.json").read_text()) == hist
    ev = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0})
    ev.Reload()
    assert "dc-test/samples_per_s" in ev.Tags()["scalars"] and "dc-test/theta_mean" in ev.Tags()["scalars"]
    assert {"weights/excitatory", "theta"} <= set(ev.Tags()["histograms"])
    assert len(ev.Scalars("dc-test/theta_mean")) == len(hist)
    with pytest.raises(ValueError, match="batch_size: not used by dc-test"):
        fastspike.train(_short(), "mnist", mnist_root, batch_size=8, download=False)
