"""Bringing models in (fastspike.convert): SpykeTorch state dicts and Spyker weight files become
the registered networks, predict what fastspike predicts with the same weights, train on, and
bad files or tensors are refused with an error that names the entry.

SpykeTorch is not a dependency: the state dicts are built here with the names and shapes its
example networks save (``conv1.weight``, ``stdp1.ltp_0``, ...). Spyker, where it is installed,
runs its example's pipeline on the same spikes for the feature comparison.
"""

from __future__ import annotations

import dataclasses
import os
import types

import numpy as np
import pytest
import torch

import fastspike
from fastspike import reference as ref
from fastspike.api import load_model
from fastspike.convert import SOURCES, from_spyker, from_spyketorch, source_spec
from fastspike.models import Kheradpisheh2018, Mozafari2018
from fastspike.readout import fit_linear
from fastspike.registry import get_spec
from fastspike.training import learner, train_epoch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "fastspike", "pretrained", "mozafari2018-tiny.pt")
T = 15


def spyketorch_state_dict(weights, model: str) -> dict:
    """What ``torch.save(net.state_dict())`` of SpykeTorch's example network holds: the conv
    weights, each STDP rule's copy of its layer and per-feature rates, and ``max_ap``."""
    sd = {f"conv{i}.weight": w.clone() for i, w in enumerate(weights, 1)}
    rules = [("stdp1", 1), ("stdp2", 2)]
    if model == "mozafari2018":
        rules += [("stdp3", 3), ("anti_stdp3", 3)]
    for rule, i in rules:
        sd[f"{rule}.conv_layer.weight"] = sd[f"conv{i}.weight"]
        for f in range(weights[i - 1].shape[0]):
            sd[f"{rule}.ltp_{f}"] = torch.tensor([0.004])
            sd[f"{rule}.ltd_{f}"] = torch.tensor([-0.003])
    sd["max_ap"] = torch.tensor([0.15])
    return sd


def weights_of(net) -> list[torch.Tensor]:
    return [c.weight.clone() for c in net.spiking_layers]


def with_weights(net, weights):
    for c, w in zip(net.spiking_layers, weights, strict=True):
        c.weight.copy_(w)
    return net


@pytest.fixture(scope="module")
def demo():
    """A trained Mozafari 2018 network (the shipped demo checkpoint, clean mode)."""
    return load_model(DEMO)


@pytest.fixture(scope="module")
def kheradpisheh_weights(mnist):
    """Kheradpisheh 2018 weights after a short STDP training of S1 and S2 (selective features)."""
    train, _ = mnist
    net = Kheradpisheh2018(seed=3)
    times = net.encoder(train.images[:256])
    for layer in ("S1", "S2"):
        train_epoch(
            net, layer, net.layer_input(layer, times, training=True), learner(net, layer), batch_size=32
        )
    return weights_of(net)


# ------------------------------------------------------------------ the registered networks
def test_sources_match_the_registered_specs():
    """The example scripts' constants are the registered networks' (Spyker's Mozafari example
    aside: its S2 fires above 5, so that network is built with its own threshold)."""
    for (sim, model), source in SOURCES.items():
        spec = source_spec(source)
        convs = {c.name: c for c in spec.convs}
        for name, (threshold, k, radius) in source.layers.items():
            assert (convs[name].threshold, convs[name].k, convs[name].radius) == (threshold, k, radius)
        differs = (sim, model) == ("spyker", "mozafari2018")
        assert (spec == get_spec(model)) != differs
        if differs:
            assert spec.name == "mozafari2018-spyker" and convs["S2"].threshold == 5.0
            back = spec.map_convs(lambda c: dataclasses.replace(c, threshold=10.0) if c.name == "S2" else c)
            assert back.replace(name=model, description=get_spec(model).description) == get_spec(model)


def test_exported_from_the_package():
    assert fastspike.from_spyketorch is from_spyketorch and fastspike.from_spyker is from_spyker


