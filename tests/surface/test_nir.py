"""fastspike.nir: every conv network exports to NIR and reads back, a trained one answers MNIST
as before, the graph run as NIR's equations say agrees with the network, the metadata survives
a file, and what cannot be exported says so (docs/guides/nir.md)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

nir = pytest.importorskip(
    "nir", reason="fastspike.nir needs the optional package nir (pip install -e .[nir])"
)

import fastspike  # noqa: E402
import fastspike.nir as fnir  # noqa: E402
from fastspike.diehlcook import DiehlCook  # noqa: E402
from fastspike.models import build  # noqa: E402
from fastspike.registry import conv_networks, get_spec  # noqa: E402
from fastspike.spec import Inhibit, LinearReadout, Pad  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRETRAINED = os.path.join(ROOT, "fastspike", "pretrained", "mozafari2018-tiny.pt")
N_IMAGES = 300  # MNIST test images of the trained network's checks


def _export(net, path=None, **kw):
    """Export, with the approximation warning of Izhikevich networks expected and checked."""
    izhikevich = any(c.neuron is not None for c in net.spec.convs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = fnir.export(net, path, **kw)
    approx = [w for w in caught if "approximates" in str(w.message)]
    assert bool(approx) == izhikevich, [str(w.message) for w in caught]
    return graph


def _with_readout(net, seed=0):
    """A linear-readout network with a fitted-looking readout (random weights and bias)."""
    if isinstance(net.spec.readout, LinearReadout):
        g = torch.Generator().manual_seed(seed)
        net.readout_weight.copy_(torch.randn(net.readout_weight.shape, generator=g))
        net.readout_bias.copy_(torch.randn(net.readout_bias.shape, generator=g))
        net.readout_fitted.fill_(True)
    return net


@pytest.fixture(scope="module")
def trained():
    return fastspike.load_model(PRETRAINED)


@pytest.fixture(scope="module")
def mnist_times(mnist, trained):
    _, test = mnist
    images = test.images[:N_IMAGES]
    return trained.encoder(images), test.labels[:N_IMAGES]


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", conv_networks())
def test_every_registered_conv_network_exports_and_reads_back(name, tmp_path, mnist):
    net = _with_readout(build(name, seed=3))
    path = tmp_path / f"{name}.nir"
    _export(net, str(path))
    graph = nir.read(str(path))
    spec = net.spec
    convs = [n for n in graph.nodes.values() if isinstance(n, nir.Conv2d) and n.metadata.get("layer")]
    assert len(convs) == len(spec.convs)
    pools = [n for n in graph.nodes.values() if isinstance(n, nir.SumPool2d)]
    assert len(pools) == sum(1 for layer in spec.layers if type(layer).__name__ == "Pool")
    thresholded = [c for c in spec.convs if c.threshold is not None]
    ifs = [n for n in graph.nodes.values() if isinstance(n, nir.IF) and n.metadata.get("layer")]
    assert sorted(n.metadata["layer"] for n in ifs) == sorted(c.name for c in thresholded)

    back = fnir.load(str(path))
    assert back.spec.to_dict() == spec.to_dict() and back.compat == net.compat
    for (a_name, a), (b_name, b) in zip(net.named_convs(), back.named_convs(), strict=True):
        assert a_name == b_name and torch.equal(a.weight, b.weight) and a.threshold == b.threshold
        assert (a.k, a.radius) == (b.k, b.radius)
    if isinstance(spec.readout, LinearReadout):
        assert torch.equal(net.readout_weight, back.readout_weight)
        assert torch.equal(net.readout_bias, back.readout_bias) and bool(back.readout_fitted)
    times = net.encoder(mnist[1].images[:4])
    assert torch.equal(net(times), back(times))


def test_a_trained_network_answers_mnist_as_before_after_a_file_round_trip(trained, mnist_times, tmp_path):
    times, labels = mnist_times
    path = str(tmp_path / "mozafari2018.nir")
    fnir.export(trained, path)
    back = fnir.load(path)
    expected = trained(times)
    assert (expected == labels).float().mean() > 0.75  # a trained network (86% on the whole test set)
    assert torch.equal(back(times), expected)
    assert back.encoder.key() == trained.encoder.key()  # the same encoding of the images


def test_the_graph_run_as_nir_says_agrees_with_the_network(trained, mnist_times):
    """fastspike.nir.predict runs the graph by NIR's equations in float32: one spike per neuron,
    the first spikes of the network but where a float32 sum in another order than the network's
    lands on the other side of a threshold (S2: 168 of 961,874 spikes move by a step on these
    300 images), and the network's decisions (docs/guides/nir.md: the agreement)."""
    times, _ = mnist_times
    T = trained.T
    graph = fnir.export(trained, encoder=False)
    res = fnir.simulate(graph, times, record=("S1_if", "S2_if"), first_spikes=("S1_if", "S2_if"))
    outs = trained.layer_outputs(times)
    assert res["S1_if"].max() == 1 and res["S2_if"].max() == 1  # one spike per neuron
    for name, ref in (("S1_if", outs[0][0].long()), ("S2_if", outs[1][0].long())):
        got = res[f"{name}:first"]
        spiking = (got < T) | (ref < T)
        assert spiking.sum() > 100_000 and (got == ref)[spiking].float().mean() > 0.999, name
    assert (fnir.predict(graph, times) == trained(times)).float().mean() >= 0.99


