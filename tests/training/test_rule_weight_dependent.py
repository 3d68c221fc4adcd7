"""The weight-dependent STDP of Falez et al. 2019 (fastspike/rules/weight_dependent.py).

The learner's weights must equal, bit for bit, a plain reference written here: the forward
pass of every sample of a batch with the batch-start weights (the layer's own conv and
competition, one sample at a time), then every winner's update, synapse by synapse in
Python floats, in sample order and winner order. Random inputs (with ties and inputs that
never fire) and real MNIST; the update of a batch against its samples' updates one by one;
the bounds; the learner state through JSON and a resumed trainer run; the spec through JSON
and YAML; bad numbers; a short training run from configs/falez2019.yaml.
"""

import dataclasses
import json
import math
import os
import struct

import pytest
import torch
from conftest import random_times

import fastspike.rules  # noqa: F401  (registers the rules defined in their own modules)
from fastspike.network import Network
from fastspike.registry import load_config
from fastspike.rules import learner
from fastspike.rules.weight_dependent import (
    WeightDependentLearner,
    WeightDependentSTDP,
    weight_dependent_update,
)
from fastspike.spec import (
    KHERADPISHEH_DOG,
    Conv,
    DecisionReadout,
    EncoderSpec,
    LinearReadout,
    NetworkSpec,
    Pad,
    Phase,
    SpecError,
    load_spec,
)

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "..", "configs", "falez2019.yaml")
T = 15


# ----------------------------------------------------------------------------- the plain reference
def f32(v: float) -> float:
    """``v`` rounded to the nearest float32."""
    return struct.unpack("f", struct.pack("f", v))[0]


def ref_step(w: float, ltp: bool, eta: float, rule: WeightDependentSTDP) -> float:
    """One synapse's update, in Python floats (double), rounded once to float32."""
    span = rule.ub - rule.lb
    if ltp:
        v = w + math.exp(((w - rule.lb) / span) * -rule.beta) * eta
    else:
        v = w - math.exp(((rule.ub - w) / span) * -rule.beta) * eta
    return f32(min(max(v, rule.lb), rule.ub))


def ref_train(
    net: Network, layer: str, x: torch.Tensor, batch_size: int, epoch: int, stats=None
) -> torch.Tensor:
    """One epoch of the rule on ``net``'s conv ``layer`` (changed in place), sample by sample;
    returns the weights. ``stats``: counts of LTP, LTD and ties (pre and post in one step)."""
    conv, rule = net.conv(layer), net.layer_spec(layer).rule
    eta = rule.eta * rule.annealing**epoch
    w = conv.weight.tolist()
    _, C, kh, kw = conv.weight.shape
    for s in range(0, x.shape[0], batch_size):
        conv.weight.copy_(torch.tensor(w, dtype=torch.float32))  # the batch-start weights
        plans = []
        for i in range(s, min(x.shape[0], s + batch_size)):  # every forward pass, one sample each
            times, values = conv(x[i : i + 1], net.T)
            winners = conv.winners(times, values, net.T, pointwise=conv.pointwise)
            plans.append((x[i].tolist(), times[0].tolist(), winners[0].tolist()))
        for t_in, t_out, winners in plans:  # then the updates, in sample and winner order
            for f, y, xx in winners:
                if f < 0:
                    continue
                post = t_out[f][y][xx]
                for c in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            pre = t_in[c][y + i][xx + j]
                            w[f][c][i][j] = ref_step(w[f][c][i][j], pre <= post, eta, rule)
                            if stats is not None:
                                stats["ltp" if pre <= post else "ltd"] += 1
                                stats["ties"] += pre == post
    out = torch.tensor(w, dtype=torch.float32)
    conv.weight.copy_(out)
    return out


def small_spec(rule=None, k=3, radius=1, threshold=6.0, features=8) -> NetworkSpec:
    rule = WeightDependentSTDP(eta=0.05, beta=2.0, annealing=0.5) if rule is None else rule
    return NetworkSpec(
        name="weight-dependent-test",
        encoder=EncoderSpec(dog=KHERADPISHEH_DOG, padding=3),
        layers=(Pad(2), Conv("S1", 2, features, 5, threshold=threshold, k=k, radius=radius, rule=rule)),
        readout=LinearReadout(),
        phases=(Phase("S1"), Phase("readout")),
        T=T,
    )