# ------------------------------------------------------------------ SpykeTorch: Mozafari 2018
def test_spyketorch_mozafari_predicts_what_fastspike_predicts(mnist, demo, tmp_path):
    _, test = mnist
    images, labels = test.images[:200], test.labels[:200]
    sd = spyketorch_state_dict(weights_of(demo), "mozafari2018")
    path = tmp_path / "saved.net"
    torch.save(sd, path)
    times = demo.encoder(images)
    expect = demo(times)
    # clean mode: exactly the demo network's answers; a trained network answers well
    for source in (path, str(path), sd):
        net = from_spyketorch(source, "mozafari2018", compat=False)
        assert net.spec == get_spec("mozafari2018") and net.spec.layers == demo.spec.layers
        assert not net.compat and net.source == "SpykeTorch MozafariMNIST2018"
        for c, d in zip(net.spiking_layers, demo.spiking_layers, strict=True):
            assert torch.equal(c.weight, d.weight)
    assert torch.equal(net(times), expect)
    assert float((expect == labels).float().mean()) > 0.75
    # compat (the default): what a compat-mode fastspike network with these weights predicts
    net = from_spyketorch(sd, "MozafariMNIST2018")
    assert net.compat
    assert torch.equal(net(times), with_weights(Mozafari2018(compat=True), weights_of(demo))(times))


def test_spyketorch_mozafari_agrees_with_the_wave_reference(mnist, demo):
    """The converted network decides as the pure-PyTorch reference does on spike waves (the
    reference simulator's own representation), sample by sample."""
    _, test = mnist
    net = from_spyketorch(spyketorch_state_dict(weights_of(demo), "mozafari2018"), "mozafari2018")
    rnet = ref.ReferenceMozafari2018(get_spec("mozafari2018"), compat=True)
    rnet.w1, rnet.w2, rnet.w3 = weights_of(demo)
    times = net.encoder(test.images[:10])
    got = net(times).tolist()
    assert got == [rnet.predict(ref.times_to_wave(times[i], T)) for i in range(10)]


def test_spyketorch_mozafari_trains_on(mnist, demo):
    """R-STDP of S3 goes on from the converted weights exactly as in a fastspike network with
    them, and the weights stay within the rule's bounds (SpykeTorch's whole-tensor clamp)."""
    train, _ = mnist
    images, labels = train.images[:96], train.labels[:96]
    w0 = weights_of(demo)
    net = from_spyketorch(spyketorch_state_dict(w0, "mozafari2018"), "mozafari2018")
    twin = with_weights(Mozafari2018(compat=True), w0)
    x3 = net.layer_input("S3", net.encoder(images), training=True)
    for m in (net, twin):
        res = train_epoch(m, "S3", x3, learner(m, "S3"), labels=labels, batch_size=16)
    assert res["correct"] > 0.5
    assert torch.equal(net.conv3.weight, twin.conv3.weight)
    assert not torch.equal(net.conv3.weight, w0[2])
    lb, ub = torch.tensor(0.2), torch.tensor(0.8)  # the bounds in float32, as the rule clamps
    assert bool((net.conv3.weight >= lb).all()) and bool((net.conv3.weight <= ub).all())
    # and an STDP layer too
    x1 = net.layer_input("S1", net.encoder(images), training=True)
    for m in (net, twin):
        train_epoch(m, "S1", x1, learner(m, "S1"), batch_size=16)
    assert torch.equal(net.conv1.weight, twin.conv1.weight) and not torch.equal(net.conv1.weight, w0[0])


# ------------------------------------------------------------------ SpykeTorch: Kheradpisheh 2018
def test_spyketorch_kheradpisheh_features_readout_and_training(mnist, kheradpisheh_weights):
    train, test = mnist
    sd = spyketorch_state_dict(kheradpisheh_weights, "kheradpisheh2018")
    twin = with_weights(Kheradpisheh2018(), kheradpisheh_weights)
    net = from_spyketorch(sd, "kheradpisheh2018", compat=False)
    assert net.spec == get_spec("kheradpisheh2018")
    times_tr, times_te = net.encoder(train.images[:256]), net.encoder(test.images[:200])
    feats = net.features(times_te)
    assert torch.equal(feats, twin.features(times_te))
    assert feats.shape == (200, 12150) and 0.05 < float(feats.float().mean()) < 0.95
    # the script's SVM travels separately: (weight, bias) or a fitted classifier's coef_/intercept_
    with pytest.raises(RuntimeError, match="not fitted"):
        net(times_te)
    W, b = fit_linear(net.features(times_tr), train.labels[:256], 10, max_iter=15)  # a rough fit
    for readout in ((W, b), types.SimpleNamespace(coef_=W.double().numpy(), intercept_=b.double().numpy())):
        net = from_spyketorch(sd, "kheradpisheh2018", compat=False, readout=readout)
        pred = net(times_te)
        assert torch.equal(pred, torch.where((feats > 0).any(1), (feats.float() @ W.T + b).argmax(1), -1))
    assert float((pred == test.labels[:200]).float().mean()) > 0.3  # chance: 0.1 (a 256-image SVM)
    # S2's STDP goes on exactly as in the fastspike network with these weights
    x2 = net.layer_input("S2", times_tr, training=True)
    for m in (net, twin):
        train_epoch(m, "S2", x2, learner(m, "S2"), batch_size=32)
    assert torch.equal(net.conv2.weight, twin.conv2.weight)
    assert not torch.equal(net.conv2.weight, kheradpisheh_weights[1])