@pytest.mark.parametrize("name", ["inception2024", "majority2024", "kheradpisheh2018", "padded-linear"])
def test_branches_heads_pads_and_linear_readouts_run_as_the_network(name, mnist):
    """Concatenated branches (placed, summed), voting heads, padded pools and linear readouts
    (one after a trailing pad): the graph run as NIR says answers as the network does
    (untrained weights, 8 images)."""
    if name == "padded-linear":
        spec = get_spec("mozafari2018-linear")
        spec = spec.replace(name="padded-linear", layers=(*spec.layers, Pad(1)))
        net = _with_readout(build(spec, seed=5))
    else:
        net = _with_readout(build(name, seed=5))
    times = net.encoder(mnist[1].images[:8])
    graph = _export(net, encoder=False)
    assert torch.equal(fnir.predict(graph, times), net(times))
    if net.is_decision:  # the final potentials (a vote's heads: centred and concatenated)
        potentials = net.layer_outputs(times)[-1][1]
        assert torch.allclose(fnir.simulate(graph, times)["output"], potentials, rtol=1e-5, atol=1e-2)
    else:  # the features: what spiked at all
        spiked = fnir.simulate(graph, times, record=("flatten",))["flatten"]
        assert torch.equal(spiked.to(torch.uint8), net.features(times))


# ----------------------------------------------------------------------------- the graph and its metadata
def test_the_graph_of_mozafari2018_is_the_expected_chain(trained):
    g = fnir.export(trained, encoder=False)
    chain = ["input", "S1", "S1_if", "pool2", "pool2_if", "S2", "S2_if", "pool5", "pool5_if", "S3", "S3_i"]
    assert g.edges == list(zip(chain, chain[1:] + ["output"], strict=True))
    kinds = [nir.Input, nir.Conv2d, nir.IF, nir.SumPool2d, nir.IF, nir.Conv2d, nir.IF, nir.SumPool2d, nir.IF]
    assert [type(g.nodes[n]) for n in chain[:9]] == kinds
    assert isinstance(g.nodes["S3_i"], nir.I) and isinstance(g.nodes["output"], nir.Output)
    assert [tuple(g.nodes[n].padding) for n in ("S1", "S2", "S3")] == [(2, 2), (1, 1), (2, 2)]
    assert list(g.nodes["output"].output_type["output"]) == [200, 4, 4]
    for name, theta in (("S1_if", 15.0), ("S2_if", 10.0), ("pool2_if", 0.5), ("pool5_if", 0.5)):
        node = g.nodes[name]
        assert np.all(node.v_threshold == theta) and np.all(node.r == 1)
    # one spike per neuron: after a spike, all the inputs a neuron can still get stay below its threshold
    for conv, neurons in (("S1", "S1_if"), ("S2", "S2_if")):
        w = g.nodes[conv].weight.astype(np.float64)
        most = np.clip(w, 0, None).reshape(w.shape[0], -1).sum(1)
        reset = g.nodes[neurons].v_reset[:, 0, 0].astype(np.float64)
        assert np.all(reset + most <= g.nodes[neurons].v_threshold[:, 0, 0] - 1)
    assert np.all(g.nodes["pool5_if"].v_reset + 9 <= -0.5)


