"""The Izhikevich CSNN (issue 16, item 6): convs of Izhikevich neurons on first-spike times.

* An Izhikevich conv (``Conv.neuron``) equals a plain per-step torch computation written here
  from docs/reference/semantics.md#izhikevich-conv (the exactly rounded potential, the current
  ``gain * max(P - threshold, 0)``, the neurons one step at a time, the first driven spike), on
  random inputs and on real MNIST, whatever the batch and the chunking.
* The reference interprets the same specs: its stages and decisions equal the network's.
* Integrate-and-fire networks are unchanged: no ``neuron`` in their plain form, IF forward paths.
* Specs with neurons round-trip through dicts, JSON and YAML; bad depths and bad neuron
  parameters give errors that name the field.
* Training: a seeded run is reproducible and its R-STDP phase beats chance; the CLI trains it.
"""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from conftest import random_times

from fastspike import ops
from fastspike.__main__ import main
from fastspike.api import train
from fastspike.layers import SpikingConv
from fastspike.network import Network
from fastspike.neurons import Izhikevich
from fastspike.reference import ReferenceNetwork, wave_to_times
from fastspike.registry import MODELS, get_spec, izhikevich_csnn
from fastspike.registry import load_config as load_spec  # a config's base names a registered network
from fastspike.spec import IzhikevichNeuron, NetworkSpec, SpecError

RS = IzhikevichNeuron()


# ----------------------------------------------------------------------------- the layer
def plain_izhikevich_conv(times_in, weight, T, threshold, n: IzhikevichNeuron):
    """First-spike times and values of a conv of Izhikevich neurons, one step at a time in plain
    torch: ``P[t]`` summed in float64 over the inputs that fired by ``t`` and rounded once,
    ``I = gain * max(P - threshold, 0)``, the published half-step scheme (``n_sub`` Euler steps of
    ``v``, then ``u`` from the new ``v``, then the test ``v >= 30`` and the reset), and the first
    spike at a step with ``I > 0``; the value is ``P`` there."""
    B, C, Hp, Wp = times_in.shape
    steps = torch.arange(T).view(1, T, 1, 1, 1)
    wave = (steps >= times_in.long().unsqueeze(1)).to(torch.float64).flatten(0, 1)  # [B*T, C, Hp, Wp]
    w = torch.where(weight.abs() < torch.finfo(torch.float32).tiny, 0.0, weight).double()
    P = F.conv2d(wave, w).float()
    P = P.view(B, T, *P.shape[1:])
    theta = 0.0 if threshold is None else threshold
    current = torch.clamp_min(P - theta, 0.0) * n.gain
    v = torch.full(P[:, 0].shape, float(n.c))
    u = v * float(n.b)
    h = n.dt / n.n_sub
    tau = torch.full(v.shape, T, dtype=torch.long)
    value = torch.zeros(v.shape)
    for t in range(T):
        i_t = current[:, t]
        for _ in range(n.n_sub):
            v = v + h * ((((0.04 * v) * v + 5.0 * v) + 140.0 - u) + i_t)
        u = u + float(n.dt) * (float(n.a) * (float(n.b) * v - u))
        spike = v >= 30.0
        v = torch.where(spike, torch.full_like(v, float(n.c)), v)
        u = torch.where(spike, u + float(n.d), u)
        first = spike & (i_t > 0) & (tau == T)
        tau[first] = t
        value[first] = P[:, t][first]
    return tau.to(times_in.dtype), value


def _conv(weight, threshold, n: IzhikevichNeuron, k=5, radius=1):
    F_, C, kh, _ = weight.shape
    conv = SpikingConv(
        C,
        F_,
        kh,
        threshold,
        k=k,
        radius=radius,
        neuron=Izhikevich(a=n.a, b=n.b, c=n.c, d=n.d, dt=n.dt, n_sub=n.n_sub),
        gain=n.gain,
    )
    conv.weight.copy_(weight)
    return conv