def random_inputs(n: int, seed: int = 0) -> torch.Tensor:
    """S1's padded input (2 x 32 x 32): random times, 30% never, the 2-pixel border never."""
    x = torch.full((n, 2, 32, 32), T, dtype=torch.uint8)
    x[:, :, 2:30, 2:30] = random_times((n, 2, 28, 28), T, torch.Generator().manual_seed(seed))
    return x


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("batch_size", [1, 16])
def test_learner_equals_the_plain_reference_on_random_inputs(batch_size):
    x = random_inputs(48)
    spec = small_spec()
    net, ref_net = Network(spec, seed=0), Network(spec, seed=0)
    w0 = net.conv("S1").weight.clone()
    lrn = learner(net, "S1")
    assert isinstance(lrn, WeightDependentLearner)
    stats = {"ltp": 0, "ltd": 0, "ties": 0}
    for epoch in range(2):  # annealing 0.5: the second epoch runs at half the rate
        lrn.train_epoch(x, batch_size=batch_size, epoch=epoch)
        expected = ref_train(ref_net, "S1", x, batch_size, epoch, stats)
        assert torch.equal(net.conv("S1").weight, expected), f"epoch {epoch}"
    assert lrn.samples == 2 * x.shape[0]
    assert stats["ltp"] and stats["ltd"] and stats["ties"]  # every branch of the rule ran
    assert not torch.equal(net.conv("S1").weight, w0)


@pytest.mark.slow
def test_learner_equals_the_plain_reference_on_mnist(mnist):
    train, _ = mnist
    spec = load_config(CONFIG)
    net, ref_net = Network(spec, seed=0), Network(spec, seed=0)
    times = net.encoder(train.images[:160])
    x1 = net.layer_input("S1", times, training=True)
    learner(net, "S1").train_epoch(x1, batch_size=16)
    assert torch.equal(net.conv("S1").weight, ref_train(ref_net, "S1", x1, 16, 0))
    # S2 on the trained S1's spikes (both networks now hold the same S1)
    x2 = net.layer_input("S2", times[:48], training=True)
    assert torch.equal(x2, ref_net.layer_input("S2", times[:48], training=True))
    stats = {"ltp": 0, "ltd": 0, "ties": 0}
    learner(net, "S2").train_epoch(x2, batch_size=16)
    assert torch.equal(net.conv("S2").weight, ref_train(ref_net, "S2", x2, 16, 0, stats))
    assert stats["ltp"] and stats["ltd"] and stats["ties"]


def test_the_update_of_a_batch_equals_its_samples_one_by_one():
    """Batch invariance of the update: with the same forward pass, one call on 16 samples
    gives the weights of 16 calls on one sample each, in order, bit for bit (the features
    that win in several samples are updated in sample order)."""
    spec = small_spec(k=4)
    net = Network(spec, seed=0)
    conv, rule = net.conv("S1"), spec.convs[0].rule
    x = random_inputs(16, seed=3)
    times, values = conv(x, T)
    winners = conv.winners(times, values, T, pointwise=True)
    f = winners[..., 0]
    assert int(torch.bincount(f[f >= 0]).max()) > 4  # some feature wins in many samples
    batched, one_by_one = conv.weight.clone(), conv.weight.clone()
    weight_dependent_update(batched, x, times, winners, 0.07, rule)
    for i in range(16):
        weight_dependent_update(one_by_one, x[i : i + 1], times[i : i + 1], winners[i : i + 1], 0.07, rule)
    assert torch.equal(batched, one_by_one)
    assert not torch.equal(batched, conv.weight)


def test_the_update_on_the_exchanged_canvases_equals_the_update_on_the_inputs():
    """Across ranks the learner updates from the canvases fastspike.distributed.exchange
    rebuilds (each winner's receptive field and time, packed per sample): same weights."""
    from fastspike.distributed import _pack, _unpack

    net = Network(small_spec(k=4), seed=0)
    conv, rule = net.conv("S1"), net.layer_spec("S1").rule
    x = random_inputs(12, seed=5)
    times, values = conv(x, T)
    winners = conv.winners(times, values, T, pointwise=True)
    parts = [(x, times, winners, 5, 5)]
    [(t_in, t_out, win)], _ = _unpack(_pack(parts, None), parts, T, 0)
    direct, canvas = conv.weight.clone(), conv.weight.clone()
    weight_dependent_update(direct, x, times, winners, 0.05, rule)
    weight_dependent_update(canvas, t_in, t_out, win, 0.05, rule)
    assert torch.equal(direct, canvas) and not torch.equal(direct, conv.weight)


