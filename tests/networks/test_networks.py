"""Networks as data: specs, the registry, config files, the generic network's passes,
checkpoints as plain data, and resume for every registered network."""

import dataclasses
import importlib
import json
import os
import pathlib

import pytest
import torch
from helpers.spec import with_rates

import fastspike
from fastspike.__main__ import main
from fastspike.api import evaluate_images, load_model, train, train_mnist
from fastspike.models import Kheradpisheh2018, Mozafari2018, build
from fastspike.network import Network
from fastspike.registry import ALIASES, MODELS, conv_networks, get_spec
from fastspike.registry import load_config as load_spec  # a config's base names a registered network
from fastspike.spec import (
    STDP,
    Conv,
    DecisionReadout,
    EncoderSpec,
    LinearReadout,
    NetworkSpec,
    Pad,
    Phase,
    Pool,
    SpecError,
)

# ----------------------------------------------------------------------------- specs


def test_registry_lists_both_networks_and_specs_round_trip():
    assert {"mozafari2018", "kheradpisheh2018"} <= set(MODELS)
    for name in conv_networks():
        spec = get_spec(name)
        d = spec.to_dict()
        assert NetworkSpec.from_dict(json.loads(json.dumps(d))) == spec
        assert build(name).spec == spec
    assert get_spec("mozafari2018").shapes()[-1] == (200, 4, 4)
    assert get_spec("kheradpisheh2018").shapes()[-1] == (150, 9, 9)
    assert Mozafari2018().spec == get_spec("mozafari2018")
    assert Kheradpisheh2018().feature_size == 12150


def _custom(**conv2) -> dict:
    """A 3-conv network as plain data (the format of a config file)."""
    c2 = {
        "type": "conv",
        "name": "S2",
        "in_channels": 16,
        "out_channels": 40,
        "kernel": 3,
        "threshold": 8.0,
        "k": 4,
        "radius": 1,
        "rule": {"type": "stdp", "lb": 0.0, "ub": 1.0},
    }
    c2.update(conv2)
    return {
        "name": "custom3",
        "encoder": {"dog": [[7, 1.0, 2.0], [7, 2.0, 1.0]], "padding": 3},
        "layers": [
            {"type": "pad", "padding": 2},
            {
                "type": "conv",
                "name": "S1",
                "in_channels": 2,
                "out_channels": 16,
                "kernel": 5,
                "threshold": 10.0,
                "k": 5,
                "radius": 2,
                "rule": {"type": "stdp", "rates": {"type": "doubling"}},
            },
            {"type": "pool", "kernel": 2},
            {"type": "pad", "padding": 1},
            c2,
            {"type": "pool", "kernel": 3},
            {"type": "pad", "padding": 1},
            {
                "type": "conv",
                "name": "S3",
                "in_channels": 40,
                "out_channels": 50,
                "kernel": 3,
                "threshold": None,
                "rule": {"type": "rstdp"},
            },
        ],
        "readout": {"type": "decision"},
        "phases": [
            {"layer": "S1", "epochs": 1},
            {"layer": "S2", "epochs": 1},
            {"layer": "S3", "epochs": 2, "evaluate": True, "keep_best": True},
        ],
    }


@pytest.mark.parametrize(
    "change, match",
    [
        (
            dict(in_channels=15),
            r"layers\[4\] 'S2'\.in_channels: expected 16 \(the channels that reach it\), got 15",
        ),
        (dict(kernel=17), r"layers\[4\] 'S2'\.kernel: 17 is larger than its 16x16 input"),
        (dict(k=0), r"layers\[4\] 'S2'\.k: expected an integer >= 1, got 0"),
        (dict(k=-3), r"layers\[4\] 'S2'\.k: expected an integer >= 1, got -3"),
        (dict(radius=-1), r"layers\[4\] 'S2'\.radius: expected an integer >= 0"),
        (dict(threshold=-1.0), r"layers\[4\] 'S2'\.threshold: expected >= 0"),
        (dict(threshold="high"), r"layers\[4\] 'S2'\.threshold: expected a finite number"),
        (dict(rule={"type": "stdp", "lb": 1.0, "ub": 0.0}), r"layers\[4\] 'S2'\.rule\.lb: expected lb <= ub"),
        (dict(rule={"type": "rstdp"}), r"layers\[4\] 'S2'\.rule: R-STDP needs a decision layer"),
        (
            dict(rule={"type": "stdp", "rates": {"type": "doubling", "period": 0}}),
            r"layers\[4\] 'S2'\.rule\.rates\.period: expected an integer >= 1",
        ),
        (dict(name="S1"), r"layers\[4\] 'S1'\.name: 'S1' is used by an earlier layer"),
        (dict(kernal=3), r"layers\[4\] 'S2'\.kernal: unknown field"),
    ],
)
def test_config_errors_name_the_layer_and_field(change, match):
    with pytest.raises(SpecError, match=match):
        NetworkSpec.from_dict(_custom(**change))