# ------------------------------------------------------------------ SpykeTorch: bad input
def _moz_sd():
    g = torch.Generator().manual_seed(0)
    shapes = [(30, 6, 5, 5), (250, 30, 3, 3), (200, 250, 5, 5)]
    return spyketorch_state_dict([torch.rand(s, generator=g) for s in shapes], "mozafari2018")


def _edit(**changes):
    sd = _moz_sd()
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            del sd[k]
        else:
            sd[k] = v
    return sd


@pytest.mark.parametrize(
    "sd,match",
    [
        (_edit(conv2__weight=None), r"conv2\.weight: missing \(expected shape \(250, 30, 3, 3\)"),
        (_edit(conv4__weight=torch.zeros(3)), r"conv4\.weight: unexpected parameter of shape \(3,\)"),
        (
            _edit(conv1__weight=torch.rand(30, 6, 3, 3)),
            r"conv1\.weight: expected shape \(30, 6, 5, 5\), found \(30, 6, 3, 3\)",
        ),
        (
            _edit(conv3__weight=torch.rand(200, 250, 5)),
            r"conv3\.weight: expected shape \(200, 250, 5, 5\), found \(200, 250, 5\)",
        ),
        (
            _edit(conv1__weight=torch.ones(30, 6, 5, 5, dtype=torch.int64)),
            r"conv1\.weight: expected floating-point",
        ),
        (_edit(conv1__weight=-torch.rand(30, 6, 5, 5)), r"conv1\.weight: expected weights >= 0"),
        (_edit(conv2__weight=torch.full((250, 30, 3, 3), float("nan"))), r"conv2\.weight: expected finite"),
        (
            _edit(conv1__weight=[[0.5]]),
            r"conv1\.weight: expected a tensor of shape \(30, 6, 5, 5\), found a list",
        ),
        (
            _edit(stdp1__conv_layer__weight=torch.rand(30, 6, 5, 5)),
            r"stdp1\.conv_layer\.weight: differs from conv1\.weight",
        ),
        (
            _edit(stdp2__conv_layer__weight=torch.rand(3, 3)),
            r"stdp2\.conv_layer\.weight: expected shape \(250, 30, 3, 3\)",
        ),
        (_edit(stdp1__ltp_30=torch.tensor([0.004])), r"stdp1\.ltp_30: unexpected parameter"),
        (_edit(stdp3__ltd_0=torch.tensor([0.1, 0.2])), r"stdp3\.ltd_0: expected shape \(1,\), found \(2,\)"),
        (_edit(stdp4__ltp_0=torch.tensor([0.1])), r"stdp4\.ltp_0: unexpected parameter"),
        (
            _edit(
                conv3__weight=None,
                conv2__weight=torch.rand(150, 32, 2, 2),
                conv1__weight=torch.rand(32, 2, 5, 5),
            ),
            r"conv3\.weight: missing .* pass model='kheradpisheh2018'",
        ),
    ],
)
def test_spyketorch_bad_state_dicts_are_named(sd, match):
    with pytest.raises(ValueError, match=match):
        from_spyketorch(sd, "mozafari2018")