@pytest.mark.parametrize(
    "T, threshold, neuron",
    [
        (15, 4.0, RS),
        (15, None, IzhikevichNeuron(gain=0.5)),  # a decision layer's: I = gain * P
        (20, 2.5, IzhikevichNeuron(gain=3.0, dt=0.5, n_sub=1)),
        (12, 0.0, IzhikevichNeuron(a=0.1, b=0.2, c=-65.0, d=2.0, gain=2.0, n_sub=3)),  # fast spiking
        (15, 1.0, IzhikevichNeuron(c=-40.0, gain=2.0)),  # spikes at rest: undriven spikes do not count
    ],
)
def test_izhikevich_conv_equals_the_plain_per_step_computation(T, threshold, neuron):
    g = torch.Generator().manual_seed(T)
    times_in = random_times((3, 4, 11, 9), T, g, p_never=0.4)
    weight = torch.rand(6, 4, 3, 3, generator=g)
    weight[0, 0, 0, 0] = 1e-40  # a subnormal weight counts as 0
    conv = _conv(weight, threshold, neuron)
    times, values = conv(times_in, T)
    tau, value = plain_izhikevich_conv(times_in, weight, T, threshold, neuron)
    assert times.dtype == torch.uint8 and times.shape == (3, 6, 9, 7)
    assert torch.equal(times, tau)
    assert torch.equal(values, value)
    assert 0 < int((times < T).sum()) < times.numel()  # some fire, some never do
    assert torch.equal(conv(times_in, T, values=False)[0], times)
    # batch and chunking do not change anything
    conv.izhikevich_chunk = 1
    t1, v1 = conv(times_in, T)
    assert torch.equal(t1, times) and torch.equal(v1, values)
    assert torch.equal(conv(times_in[1:2], T)[0], times[1:2])
    # the potentials are the exactly rounded P[t]; P[T-1] is the decision layer's final potential
    p = conv.potentials(times_in, T)
    assert p.shape == (3, T, 6, 9, 7)
    assert torch.equal(p[:, -1], ops.final_potential(times_in, weight, T)[0])


def test_undriven_spikes_do_not_count():
    """With c = -40 the neurons spike at rest; a neuron's first spike is its first at a step where
    current reaches it, so a neuron without current never fires."""
    T = 12
    n = IzhikevichNeuron(c=-40.0)
    times_in = torch.full((1, 1, 3, 3), T, dtype=torch.uint8)
    times_in[0, 0, 1, 1] = 4  # one input, firing at 4
    weight = torch.ones(2, 1, 3, 3)
    weight[1] = 0.0  # feature 1 never gets current
    times, values = _conv(weight, 0.0, n)(times_in, T)
    tau, value = plain_izhikevich_conv(times_in, weight, T, 0.0, n)
    assert torch.equal(times, tau) and torch.equal(values, value)
    assert 4 <= int(times[0, 0]) < T and values[0, 0] == 1.0
    assert int(times[0, 1]) == T and values[0, 1] == 0.0


def test_izhikevich_layers_on_mnist_equal_the_plain_computation(mnist):
    train_set, _ = mnist
    spec = get_spec("izhikevich-csnn")
    net = Network(spec, seed=3)
    times = net.encoder(train_set.images[:6])
    T = spec.T
    x = net.layer_input("S1", times)
    for name in ("S1", "S2"):
        conv, c = net.conv(name), spec.convs[spec.conv_index(name)]
        out, values = conv(x, T)
        tau, value = plain_izhikevich_conv(x, conv.weight, T, c.threshold, c.neuron)
        assert torch.equal(out, tau), name
        assert torch.equal(values, value), name
        fired = (out < T).float().mean().item()
        assert 0.05 < fired < 0.95, (name, fired)
        # spikes spread over the window, the earliest after the inputs'
        assert len(out[out < T].unique()) >= 5, name
        x = net.next_input(name, x)
    winners = net.conv("S1").winners(*net.conv("S1")(net.layer_input("S1", times), T), T)
    assert bool((winners[:, :, 0] >= 0).all())  # k-WTA finds its 5 winners on every sample


# ----------------------------------------------------------------------------- the reference
def _izhikevich_decision(spec: NetworkSpec) -> NetworkSpec:
    """The spec with a decision layer of Izhikevich neurons too."""
    dec = spec.convs[-1]
    return spec.map_convs(
        lambda c: dataclasses.replace(c, neuron=IzhikevichNeuron(gain=0.05)) if c.name == dec.name else c
    )