def test_the_metadata_survives_a_file(trained, tmp_path):
    path = str(tmp_path / "m.nir")
    fnir.export(trained, path)
    meta = nir.read(path).metadata
    spec = trained.spec
    assert int(meta["fastspike_format"]) == fnir.FORMAT and meta["fastspike_version"] == fastspike.__version__
    assert json.loads(meta["fastspike_spec"]) == spec.to_dict()
    assert meta["name"] == "mozafari2018" and int(meta["T"]) == 15 and int(meta["n_classes"]) == 10
    assert (
        int(meta["compat"]) == 0 and meta["readout"] == "decision" and int(meta["features_per_class"]) == 20
    )
    layers = {e["name"]: e for e in json.loads(meta["layers"])}
    assert [(e["threshold"], e["k"], e["radius"]) for e in layers.values()] == [
        (c.threshold, c.k, c.radius) for c in spec.convs
    ]
    assert (
        layers["S1"]["node"] == "S1"
        and layers["S1"]["neuron"] == "S1_if"
        and layers["S3"]["neuron"] == "S3_i"
    )
    np.testing.assert_array_equal(meta["dog_bank"], np.array(spec.encoder.dog))
    assert int(meta["dog_padding"]) == 6 and float(meta["dog_threshold"]) == 50.0
    assert int(meta["norm_radius"]) == 8 and meta["rank_order_mode"] == "clean"
    assert int(meta["tie_consistent"]) == 0
    assert json.loads(meta["approximations"]) == []
    for key in ("input_coding", "output_decoding", "training_only"):
        assert isinstance(meta[key], str) and len(meta[key]) > 40
    graph = nir.read(path)
    s1 = graph.nodes["S1"].metadata
    assert (s1["layer"], int(s1["k"]), int(s1["radius"]), float(s1["threshold"])) == ("S1", 5, 3, 15.0)
    from fastspike.encoding import dog_filters

    np.testing.assert_array_equal(graph.nodes["dog"].weight, dog_filters(spec.encoder.dog).numpy())
    assert (
        tuple(graph.nodes["dog"].padding) == (6, 6)
        and float(graph.nodes["dog"].metadata["threshold"]) == 50.0
    )


def test_a_linear_readout_keeps_its_exact_bias_and_spreads_it_over_the_steps(tmp_path):
    net = _with_readout(build("mozafari2018-linear", seed=1))
    path = str(tmp_path / "lin.nir")
    graph = fnir.export(net, path)
    np.testing.assert_allclose(graph.nodes["readout"].bias * net.T, net.readout_bias.numpy(), rtol=1e-6)
    meta = nir.read(path).metadata
    np.testing.assert_array_equal(meta["readout_bias"], net.readout_bias.numpy())
    assert meta["readout"] == "linear" and int(meta["readout_fitted"]) == 1


def test_a_vote_network_lists_its_heads(tmp_path):
    net = build("majority2024")
    meta = fnir.export(net, str(tmp_path / "v.nir")).metadata
    heads = json.loads(meta["heads"])
    assert [h["name"] for h in heads] == ["H3", "H5", "H7"] and meta["fallback"] == "H5"
    assert [h["channels"] for h in heads] == [[0, 200], [200, 400], [400, 600]]
    assert all(h["features_per_class"] == 20 for h in heads)