def test_no_winner_changes_nothing():
    net = Network(small_spec(), seed=0)
    conv = net.conv("S1")
    w = conv.weight.clone()
    x = torch.full((4, 2, 32, 32), T, dtype=torch.uint8)  # nothing fires
    learner(net, "S1").train_epoch(x, batch_size=2)
    assert torch.equal(conv.weight, w)


# ----------------------------------------------------------------------------- the rule itself
def test_ltp_ltd_ties_and_bounds_by_hand():
    rule = WeightDependentSTDP(eta=0.1, beta=2.0, lb=0.25, ub=0.75)  # bounds exact in float32
    eta = 0.1
    w = torch.tensor([[0.75, 0.5, 0.25, 0.7, 0.25, 0.6], [0.5] * 6]).view(2, 1, 1, 6)
    t_in = torch.tensor([1, 3, 5, T, 0, 3], dtype=torch.uint8).view(1, 1, 1, 6)
    # synapses:   pre < post at ub, tie, pre > post at lb, never, pre < post at lb, tie
    t_out = torch.full((1, 2, 1, 1), T, dtype=torch.uint8)
    t_out[0, 0, 0, 0] = 3  # feature 0 wins at step 3; feature 1 does not win
    weight = w.clone()
    weight_dependent_update(weight, t_in, t_out, torch.tensor([[[0, 0, 0]]]), eta, rule)
    got, before = weight[0].flatten().tolist(), w[0].flatten().tolist()
    assert got[0] == 0.75  # LTP at the upper bound: clamped there
    assert got[1] == ref_step(before[1], True, eta, rule) > before[1]  # a tie potentiates
    assert got[2] == 0.25  # LTD at the lower bound: clamped there
    assert got[3] == ref_step(before[3], False, eta, rule) < before[3]  # never firing depresses
    assert got[4] == f32(0.25 + eta)  # LTP from the lower bound: the full step, exp(0) = 1
    assert got[5] == ref_step(before[5], True, eta, rule)
    assert got[1] - before[1] > got[5] - before[5] > 0  # the step shrinks towards the upper bound
    assert torch.equal(weight[1], w[1])  # a feature that did not win


def test_weights_stay_within_the_bounds():
    rule = WeightDependentSTDP(eta=0.3, beta=0.5, lb=0.1, ub=0.9)
    net = Network(small_spec(rule, threshold=3.0), seed=0)
    lrn = learner(net, "S1")
    for epoch in range(3):
        lrn.train_epoch(random_inputs(32, seed=epoch), batch_size=8, epoch=epoch)
    w = net.conv("S1").weight
    assert float(w.min()) >= f32(0.1) and float(w.max()) <= f32(0.9)
    assert lrn.fraction_at_bounds(1e-6) > 0  # such large steps reach the bounds


def test_beta_zero_is_additive_stdp():
    rule = WeightDependentSTDP(eta=0.01, beta=0.0)
    w = torch.full((1, 1, 1, 2), 0.5)
    t_in = torch.tensor([0, 9], dtype=torch.uint8).view(1, 1, 1, 2)
    t_out = torch.tensor([4], dtype=torch.uint8).view(1, 1, 1, 1)
    weight_dependent_update(w, t_in, t_out, torch.tensor([[[0, 0, 0]]]), 0.01, rule)
    assert w.flatten().tolist() == [f32(0.51), f32(0.49)]


# ----------------------------------------------------------------------------- state and resume
def test_state_dict_round_trip_resumes_exactly():
    x = random_inputs(24)
    spec = small_spec()
    straight, resumed = Network(spec, seed=0), Network(spec, seed=0)
    a = learner(straight, "S1")
    for epoch in range(2):
        a.train_epoch(x, batch_size=8, epoch=epoch)
    b = learner(resumed, "S1")
    b.train_epoch(x, batch_size=8, epoch=0)
    state = json.loads(json.dumps(b.state_dict()))  # plain data
    assert state == {"kind": "weight_dependent_stdp", "samples": 24}
    c = learner(resumed, "S1")
    c.load_state_dict(state)
    c.train_epoch(x, batch_size=8, epoch=1)
    assert torch.equal(straight.conv("S1").weight, resumed.conv("S1").weight)
    assert c.state_dict() == a.state_dict() == {"kind": "weight_dependent_stdp", "samples": 48}
    with pytest.raises(ValueError, match="weight_dependent_stdp"):
        c.load_state_dict({"kind": "stdp", "samples": 3})