def test_spyketorch_bad_arguments_and_files(tmp_path):
    kh = {"conv1.weight": torch.rand(32, 2, 5, 5), "conv2.weight": torch.rand(150, 32, 2, 2)}
    with pytest.raises(
        ValueError, match=r"conv1\.weight: expected shape \(30, 6, 5, 5\), found \(32, 2, 5, 5\)"
    ):
        from_spyketorch({**kh, "conv3.weight": torch.rand(200, 250, 5, 5)}, "mozafari2018")
    with pytest.raises(ValueError, match=r"model: expected one of \['kheradpisheh2018', 'mozafari2018'\]"):
        from_spyketorch(kh, "deep2024")
    with pytest.raises(ValueError, match="state_dict: expected a SpykeTorch KheradpishehMNIST state dict"):
        from_spyketorch([1, 2], "kheradpisheh2018")
    with pytest.raises(ValueError, match="readout: 'mozafari2018' decides by itself"):
        from_spyketorch(_moz_sd(), "mozafari2018", readout=(torch.zeros(10, 4000), torch.zeros(10)))
    with pytest.raises(ValueError, match=r"readout weight: expected shape \(10, 12150\), found \(10, 4000\)"):
        from_spyketorch(kh, "kheradpisheh2018", readout=(torch.zeros(10, 4000), torch.zeros(10)))
    with pytest.raises(FileNotFoundError, match="no file"):
        from_spyketorch(str(tmp_path / "nothing.net"), "kheradpisheh2018")
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(ValueError, match="not a plain-data torch file"):
        from_spyketorch(text, "kheradpisheh2018")


class _Payload:
    """Pickles as a call that would leave a file behind when unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_file_that_pickles_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.net"
    torch.save({"conv1.weight": torch.rand(32, 2, 5, 5), "x": _Payload(str(marker))}, path)
    with pytest.raises(ValueError, match="refused to load it, nothing in it ran"):
        from_spyketorch(path, "kheradpisheh2018")
    assert not marker.exists()


# ------------------------------------------------------------------ Spyker
def _dyadic(shape, denom, top, gen):
    return torch.randint(0, top + 1, shape, generator=gen).float() / denom


def _spyker_weights(model: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights on a dyadic grid: every potential is exact in any summation order, so Spyker's
    convolution and fastspike's agree bit for bit."""
    g = torch.Generator().manual_seed(seed)
    if model == "kheradpisheh2018":
        return {
            "conv1_kernel": _dyadic((32, 2, 5, 5), 64, 64, g),
            "conv2_kernel": _dyadic((150, 32, 2, 2), 1024, 64, g),
        }
    return {
        "conv1_kernel": _dyadic((30, 6, 5, 5), 64, 64, g),
        "conv2_kernel": _dyadic((250, 30, 3, 3), 256, 64, g),
        "conv3_kernel": _dyadic((200, 250, 5, 5), 64, 64, g),
    }


def test_spyker_npz_files_and_mappings(tmp_path):
    w = _spyker_weights("kheradpisheh2018")
    path = tmp_path / "kheradpisheh_mnist_dense.npz"
    np.savez(path, **{k: v.numpy() for k, v in w.items()})  # what the example's save() writes
    for source in (path, str(path), w, {k: v.numpy() for k, v in w.items()}):
        net = from_spyker(source, "kheradpisheh2018")
        assert net.spec == get_spec("kheradpisheh2018") and not net.compat
        assert torch.equal(net.conv1.weight, w["conv1_kernel"]) and torch.equal(
            net.conv2.weight, w["conv2_kernel"]
        )
    moz = from_spyker(_spyker_weights("mozafari2018"), "mozafari2018")
    assert moz.spec.name == "mozafari2018-spyker" and moz.conv2.threshold == 5.0
    # bad input
    with pytest.raises(ValueError, match=r"conv2_kernel: missing \(expected shape \(150, 32, 2, 2\)"):
        from_spyker({"conv1_kernel": w["conv1_kernel"]}, "kheradpisheh2018")
    with pytest.raises(ValueError, match=r"conv3_kernel: unexpected array of shape \(3, 3\)"):
        from_spyker({**w, "conv3_kernel": np.zeros((3, 3))}, "kheradpisheh2018")
    with pytest.raises(
        ValueError, match=r"conv2_kernel: expected shape \(150, 32, 2, 2\), found \(150, 32, 3, 3\)"
    ):
        from_spyker({**w, "conv2_kernel": np.zeros((150, 32, 3, 3), np.float32)}, "kheradpisheh2018")
    with pytest.raises(
        ValueError,
        match=r"conv1_kernel: expected shape \(30, 6, 5, 5\), found \(32, 2, 5, 5\) "
        r"\(a Spyker kheradpisheh2018 network's: pass model='kheradpisheh2018'\)",
    ):
        from_spyker({**w, "conv3_kernel": np.ones((200, 250, 5, 5), np.float32)}, "mozafari2018")
    with pytest.raises(ValueError, match=r"conv3_kernel: missing .* pass model='kheradpisheh2018'"):
        from_spyker(w, "mozafari2018")
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, conv1_kernel=np.array([_Payload(str(tmp_path / "ran"))], dtype=object))
    with pytest.raises(ValueError, match="nothing in them ran"):
        from_spyker(pickled, "kheradpisheh2018")
    assert not (tmp_path / "ran").exists()
    single = tmp_path / "one.npy"
    np.save(single, w["conv1_kernel"].numpy())
    with pytest.raises(ValueError, match="a single array, not an .npz archive"):
        from_spyker(single, "kheradpisheh2018")
    with pytest.raises(ValueError, match="expected a Spyker kheradpisheh_mnist_dense .npz file"):
        from_spyker(3, "kheradpisheh2018")