# ----------------------------------------------------------------------------- what cannot be exported
def test_what_cannot_be_exported_says_why(tmp_path):
    with pytest.raises(fnir.NIRExportError, match="not a first-spike conv network"):
        fnir.export(DiehlCook())
    with pytest.raises(TypeError, match="expected a fastspike.Network"):
        fnir.export(get_spec("mozafari2018"))
    with pytest.raises(fnir.NIRExportError, match="Izhikevich neurons"):
        fnir.export(build("izhikevich-csnn"), strict=True)
    spec = get_spec("kheradpisheh2018")
    spec = spec.replace(layers=tuple(Inhibit(False) if isinstance(x, Inhibit) else x for x in spec.layers))
    with pytest.warns(UserWarning, match="pointwise inhibition at inference"):
        meta = fnir.export(build(spec)).metadata
    assert "pointwise inhibition" in json.loads(meta["approximations"])[0]
    with pytest.raises(fnir.NIRExportError, match="pointwise inhibition"):
        fnir.export(build(spec), strict=True)
    with pytest.warns(UserWarning, match="compat"):
        fnir.export(build("mozafari2018", compat=True))


def test_load_refuses_graphs_it_did_not_write_or_that_were_edited(trained, tmp_path):
    foreign = nir.NIRGraph.from_list(nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32)))
    with pytest.raises(fnir.NIRExportError, match="not written by fastspike.nir.export"):
        fnir.load(foreign)
    with pytest.raises(FileNotFoundError, match="no file"):
        fnir.load(str(tmp_path / "missing.nir"))
    graph = fnir.export(trained)
    graph.nodes["S1_if"].v_threshold = graph.nodes["S1_if"].v_threshold + 1
    with pytest.raises(fnir.NIRExportError, match="thresholds of 'S1_if'"):
        fnir.load(graph)
    graph = fnir.export(trained)
    graph.nodes["dog"].weight = graph.nodes["dog"].weight * 2
    with pytest.raises(fnir.NIRExportError, match="DoG bank"):
        fnir.load(graph)
    graph = fnir.export(trained)
    graph.metadata["fastspike_format"] = fnir.FORMAT + 1
    with pytest.raises(fnir.NIRExportError, match="version"):
        fnir.load(graph)


def test_without_the_nir_package_the_error_says_how_to_install():
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'nir':\n"
        "            raise ImportError('hidden by the test')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import fastspike\n"
        "from fastspike.models import build\n"
        "fastspike.nir.export(build('mozafari2018'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "pip install -e .[nir]" in r.stderr, r.stderr[-2000:]


@pytest.mark.slow
def test_the_agreement_script_runs(mnist_root, capsys):
    spec = importlib.util.spec_from_file_location(
        "nir_agreement", os.path.join(ROOT, "scripts", "nir_agreement.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--images", "50", "--data", mnist_root]) == 0
    out = capsys.readouterr().out
    assert "fastspike.nir.load: 1.0000 of the images" in out
    assert "fastspike.nir.predict (NIR's equations): 1.0000 of the images" in out


@pytest.mark.slow
def test_the_example_of_the_guide_runs(mnist_root, tmp_path):
    """examples/nir_export.py, which docs/guides/nir.md quotes."""
    script = os.path.join(ROOT, "examples", "nir_export.py")
    out = str(tmp_path / "model.nir")
    cmd = [sys.executable, script, "--root", mnist_root, "--out", out, "--images", "100"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "read back, same answers: True" in r.stdout
    assert "the graph run as NIR says: 1.0000 of the answers the same" in r.stdout
    assert os.path.isfile(out) and isinstance(nir.read(out), nir.NIRGraph)