@pytest.mark.parametrize("variant", ["if_decision", "izhikevich_decision", "five_layers"])
def test_the_reference_interprets_izhikevich_specs_as_the_network_runs_them(mnist, variant):
    train_set, _ = mnist
    spec = get_spec("izhikevich-csnn5" if variant == "five_layers" else "izhikevich-csnn")
    if variant == "izhikevich_decision":
        spec = _izhikevich_decision(spec)
    net = Network(spec, seed=1)
    rnet = ReferenceNetwork(spec, seed=1, exact_decision=True)
    images = train_set.images[:4]
    times = net.encoder(images)
    outs = net.layer_outputs(times)
    conv_at = [i for i, layer in enumerate(spec.layers) if layer in spec.convs]
    decided = net(times)
    for i in range(len(images)):
        wave = rnet.encode(images[i])
        stages = rnet.stages(wave)
        for (t, _), j in zip(outs[:-1], conv_at[:-1], strict=True):
            assert torch.equal(t[i], wave_to_times(stages[j])), (variant, i, j)
        d = rnet.decide(wave)
        assert d.decision == int(decided[i]), (variant, i)
        if variant == "izhikevich_decision":
            assert d.decision >= 0 and torch.equal(outs[-1][0][i], wave_to_times(d.output_spikes))
        # one STDP step on S2: the same winners
        name = "S2"
        x = net.layer_input(name, times[i : i + 1], training=True)
        t2, v2 = net.conv(name)(x, spec.T)
        w = net.conv(name).winners(t2, v2, spec.T, pointwise=net.conv(name).pointwise)[0]
        _, _, winners = rnet._compete(rnet.conv(name), rnet.layer_input(name, wave, training=True))
        got = [tuple(r) for r in w.tolist() if r[0] >= 0]
        assert got == winners and winners, (variant, i)


# ----------------------------------------------------------------------------- specs
def test_integrate_and_fire_networks_are_unchanged():
    for name in MODELS:
        spec = get_spec(name)
        if name.startswith("izhikevich-csnn"):
            assert all(c.neuron == RS for c in spec.convs[:-1]) and spec.convs[-1].neuron is None
            continue
        if not isinstance(spec, NetworkSpec):
            continue
        assert all(c.neuron is None for c in spec.convs), name
        assert "neuron" not in json.dumps(spec.to_dict()), name  # their plain form is as before
        net = Network(spec)
        assert all(conv.neuron is None for _, conv in net.named_convs()), name


@pytest.mark.parametrize("n_layers", [3, 4, 5])
def test_izhikevich_specs_round_trip(n_layers, tmp_path):
    spec = izhikevich_csnn(n_layers=n_layers)
    assert [c.name for c in spec.convs] == [f"S{i + 1}" for i in range(n_layers)]
    assert [p.layer for p in spec.phases] == [c.name for c in spec.convs]
    assert spec.phases[-1].evaluate and spec.phases[-1].keep_best
    assert spec.convs[-1].is_decision and spec.convs[-1].rule is not None
    assert spec.shapes()[-1][0] == 200
    d = spec.to_dict()
    assert d["layers"][1]["neuron"] == {"type": "izhikevich", **dataclasses.asdict(RS)}
    assert NetworkSpec.from_dict(json.loads(json.dumps(d))) == spec
    yaml = pytest.importorskip("yaml")
    f = tmp_path / "net.yaml"
    f.write_text(yaml.safe_dump(d))
    assert load_spec(str(f)) == spec
    assert "Izhikevich(gain=1, dt=1)" in spec.table()
    # a config file can start from the registered network and give its own neurons
    g = tmp_path / "gain.json"
    base = izhikevich_csnn().to_dict()
    base["layers"][1]["neuron"] = {"type": "izhikevich", "gain": 2.0, "dt": 0.5}
    g.write_text(json.dumps({"base": "izhikevich-csnn", "layers": base["layers"]}))
    assert load_spec(str(g)).convs[0].neuron == IzhikevichNeuron(gain=2.0, dt=0.5)
    assert get_spec("izhikevich-csnn5") == izhikevich_csnn(n_layers=5)
    assert get_spec("izhikevich-csnn", T=20).T == 20


@pytest.mark.parametrize("n_layers", [2, 6, 0, "3", True, 3.0])
def test_bad_depths_are_refused(n_layers):
    with pytest.raises(SpecError, match=r"n_layers: expected 3, 4 or 5 layers"):
        izhikevich_csnn(n_layers=n_layers)