def _spyker_wave(times: torch.Tensor) -> torch.Tensor:
    """First-spike times ``[B, C, H, W]`` -> Spyker's cumulative spike wave ``[B, T, C, H, W]``."""
    return (torch.arange(T).view(1, T, 1, 1, 1) >= times.unsqueeze(1).long()).to(torch.uint8)


def _spyker_times(wave: torch.Tensor) -> torch.Tensor:
    return (T - wave.to(torch.int64).sum(1)).to(torch.uint8)


def test_spyker_features_equal_spykers_own(mnist):
    """The converted network's features are what Spyker's example pipeline computes on the
    same spikes with the same kernels (Kheradpisheh), and S3's input the same (Mozafari)."""
    spyker = pytest.importorskip("spyker")
    _, test = mnist
    w = _spyker_weights("kheradpisheh2018", seed=1)
    conv1 = spyker.Conv(2, 32, 5, pad=2, mean=0.8, std=0.05)
    conv2 = spyker.Conv(32, 150, 2, pad=1, mean=0.8, std=0.05)
    spyker.to_tensor(w["conv1_kernel"]).to(conv1.kernel)  # as the example's load() sets them
    spyker.to_tensor(w["conv2_kernel"]).to(conv2.kernel)
    example = types.SimpleNamespace(conv1=conv1, conv2=conv2)  # as the example's Network holds them
    net = from_spyker(example, "kheradpisheh2018")
    assert torch.equal(net.conv1.weight, w["conv1_kernel"]) and torch.equal(
        net.conv2.weight, w["conv2_kernel"]
    )
    times = net.encoder(test.images[:48])
    x = spyker.pool(spyker.fire(conv1(_spyker_wave(times)), 10), 2, pad=1)
    x = spyker.pool(spyker.fire(conv2(x), 1), 2, pad=1)
    theirs = x.amax(dim=1).flatten(1)
    feats = net.features(times)
    assert torch.equal(feats, theirs.to(feats.dtype))
    assert 0.05 < float(feats.float().mean()) < 0.95
    # Mozafari: S2 fires above 5 (the example's threshold), then pool 3 and pad 2
    w = _spyker_weights("mozafari2018", seed=2)
    convs = [
        spyker.Conv(6, 30, 5, pad=2, mean=0.8, std=0.05),
        spyker.Conv(30, 250, 3, pad=1, mean=0.8, std=0.05),
        spyker.Conv(250, 200, 5, pad=2, mean=0.8, std=0.05),
    ]
    for c, k in zip(convs, w.values(), strict=True):
        spyker.to_tensor(k).to(c.kernel)
    net = from_spyker(types.SimpleNamespace(conv1=convs[0], conv2=convs[1], conv3=convs[2]), "mozafari2018")
    assert all(torch.equal(c.weight, k) for c, k in zip(net.spiking_layers, w.values(), strict=True))
    times = net.encoder(test.images[:16])
    x = spyker.pool(spyker.fire(convs[0](_spyker_wave(times)), 15), 2)
    x = spyker.pool(spyker.fire(convs[1](x), 5), 3)
    theirs = torch.nn.functional.pad(_spyker_times(x), (2, 2, 2, 2), value=T)
    ours = net.layer_input("S3", times)
    assert torch.equal(ours, theirs)
    assert bool((ours < T).any())