def test_config_errors_decision_and_phases():
    d = _custom()
    d["layers"][-1]["out_channels"] = 55
    with pytest.raises(
        SpecError, match=r"layers\[7\] 'S3'\.out_channels: 55 features do not divide by the 10 "
    ):
        NetworkSpec.from_dict(d)
    d = _custom()
    d["layers"][-1]["threshold"] = 5.0
    d["layers"][-1]["rule"] = None
    with pytest.raises(SpecError, match=r"layers\[7\] 'S3'\.threshold: expected null: a decision readout"):
        NetworkSpec.from_dict(d)
    d = _custom()
    d["phases"][1]["layer"] = "S9"
    with pytest.raises(SpecError, match=r"phases\[1\]\.layer: expected a conv layer name"):
        NetworkSpec.from_dict(d)
    d = _custom()
    d["phases"][0]["epochs"] = 0
    with pytest.raises(SpecError, match=r"phases\[0\]\.epochs: expected an integer >= 1, got 0"):
        NetworkSpec.from_dict(d)
    d = _custom()
    d["layers"][2] = {"type": "pool", "kernel": 40}
    with pytest.raises(SpecError, match=r"layers\[2\]\.kernel: 40 is larger than its padded 28x28 input"):
        NetworkSpec.from_dict(d)
    d = _custom()
    d["readout"] = {"type": "linear"}
    with pytest.raises(
        SpecError, match=r"layers\[7\] 'S3'\.threshold: null \(a decision layer\) is only allowed"
    ):
        NetworkSpec.from_dict(d)
    d["readout"] = {"type": "linear", "C": 0}
    with pytest.raises(SpecError, match=r"readout\.C: expected > 0, got 0"):
        NetworkSpec.from_dict(d)
    with pytest.raises(SpecError, match=r"encoder\.dog\[0\]: expected \(odd size"):
        EncoderSpec(dog=((4, 1.0, 2.0),), padding=3)
    with pytest.raises(SpecError, match=r"model: expected one of"):
        get_spec("lenet")