@pytest.mark.parametrize(
    "neuron, match",
    [
        ({"gain": 0.0}, r"'S1'\.neuron\.gain: expected a positive number, got 0"),
        ({"gain": -1.0}, r"'S1'\.neuron\.gain: expected a positive number"),
        ({"dt": 0}, r"'S1'\.neuron\.dt: expected a positive number, got 0"),
        ({"n_sub": 0}, r"'S1'\.neuron\.n_sub: expected an integer number of sub-steps in \[1, 1000\]"),
        ({"n_sub": 1.5}, r"'S1'\.neuron\.n_sub: expected an integer"),
        ({"a": "fast"}, r"'S1'\.neuron\.a: expected a finite number, got 'fast'"),
        ({"d": float("nan")}, r"'S1'\.neuron\.d: expected a finite number"),
        ({"tau": 2.0}, r"'S1'\.neuron\.tau: unknown field"),
        ({"type": "lif"}, r"'S1'\.neuron\.type: expected one of \['izhikevich'\], got 'lif'"),
    ],
)
def test_bad_neuron_parameters_name_the_layer_and_field(neuron, match):
    d = izhikevich_csnn().to_dict()
    d["layers"][1]["neuron"] = {"type": "izhikevich", **neuron}
    with pytest.raises(SpecError, match=match):
        NetworkSpec.from_dict(d)


def test_bad_neuron_objects_are_refused():
    spec = izhikevich_csnn()
    with pytest.raises(
        SpecError, match=r"'S1'\.neuron: expected an Izhikevich neuron or null, got Izhikevich"
    ):
        spec.map_convs(lambda c: dataclasses.replace(c, neuron=Izhikevich()) if c.name == "S1" else c)
    with pytest.raises(ValueError, match="gain: expected a positive finite number"):
        SpikingConv(2, 3, 3, 1.0, neuron=Izhikevich(), gain=0.0)
    with pytest.raises(TypeError, match="neuron: expected a fastspike.neurons.Izhikevich"):
        SpikingConv(2, 3, 3, 1.0, neuron=RS)


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
def test_short_training_is_reproducible_and_beats_chance(mnist_root):
    kw = dict(
        samples=[1500, 1500, 3000],
        epochs=[1, 1, 3],
        test_samples=500,
        validation=500,
        batch_size=64,
        progress=False,
        download=False,
        preset="paper",
        seed=2,
    )
    a, hist_a = train("izhikevich-csnn", "mnist", mnist_root, **kw)
    assert [h["layer"] for h in hist_a] == ["S3"] * 3
    # reproducible: the same seed gives the same weights, curve and test metrics (checked on
    # a run of a tenth of the images, whose every phase still trains)
    small = {**kw, "samples": [150, 150, 300], "epochs": [1, 1, 2], "test_samples": 100, "validation": 100}
    runs = [train("izhikevich-csnn", "mnist", mnist_root, **small) for _ in range(2)]
    (c, hist_c), (d, hist_d) = runs
    for k, v in c.state_dict().items():
        assert torch.equal(v, d.state_dict()[k]), k
    assert [h["val"] for h in hist_c] == [h["val"] for h in hist_d]
    assert c.test_metrics == d.test_metrics
    # chance is 0.1
    assert max(h["val"]["correct"] for h in hist_a) > ACCURACY_FLOOR, hist_a
    assert a.test_metrics["accuracy"] > ACCURACY_FLOOR, hist_a


#: above chance (0.1); this short schedule (1,500 / 1,500 / 3 x 3,000 images) reaches 0.162 on
#: the test images at seed 2 with the registered gain 1 (measured in CI, 2026-12-01)
ACCURACY_FLOOR = 0.13


def test_cli_trains_and_evaluates_the_izhikevich_csnn(mnist_root, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--model", "izhikevich-csnn", "--root", mnist_root, "--preset", "paper"]
    args += ["--epochs", "1", "1", "2", "--samples", "40", "40", "80", "--test-samples", "40"]
    args += ["--validation", "40", "--batch-size", "20", "--checkpoint-dir", str(out), "--no-progress"]
    assert main(["train", *args]) == 0
    text = capsys.readouterr().out
    assert "model=izhikevich-csnn" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "izhikevich-csnn" and metrics["test_images"] == 40
    hist = json.loads((out / "history.json").read_text())
    assert [h["layer"] for h in hist] == ["S1", "S2", "S3", "S3"]
    assert (
        main(["eval", "--checkpoint", str(out / "best.pt"), "--root", mnist_root, "--test-samples", "40"])
        == 0
    )
    # resumed from its last checkpoint with one more decision epoch: it goes on, as any network
    assert main(["train", *args[:6], "--epochs", "1", "1", "3", *args[10:], "--resume"]) == 0
    assert len(json.loads((out / "history.json").read_text())) == 5
    assert main(["models"]) == 0
    assert "izhikevich-csnn5" in capsys.readouterr().out