@pytest.mark.slow
def test_trainer_run_stopped_and_resumed_equals_an_uninterrupted_one(mnist_root, tmp_path):
    import fastspike

    kw = dict(samples=[100, 100, 100], epochs=[1, 2, 1], test_samples=100, validation=0, batch_size=32)
    whole, _ = fastspike.train(CONFIG, "mnist", mnist_root, checkpoint_dir=str(tmp_path / "a"), **kw)
    run = str(tmp_path / "b")
    fastspike.train(CONFIG, "mnist", mnist_root, checkpoint_dir=run, stop_after_epochs=2, **kw)  # S1, 1 of S2
    again, _ = fastspike.train(CONFIG, "mnist", mnist_root, checkpoint_dir=run, resume=True, **kw)
    for name in ("S1", "S2"):
        assert torch.equal(whole.conv(name).weight, again.conv(name).weight)
    assert whole.test_metrics == again.test_metrics


# ----------------------------------------------------------------------------- the spec
def test_spec_round_trip_through_json_and_yaml(tmp_path):
    yaml = pytest.importorskip("yaml")
    spec = load_config(CONFIG)
    assert spec.name == "falez2019"
    rules = [c.rule for c in spec.convs]
    assert rules == [WeightDependentSTDP(eta=0.1, beta=1.0, annealing=1.0, lb=0.0, ub=1.0)] * 2
    d = spec.to_dict()
    assert d["layers"][1]["rule"] == {
        "type": "weight_dependent_stdp",
        "eta": 0.1,
        "beta": 1.0,
        "annealing": 1.0,
        "lb": 0.0,
        "ub": 1.0,
    }
    assert NetworkSpec.from_dict(json.loads(spec.to_json())) == spec
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(d))
    assert load_spec(str(path)) == spec
    js = tmp_path / "net.json"
    js.write_text(spec.to_json())
    assert load_spec(str(js)) == spec
    net = Network(spec, seed=0)
    assert (net.conv("S1").lb, net.conv("S1").ub, net.conv("S1").stabilize) == (0.0, 1.0, False)
    assert learner(net, "S2").learned() == [("S2", rules[1])]
    assert "WeightDependentSTDP [0, 1]" in spec.table()


BAD = [
    ({"eta": 0.0}, "eta", "positive"),
    ({"eta": -0.1}, "eta", "positive"),
    ({"eta": float("nan")}, "eta", "finite"),
    ({"eta": True}, "eta", "finite"),
    ({"eta": "0.1"}, "eta", "finite"),
    ({"beta": -1.0}, "beta", ">= 0"),
    ({"beta": float("inf")}, "beta", "finite"),
    ({"annealing": 0.0}, "annealing", "positive"),
    ({"lb": -0.1}, "lb", ">= 0"),
    ({"lb": 0.5, "ub": 0.5}, "lb", "lb < ub"),
    ({"lb": 0.6, "ub": 0.5}, "lb", "lb < ub"),
    ({"ub": None}, "ub", "finite"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_bad_numbers_are_spec_errors_naming_the_field(changes, field, message):
    rule = dataclasses.replace(WeightDependentSTDP(), **changes)
    with pytest.raises(SpecError, match=rf"^layers\[1\] 'S1'\.rule\.{field}: .*{message}"):
        small_spec(rule)
    d = small_spec().to_dict()  # the same from a config's plain data
    d["layers"][1]["rule"].update(changes)
    with pytest.raises(SpecError, match=rf"^layers\[1\] 'S1'\.rule\.{field}: "):
        NetworkSpec.from_dict(d)


def test_unknown_field_and_decision_layer_are_spec_errors():
    d = small_spec().to_dict()
    d["layers"][1]["rule"]["gamma"] = 1.0
    with pytest.raises(SpecError, match=r"layers\[1\] 'S1'\.rule\.gamma: unknown field"):
        NetworkSpec.from_dict(d)
    with pytest.raises(
        SpecError, match=r"layers\[1\] 'S1'\.rule: weight-dependent STDP trains a thresholded"
    ):
        NetworkSpec(
            name="decision",
            encoder=EncoderSpec(dog=KHERADPISHEH_DOG, padding=3),
            layers=(Pad(2), Conv("S1", 2, 20, 5, threshold=None, rule=WeightDependentSTDP())),
            readout=DecisionReadout(),
            phases=(Phase("S1"),),
        )


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
def test_short_training_from_the_config_beats_chance(mnist_root):
    import fastspike

    net, _ = fastspike.train(
        CONFIG,
        "mnist",
        mnist_root,
        samples=[1000, 1000, 1000],
        epochs=[1, 1, 1],
        test_samples=1000,
        validation=0,
    )
    assert net.test_metrics["accuracy"] > 0.85  # chance: 0.1; 0.954 measured (AMD EPYC, torch 2.14)