def test_config_file_json_yaml_and_base(tmp_path):
    f = tmp_path / "net.json"
    f.write_text(json.dumps(_custom()))
    spec = load_spec(str(f))
    assert spec.name == "custom3" and [c.name for c in spec.convs] == ["S1", "S2", "S3"]
    assert spec.shapes()[-1] == (50, 4, 4)
    y = tmp_path / "net.yaml"
    pytest.importorskip("yaml").safe_dump(_custom(), y.open("w"))
    assert load_spec(str(y)) == spec
    b = tmp_path / "base.json"
    b.write_text(json.dumps({"base": "mozafari2018", "name": "moz-t30", "T": 30}))
    s30 = load_spec(str(b))
    assert s30.T == 30 and s30.layers == get_spec("mozafari2018").layers
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_custom(in_channels=3)))
    with pytest.raises(SpecError, match=r"'S2'\.in_channels"):
        load_spec(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(str(broken))


# ----------------------------------------------------------------------------- the generic network


def _full_maps(net: Network, times: torch.Tensor) -> torch.Tensor:
    """The final map with every layer computed in full: no crop, no fusion (plain ops)."""
    T = net.T
    x = times
    for layer in net.spec.layers:
        if isinstance(layer, Pad):
            x = torch.nn.functional.pad(x, (layer.padding,) * 4, value=T)
        elif isinstance(layer, Pool):
            x = fastspike.pool_times(x, layer.kernel, layer.step, layer.padding, T)
        elif isinstance(layer, Conv):
            x = fastspike.conv_fire(x, net.conv(layer.name).weight, T, layer.threshold)[0]
    return x


def test_crop_pass_is_exact_on_a_floor_mode_network(mnist):
    """Pool 3/3 on 14 rows drops 2 (floor mode): the planned crops compute fewer rows
    of S1 and S2 but give the same final map as the full computation."""
    d = _custom()
    d["layers"][-1] = {
        "type": "conv",
        "name": "S3",
        "in_channels": 40,
        "out_channels": 30,
        "kernel": 3,
        "threshold": 5.0,
    }
    d["readout"] = {"type": "linear"}
    d["phases"] = [{"layer": "S1"}, {"layer": "S2"}, {"layer": "readout"}]
    net = Network(NetworkSpec.from_dict(d), seed=3)
    times = net.encoder(mnist[1].images[:16])
    assert net._plan(0, 32, 2) == [30, 14]  # S1 on 30 of 32 input rows, S2 on 14 of 16
    assert torch.equal(net.output_map(times), _full_maps(net, times))
    k = Kheradpisheh2018(seed=1)
    tk = k.encoder(mnist[1].images[:16])
    assert torch.equal(k.output_map(tk), _full_maps(k, tk))


def test_mozafari_forward_equals_the_plain_computation(mnist):
    m = Mozafari2018(seed=2)
    times = m.encoder(mnist[1].images[:24])
    x3 = _full_maps_until(m, times, 2)
    assert torch.equal(m.layer_input(3, times), x3)
    assert torch.equal(m(times), m.decide(x3)[0])


def _full_maps_until(net, times, n_convs):
    T, x, seen = net.T, times, 0
    for layer in net.spec.layers:
        if isinstance(layer, Conv):
            if seen == n_convs:
                return x
            x = fastspike.conv_fire(x, net.conv(layer.name).weight, T, layer.threshold)[0]
            seen += 1
        elif isinstance(layer, Pad):
            x = torch.nn.functional.pad(x, (layer.padding,) * 4, value=T)
        elif isinstance(layer, Pool):
            x = fastspike.pool_times(x, layer.kernel, layer.step, layer.padding, T)
    return x


def test_training_only_inhibition(mnist):
    k = Kheradpisheh2018(seed=0)
    times = k.encoder(mnist[0].images[:8])
    tr, ev = k.layer_input("S2", times, training=True), k.layer_input("S2", times)
    T = k.T
    assert bool(((tr < T).sum(1) <= 1).all()) and bool(((ev < T).sum(1) > 1).any())
    assert bool((tr >= ev).all())  # inhibition only removes spikes


# ----------------------------------------------------------------------------- checkpoints and resume


class _Marker:
    """Pickles into a call that creates a file: loading it must not run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_checkpoints_that_pickle_code_are_refused_without_running(tmp_path, mnist_root):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "fastspike-checkpoint", "version": 2, "payload": _Marker(str(marker))}, evil)
    with pytest.raises(ValueError, match="refused to load it"):
        load_model(str(evil))
    assert not marker.exists()
    # the same through resume (last.pt) and the command line
    ck = tmp_path / "ck"
    ck.mkdir()
    torch.save({"config": _Marker(str(marker))}, ck / "last.pt")
    with pytest.raises(ValueError, match="refused to load it"):
        train_mnist(mnist_root, checkpoint_dir=str(ck), resume=True, progress=False, download=False)
    assert main(["eval", "--checkpoint", str(evil), "--root", mnist_root]) == 2
    assert not marker.exists()


def test_version_one_checkpoint_loads(tmp_path):
    m = Mozafari2018(seed=5)
    best = torch.rand(200, 250, 5, 5) * 0.6 + 0.2
    old = {
        "version": 1,
        "config": {
            "architecture": "mozafari2018",
            "T": 15,
            "compat": False,
            "dataset": "mnist",
            "seed": 5,
            "schedule": {"epochs": [1, 1, 1]},
        },
        "model": {k: v.clone() for k, v in m.state_dict().items()},
        "progress": {"layer": 4, "epoch": 0, "best_weight": best},
        "rng": torch.get_rng_state(),
    }
    torch.save(old, tmp_path / "v1.pt")
    loaded = load_model(str(tmp_path / "v1.pt"))
    assert torch.equal(loaded.conv1.weight, m.conv1.weight) and torch.equal(loaded.conv3.weight, best)
    torch.save({"version": 7, "format": "fastspike-checkpoint"}, tmp_path / "v7.pt")
    with pytest.raises(ValueError, match="not a fastspike checkpoint of version 1 to 3"):
        load_model(str(tmp_path / "v7.pt"))


def test_damaged_checkpoints_are_refused(tmp_path):
    """Checkpoints carry a SHA-256 of their contents: zeroed bytes inside a tensor, or an
    edited value, are refused with a message naming the file; version-2 files (no checksum)
    still load."""
    from fastspike.training import checkpoint
    from fastspike.training.loop import Progress, checkpoint_of

    m = Mozafari2018(seed=3)
    path = tmp_path / "ck.pt"
    checkpoint.save(str(path), checkpoint_of(m, Progress(), {"model": "mozafari2018"}))
    assert torch.equal(load_model(str(path)).conv3.weight, m.conv3.weight)
    raw = bytearray(path.read_bytes())
    # zero 64 bytes in the middle of the largest tensor (conv3, 5 MB): still a valid zip
    start = raw.find(m.conv3.weight.contiguous().numpy().tobytes()[:64])
    assert start > 0
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(raw[: start + 4096]) + bytes(64) + bytes(raw[start + 4096 + 64 :]))
    with pytest.raises(ValueError, match=r"damaged.pt.*do not match the checksum"):
        load_model(str(damaged))
    # an edited value (rewritten with the old checksum kept)
    ck = torch.load(path, weights_only=True)
    ck["config"]["model"] = "kheradpisheh2018"
    torch.save(ck, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="do not match the checksum"):
        load_model(str(tmp_path / "edited.pt"))
    # version 3 without a checksum is damaged too; version 2 never had one
    del ck["checksum"]
    torch.save(ck, tmp_path / "nosum.pt")
    with pytest.raises(ValueError, match="no checksum"):
        load_model(str(tmp_path / "nosum.pt"))
    ck = torch.load(path, weights_only=True)
    del ck["checksum"]
    ck["version"] = 2
    torch.save(ck, tmp_path / "v2.pt")
    assert torch.equal(load_model(str(tmp_path / "v2.pt")).conv3.weight, m.conv3.weight)
    assert len(checkpoint.checksum(ck)) == 64


_SMALL = {
    "mozafari2018": dict(samples=[400, 400, 500], epochs=[1, 1, 3]),
    "kheradpisheh2018": dict(samples=[400, 600, 800], epochs=[1, 2, 1]),
    "mozafari2018-linear": dict(samples=[400, 400, 600], epochs=[1, 1, 1]),
    "deep2024": dict(samples=[300, 300, 300, 400], epochs=[1, 1, 1, 3]),
    "deepr2024": dict(samples=[300, 300, 300, 400], epochs=[1, 1, 1, 3]),
    "deepr2024-2": dict(samples=[300, 300, 300, 400], epochs=[1, 1, 1, 3]),
    "inception2024": dict(samples=[300, 300, 200, 200, 200, 400], epochs=[1, 1, 1, 1, 1, 3]),
    "majority2024": dict(samples=[300, 300, 400], epochs=[1, 1, 3]),
    # the Izhikevich networks integrate 4 sub-steps per time step: fewer images keep CI's time
    "izhikevich-csnn": dict(samples=[100, 100, 200], epochs=[1, 1, 3], evaluate=150),
    "izhikevich-csnn5": dict(samples=[80, 80, 80, 80, 200], epochs=[1, 1, 1, 1, 3], evaluate=150),
}


@pytest.mark.parametrize("name", conv_networks())
@pytest.mark.slow
def test_every_network_resumes_exactly_and_round_trips(name, mnist_root, mnist, tmp_path):
    small = dict(_SMALL[name])
    n_eval = small.pop("evaluate", 300)  # test and validation images
    kw = dict(
        test_samples=n_eval,
        validation=n_eval,
        batch_size=50,
        progress=False,
        download=False,
        preset="paper",
        **small,
    )
    name = with_rates(get_spec(name), chunk=150)  # rates rescaled within and across the epochs
    full, hist_full = train(name, "mnist", mnist_root, checkpoint_dir=str(tmp_path / "a"), **kw)
    n_epochs = sum(kw["epochs"])
    for stop in (1, n_epochs - 1):  # interrupted in the first phase, and in the last
        d = tmp_path / f"b{stop}"
        part, _ = train(name, "mnist", mnist_root, checkpoint_dir=str(d), stop_after_epochs=stop, **kw)
        assert not os.path.exists(d / "best.pt")
        resumed, hist_res = train(name, "mnist", mnist_root, checkpoint_dir=str(d), resume=True, **kw)
        assert full.state_dict().keys() == resumed.state_dict().keys()
        for k, v in full.state_dict().items():
            assert torch.equal(v, resumed.state_dict()[k]), k
        assert [h["val"] for h in hist_res] == [h["val"] for h in hist_full]
        assert resumed.test_metrics == full.test_metrics
    loaded = load_model(str(tmp_path / "a" / "best.pt"))
    assert type(loaded) is Network and loaded.spec == full.spec
    for k, v in full.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    test = mnist[1].subset(n_eval)
    assert evaluate_images(loaded, test.images, test.labels)["correct"] == full.test_metrics["accuracy"]
    # the chosen weights are those of the first best epoch on the validation split (the
    # last n_eval training images), which is what the loaded weights score there
    best = max(hist_full, key=lambda h: h["val"]["correct"])
    val = mnist[0]
    assert evaluate_images(loaded, val.images[-n_eval:], val.labels[-n_eval:]) == best["val"]
    # a resume with another configuration is refused, naming both
    with pytest.raises(ValueError, match="another configuration"):
        train(name, "mnist", mnist_root, checkpoint_dir=str(tmp_path / "a"), resume=True, seed=1, **kw)


# ----------------------------------------------------------------------------- command line


def test_cli_models_and_config_training(mnist_root, tmp_path, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mozafari2018" in out and "kheradpisheh2018" in out
    assert main(["models", "--spec", "kheradpisheh2018"]) == 0
    assert '"name": "kheradpisheh2018"' in capsys.readouterr().out
    cfg = tmp_path / "net.json"
    cfg.write_text(json.dumps(_custom()))
    ck = tmp_path / "ck"
    assert (
        main(
            [
                "train",
                "--config",
                str(cfg),
                "--root",
                mnist_root,
                "--samples",
                "300",
                "300",
                "400",
                "--epochs",
                "1",
                "1",
                "2",
                "--test-samples",
                "200",
                "--checkpoint-dir",
                str(ck),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "model=custom3" in capsys.readouterr().out
    assert load_model(str(ck / "best.pt")).spec.name == "custom3"
    assert (
        main(["eval", "--checkpoint", str(ck / "best.pt"), "--root", mnist_root, "--test-samples", "200"])
        == 0
    )
    assert "(custom3)" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_custom(k=0)))
    assert main(["train", "--config", str(bad), "--root", mnist_root, "--no-progress"]) == 2
    assert "layers[4] 'S2'.k: expected an integer >= 1, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_linear_readout_network_trains(mnist_root):
    """Kheradpisheh 2018 on a small subset: the readout is fitted and beats chance by far."""
    net, hist = train(
        "kheradpisheh2018",
        "mnist",
        mnist_root,
        samples=[1000, 1000, 2000],
        epochs=[1, 1, 1],
        test_samples=500,
        validation=500,
        progress=False,
        download=False,
    )
    assert bool(net.readout_fitted) and len(hist) == 1 and hist[0]["layer"] == "readout"
    assert net.test_metrics["accuracy"] > 0.6, hist  # chance is 0.1
    assert hist[0]["val"]["correct"] > 0.6, hist
    h = hist[0]["val"]
    assert abs(h["correct"] + h["wrong"] + h["silent"] - 1) < 1e-9
    with pytest.raises(RuntimeError, match="not fitted"):
        Kheradpisheh2018()(Kheradpisheh2018().encoder(torch.zeros(2, 28, 28, dtype=torch.uint8) + 200))


def test_phase_and_spec_objects():
    spec = get_spec("kheradpisheh2018")
    assert isinstance(spec.readout, LinearReadout) and spec.readout.C == 2.4
    assert isinstance(get_spec("mozafari2018").readout, DecisionReadout)
    assert [p.layer for p in spec.phases] == ["S1", "S2", "readout"]
    assert isinstance(spec.convs[1].rule, STDP) and spec.convs[1].rule.rates.a_plus == 0.004
    assert get_spec("mozafari2018", T=30).T == 30
    assert Phase("S1").epochs == 1


def test_run_history_resume_errors_and_extension(mnist_root, tmp_path):
    kw = dict(
        samples=[300, 300, 400],
        test_samples=200,
        validation=200,
        batch_size=50,
        progress=False,
        download=False,
    )
    # a run interrupted after 2 epochs leaves its per-epoch history (every layer) behind
    d = tmp_path / "run"
    train(
        "mozafari2018",
        "mnist",
        mnist_root,
        epochs=[1, 1, 2],
        checkpoint_dir=str(d),
        stop_after_epochs=2,
        **kw,
    )
    log = json.loads((d / "history.json").read_text())
    assert [(r["layer"], r["epoch"]) for r in log] == [("S1", 1), ("S2", 1)]
    assert 0 <= log[0]["at_bounds"] <= 1 and log[0]["samples"] == 300 and log[0]["samples_per_s"] > 0
    assert (d / "history.csv").read_text().splitlines()[0].startswith("phase,layer,epoch,samples")
    # resuming a folder without a checkpoint is an error, not a fresh start
    with pytest.raises(ValueError, match="resume: nothing to resume in"):
        train(
            "mozafari2018",
            "mnist",
            mnist_root,
            epochs=[1, 1, 2],
            checkpoint_dir=str(tmp_path / "empty"),
            resume=True,
            **kw,
        )
    # finish it, then extend the last phase by 2 epochs: equal to a 4-epoch run from the start
    _, h2 = train(
        "mozafari2018", "mnist", mnist_root, epochs=[1, 1, 2], checkpoint_dir=str(d), resume=True, **kw
    )
    assert len(h2) == 2
    ext, h4 = train(
        "mozafari2018", "mnist", mnist_root, epochs=[1, 1, 4], checkpoint_dir=str(d), resume=True, **kw
    )
    full, h4_full = train("mozafari2018", "mnist", mnist_root, epochs=[1, 1, 4], **kw)
    assert [h["val"] for h in h4] == [h["val"] for h in h4_full] and len(h4) == 4
    assert ext.test_metrics == full.test_metrics
    for a, b in zip(ext.spiking_layers, full.spiking_layers, strict=True):
        assert torch.equal(a.weight, b.weight)
    log = json.loads((d / "history.json").read_text())
    assert [(r["layer"], r["epoch"]) for r in log] == [("S1", 1), ("S2", 1)] + [
        ("S3", e) for e in (1, 2, 3, 4)
    ]
    assert all("val_correct" in r for r in log[2:])
    # fewer epochs, or another phase changed, is not an extension
    with pytest.raises(ValueError, match="another configuration"):
        train("mozafari2018", "mnist", mnist_root, epochs=[2, 1, 4], checkpoint_dir=str(d), resume=True, **kw)
    # an edited description (free text: it changes no result) still resumes the run
    edited = dataclasses.replace(get_spec("mozafari2018"), description="edited by hand")
    again, _ = train(edited, "mnist", mnist_root, epochs=[1, 1, 4], checkpoint_dir=str(d), resume=True, **kw)
    assert again.test_metrics == full.test_metrics


def test_cli_train_saves_a_run_folder_by_default(mnist_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "train",
                "--root",
                mnist_root,
                "--samples",
                "200",
                "200",
                "300",
                "--epochs",
                "1",
                "1",
                "1",
                "--test-samples",
                "100",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("mozafari2018-")
    assert f"run folder {os.path.join('runs', runs[0].name)}" in out and "run saved in" in out
    assert {"best.pt", "last.pt", "metrics.json", "history.json", "history.csv"} <= {
        p.name for p in runs[0].iterdir()
    }
    assert main(["train", "--root", mnist_root, "--resume", "--no-progress"]) == 2
    assert "--resume: needs --checkpoint-dir" in capsys.readouterr().err


def test_validation_split_chooses_the_epoch_and_the_test_set_is_read_once(mnist_root, mnist, monkeypatch):
    fevaluation = importlib.import_module("fastspike.training.evaluation")
    floop = importlib.import_module("fastspike.training.loop")

    calls = []
    real_evaluate, real_predict = fevaluation.evaluate, floop.predict

    def evaluate(net, x, labels, *a, **k):
        calls.append(("evaluate", x.shape[0], labels[:5].tolist()))
        return real_evaluate(net, x, labels, *a, **k)

    def predict(net, x, *a, **k):
        calls.append(("predict", x.shape[0]))
        return real_predict(net, x, *a, **k)

    monkeypatch.setattr(fevaluation, "evaluate", evaluate)  # what each validation pass calls
    monkeypatch.setattr(floop, "predict", predict)  # what the test pass calls
    kw = dict(samples=[300, 300, 400], test_samples=150, batch_size=50, progress=False, download=False)
    net, hist = train("mozafari2018", "mnist", mnist_root, epochs=[1, 1, 4], validation=250, **kw)
    train_set, test_set = mnist
    # every S3 epoch is scored on the last 250 training images; the test set is read once, at the end
    tail = train_set.labels[-250:][:5].tolist()
    assert calls == [("evaluate", 250, tail)] * 4 + [("predict", 150)]
    vals = [h["val"]["correct"] for h in hist]
    assert "test" not in hist[0] and len(vals) == 4
    assert net.selection["epoch"] == vals.index(max(vals)) + 1 and net.selection["val_correct"] == max(vals)
    direct = evaluate_images(net, test_set.images[:150], test_set.labels[:150])
    m = net.test_metrics
    assert (m["n"], m["accuracy"], m["wrong"], m["silent"]) == (
        150,
        direct["correct"],
        direct["wrong"],
        direct["silent"],
    )
    # the chosen weights are those after that epoch: a run that stops there, without a split, has them
    k = net.selection["epoch"]
    short, h0 = train("mozafari2018", "mnist", mnist_root, epochs=[1, 1, k], validation=0, **kw)
    assert torch.equal(short.conv3.weight, net.conv3.weight) and short.selection is None
    assert all("val" not in h for h in h0)
    # the pool and the split are disjoint: the split is the tail of the training set
    pool, val = floop.hold_out(train_set, 250, get_spec("mozafari2018"))
    assert len(pool) == len(train_set) - 250 and torch.equal(val.images, train_set.images[-250:])
    assert torch.equal(pool.images[-1], train_set.images[-251])


def test_a_network_refuses_images_of_another_size_and_names_the_expected_one():
    net = Mozafari2018(seed=0)
    small = net.encoder(torch.zeros(2, 20, 20, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"built for 28x28 images \(encoded \[B, 6, 28, 28\]\)"):
        net(small)
    with pytest.raises(ValueError, match="built for 28x28"):
        net.layer_input(2, small)
    assert net(net.encoder(torch.zeros(2, 28, 28, dtype=torch.uint8))).shape == (2,)


def test_registered_names_are_one_scheme_and_old_names_still_load(tmp_path):
    for name in MODELS:
        assert name == name.lower() and "_" not in name, name
    for old, new in ALIASES.items():
        assert new in MODELS and old not in MODELS
        assert get_spec(old) == get_spec(new).replace(name=old)  # the network under its old name
        f = tmp_path / f"{old}.json"
        f.write_text(json.dumps({"base": old, "name": f"{old}-copy"}))
        assert load_spec(str(f)) == get_spec(new).replace(name=f"{old}-copy")
    with pytest.raises(SpecError, match="expected one of"):
        get_spec("deepr2024_3")
