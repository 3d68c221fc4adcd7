"""The model zoo's building blocks on the compiled side (docs/reference/networks.md#zoo):
parallel blocks of branches and of voting heads, joint decision phases with their schedules,
their specs, configs and errors.

Bit-for-bit agreement with the reference at batch size 1 is in tests/networks/test_zoo_reference.py.
"""

import dataclasses
import itertools
import json
import pathlib

import pytest
import torch
from helpers.spec import with_rates

from fastspike.__main__ import main
from fastspike.network import Network, majority_vote
from fastspike.registry import get_spec
from fastspike.registry import load_config as load_spec  # a config's base names a registered network
from fastspike.rules import HeadsLearner
from fastspike.spec import (
    AdaptiveRates,
    NetworkSpec,
    SpecError,
    VoteReadout,
)
from fastspike.training import learner, train_epoch

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZOO = ["deep2024", "deepr2024", "deepr2024-2", "inception2024", "majority2024"]


# ----------------------------------------------------------------------------- specs
def test_zoo_shapes_follow_the_published_tables():
    """The output sizes of the tables of docs/reference/networks.md, layer by layer."""
    deep = get_spec("deep2024").shapes()
    assert deep[1:] == [
        (6, 32, 32),
        (30, 28, 28),
        (30, 14, 14),
        (30, 16, 16),
        (150, 14, 14),
        (150, 7, 7),
        (150, 9, 9),
        (250, 7, 7),
        (250, 2, 2),
        (250, 6, 6),
        (200, 2, 2),
    ]
    assert get_spec("deepr2024").shapes() == deep
    s3 = get_spec("deepr2024").convs[2]
    assert (s3.k, s3.radius, s3.rule.stabilize) == (15, 0, True)
    assert s3.reward_rule.stabilize is False and (s3.reward_rule.lb, s3.reward_rule.ub) == (0.0, 1.0)
    assert s3.reward_rule.rates.reward == (0.001, -0.00075)
    assert s3.reward_rule.rates.punish == (-0.001, 0.000125)
    assert get_spec("deepr2024").phases[-1].schedule == "joint"
    assert get_spec("deepr2024-2").phases[-1].schedule == "alternate_chunks"
    inc = get_spec("inception2024")
    assert inc.shapes()[7:] == [(75, 9, 9), (300, 7, 7), (300, 2, 2), (300, 6, 6), (200, 2, 2)]
    assert [c.name for c in inc.convs] == ["S1", "S2", "S3a", "S3b", "S3c", "S4"]
    assert [p.layer for p in inc.phases] == ["S1", "S2", "S3a", "S3b", "S3c", "S4"]
    maj = get_spec("majority2024")
    assert maj.shapes()[7] == (250, 8, 8)
    assert [c.kernel for c in maj.layers[-1].convs] == [3, 5, 7]
    assert maj.readout == VoteReadout(fallback="H5", adapt="head")


@pytest.mark.parametrize("name", ZOO)
def test_zoo_specs_round_trip_and_their_config_files_load(name, tmp_path):
    spec = get_spec(name)
    assert NetworkSpec.from_dict(json.loads(spec.to_json())) == spec
    assert load_spec(str(ROOT / "configs" / f"{name}.yaml")) == spec
    f = tmp_path / "net.json"
    f.write_text(spec.to_json())
    assert load_spec(str(f)) == spec
    assert name in spec.table() or spec.table().startswith("input")


def test_repo_configs_differ_where_zoo_md_says():
    repo = load_spec(str(ROOT / "configs" / "deepr2024-2-repo.yaml"))
    clean = get_spec("deepr2024-2")
    assert repo.phases[-1].schedule == "repo_compat"
    assert repo.convs[2].rule.stabilize is False and clean.convs[2].rule.stabilize is True
    assert (
        repo.replace(name=clean.name, description=clean.description, phases=clean.phases).layers
        != clean.layers
    )
    maj = load_spec(str(ROOT / "configs" / "majority2024-repo.yaml"))
    assert maj.readout.adapt == "majority" and maj.layers == get_spec("majority2024").layers


def _edit(name: str, fn) -> dict:
    d = get_spec(name).to_dict()
    fn(d)
    return d


@pytest.mark.parametrize(
    "name,fn,match",
    [
        (
            "inception2024",
            lambda d: d["layers"][7]["convs"][1].update(kernel=4),
            r"'S3'\.convs\[1\] 'S3b'\.kernel",
        ),
        ("inception2024", lambda d: d["layers"][7]["convs"][2].update(in_channels=7), r"'S3c'\.in_channels"),
        ("inception2024", lambda d: d["layers"][7].update(convs=d["layers"][7]["convs"][:1]), r"'S3'\.convs"),
        (
            "inception2024",
            lambda d: d["layers"][7]["convs"][0].update(threshold=None, rule={"type": "rstdp"}),
            r"mixes decision heads",
        ),
        ("inception2024", lambda d: d["phases"].__setitem__(2, {"layer": "S3"}), r"one branch at a time"),
        ("inception2024", lambda d: d["layers"][7]["convs"][0].update(name="S2"), r"'S2' is used"),
        ("majority2024", lambda d: d.update(readout={"type": "decision"}), r"vote readout"),
        ("majority2024", lambda d: d["readout"].update(fallback="H9"), r"readout\.fallback"),
        ("majority2024", lambda d: d["readout"].update(adapt="mean"), r"readout\.adapt"),
        ("majority2024", lambda d: d["phases"].__setitem__(2, {"layer": "H3"}), r"name their block 'heads'"),
        (
            "majority2024",
            lambda d: d["layers"][-1]["convs"][0].update(out_channels=205),
            r"'H3'\.out_channels",
        ),
        (
            "majority2024",
            lambda d: d["layers"][-1]["convs"][0]["rule"]["rates"].update(chunk=10),
            r"share their chunks",
        ),
        (
            "deepr2024",
            lambda d: d["phases"][3].update(joint=["S2"]),
            r"'S2' is not a thresholded conv with a reward_rule",
        ),
        ("deepr2024", lambda d: d["phases"][3].update(schedule="greedy"), r"phases\[3\]\.schedule"),
        ("deepr2024", lambda d: d["phases"][2].update(joint=["S3"]), r"only a decision layer's phase"),
        (
            "deepr2024",
            lambda d: d["phases"][3].update(joint=[], schedule="alternate_chunks"),
            r"needs joint layers",
        ),
        (
            "deepr2024",
            lambda d: d["layers"][7]["reward_rule"]["rates"].update(chunk=999),
            r"adapts its rates every 999 samples",
        ),
        ("deepr2024", lambda d: d["layers"][7]["reward_rule"].update(lb=2.0), r"'S3'\.reward_rule\.lb"),
        (
            "deepr2024",
            lambda d: d["layers"][-1].update(reward_rule=d["layers"][7]["reward_rule"]),
            r"reward_rule",
        ),
    ],
)
def test_zoo_config_errors_name_the_layer_and_field(name, fn, match):
    with pytest.raises(SpecError, match=match):
        NetworkSpec.from_dict(_edit(name, fn))


# ----------------------------------------------------------------------------- the vote
def test_majority_vote_hand_made_cases():
    cases = [
        ([3, 3, 3], 3),  # unanimous
        ([3, 3, 7], 3),  # two of three
        ([7, 3, 3], 3),
        ([1, 2, 3], 2),  # three different votes: the fallback head (index 1)
        ([1, -1, 3], 1),  # fallback silent: the first head that speaks
        ([-1, -1, 4], 4),  # one voter
        ([-1, 5, -1], 5),
        ([-1, -1, -1], -1),  # every head silent
        ([2, -1, 2], 2),  # two votes win although the fallback is silent
    ]
    votes = torch.tensor([c for c, _ in cases])
    assert majority_vote(votes, 1, 10).tolist() == [e for _, e in cases]
    # five heads: two pairs tie -> fallback; a pair against singles wins
    five = torch.tensor([[1, 1, 2, 2, 3], [1, 1, 2, 4, 3], [-1, 6, 6, 6, 0]])
    assert majority_vote(five, 4, 10).tolist() == [3, 1, 6]


def test_majority_vote_equals_the_reference_rule_on_every_combination():
    from fastspike.reference import vote

    combos = list(itertools.product(range(-1, 4), repeat=3))
    for fallback in range(3):
        got = majority_vote(torch.tensor(combos), fallback, 4).tolist()
        assert got == [vote(list(c), fallback) for c in combos], fallback


# ----------------------------------------------------------------------------- training pieces
def test_training_a_branch_changes_only_that_branch(mnist):
    train, _ = mnist
    net = Network(get_spec("inception2024"), seed=0)
    times = net.encoder(train.images[:40])
    before = {n: c.weight.clone() for n, c in net.named_convs()}
    x = net.layer_input("S3b", times, training=True)
    assert x.shape == (40, 75, 9, 9)
    assert torch.equal(x, net.layer_input("S3", times, training=True))
    train_epoch(net, "S3b", x, learner(net, "S3b"), batch_size=8)
    changed = [n for n, c in net.named_convs() if not torch.equal(c.weight, before[n])]
    assert changed == ["S3b"]
    # the block's map is the three branches, centred and concatenated
    out = net.next_input("S3", x)  # after the block: pool 3 + pad 2
    assert out.shape == (40, 300, 6, 6)


def test_heads_learn_by_their_own_vote_and_silence_changes_nothing(mnist):
    train, _ = mnist
    spec = get_spec("majority2024")
    net = Network(spec, seed=0)
    images = torch.cat([train.images[:30], torch.zeros(2, 28, 28, dtype=torch.uint8)])
    labels = torch.cat([train.labels[:30], torch.tensor([0, 0])])
    times = net.encoder(images)
    x = net.layer_input("heads", times, training=True)
    vote, winners, _, votes = net.decide_heads(x)
    assert (votes[-2:] == -1).all() and (vote[-2:] == -1).all()  # blank images: every head silent
    state = learner(net, "heads", phase=spec.phases[-1])
    assert isinstance(state, HeadsLearner) and list(state.layers) == ["H3", "H5", "H7"]
    for i in (30, 31):  # the blank images change nothing
        before = [c.weight.clone() for _, c in net.named_convs()]
        train_epoch(net, "heads", x[i : i + 1], state, labels=labels[i : i + 1], batch_size=1)
        assert all(torch.equal(a, c.weight) for a, (_, c) in zip(before, net.named_convs(), strict=True))
    # each head's winner features are the only ones that change, by its own vote's sign
    before = {n: net.conv(n).weight.clone() for n in ("H3", "H5", "H7")}
    res = train_epoch(net, "heads", x[:1], state, labels=labels[:1], batch_size=1)
    assert res["silent"] == 0.0
    for k, n in enumerate(("H3", "H5", "H7")):
        f = int(winners[k][0, 0, 0])
        d = net.conv(n).weight - before[n]
        assert torch.equal(d.abs().sum((1, 2, 3)).nonzero().flatten(), torch.tensor([f])), n
        right = int(votes[0, k]) == int(labels[0])
        assert (d[f].sum() > 0) == right, n  # reward strengthens, punishment weakens


def test_head_rates_adapt_by_own_or_majority_counts(mnist):
    train, _ = mnist
    spec = with_rates(get_spec("majority2024"), chunk=5)
    n = 20
    results = {}
    for adapt in ("head", "majority"):
        s = spec.replace(readout=VoteReadout(fallback="H5", adapt=adapt))
        net = Network(s, seed=0)
        x = net.layer_input("heads", net.encoder(train.images[:n]), training=True)
        state = learner(net, "heads", phase=s.phases[-1])
        train_epoch(net, "heads", x, state, labels=train.labels[:n], batch_size=3, phase=s.phases[-1])
        results[adapt] = {k: (v.reward, v.punish) for k, v in state.layers.items()}
        assert state.chunks == 4
    base = AdaptiveRates()
    for adapt, rates in results.items():
        for r, p in rates.values():
            assert r != tuple(base.reward) or p != tuple(base.punish), adapt
    # with the vote's counts every head has the same rates
    assert len(set(results["majority"].values())) == 1
    assert results["head"] != results["majority"]


@pytest.mark.parametrize("schedule", ["joint", "alternate_chunks", "repo_compat"])
def test_joint_schedules_say_who_learns_in_which_chunk(mnist, schedule):
    train, _ = mnist
    base = with_rates(get_spec("deepr2024"), chunk=4)
    phase = dataclasses.replace(base.phases[-1], schedule=schedule)
    spec = base.replace(phases=base.phases[:-1] + (phase,))
    net = Network(spec, seed=0)
    assert phase.input_layer == "S3"
    x = net.layer_input("S3", net.encoder(train.images[:16]), training=True)
    labels = train.labels[:16]
    state = learner(net, "S4", phase=phase)
    calls = []
    for n in ("S3", "S4"):  # record who is updated (a rate rescaled to 0 would hide it in the weights)
        conv = net.conv(n)
        conv.stdp = lambda *a, _n=n, _f=conv.stdp, **k: (calls.append(_n), _f(*a, **k))[1]
    learned = []
    for epoch in range(2):
        for c in range(4):  # 4 chunks of 4 samples per epoch
            calls.clear()
            train_epoch(
                net,
                "S4",
                x[4 * c : 4 * c + 4],
                state,
                labels=labels[4 * c : 4 * c + 4],
                batch_size=2,
                phase=phase,
                epoch=epoch,
            )
            learned.append(tuple(sorted(set(calls))))
    assert state.chunks == 8
    if schedule == "joint":
        assert all(set(w) == {"S3", "S4"} for w in learned)
    elif schedule == "alternate_chunks":
        assert learned == [("S3",), ("S4",)] * 4
    else:  # epoch 0: even chunks S3, odd S4; epoch 1: only S4
        assert learned == [("S3",), ("S4",), ("S3",), ("S4",)] + [("S4",)] * 4


def test_joint_phase_updates_only_winners(mnist):
    train, _ = mnist
    spec = get_spec("deepr2024")
    net = Network(spec, seed=0)
    x = net.layer_input("S3", net.encoder(train.images[:1]), training=True)
    s3 = net.conv("S3")
    t, v = s3(x, 15)
    winners = s3.winners(t, v, 15, pointwise=True)
    before = {n: net.conv(n).weight.clone() for n in ("S3", "S4")}
    state = learner(net, "S4", phase=spec.phases[-1])
    train_epoch(net, "S4", x, state, labels=train.labels[:1], batch_size=1, phase=spec.phases[-1])
    f3 = sorted({int(f) for f in winners[0, :, 0] if f >= 0})
    changed3 = (net.conv("S3").weight != before["S3"]).flatten(1).any(1).nonzero().flatten().tolist()
    assert changed3 and set(changed3) <= set(f3)
    changed4 = (net.conv("S4").weight != before["S4"]).flatten(1).any(1).nonzero().flatten().tolist()
    assert len(changed4) == 1


# ----------------------------------------------------------------------------- the command line
CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def test_every_zoo_network_has_a_config_file():
    variants = ["deepr2024-2-repo.yaml", "majority2024-repo.yaml", "deepr2024-stabilised.yaml"]
    other_rules = ["falez2019.yaml"]  # networks of rules registered from their own modules
    assert CONFIGS == sorted([f"{n}.yaml" for n in ZOO] + variants + other_rules)


@pytest.mark.parametrize("config", CONFIGS)
def test_config_files_train_from_the_command_line(config, mnist_root, tmp_path, capsys):
    spec = load_spec(str(ROOT / "configs" / config))
    n = len(spec.phases)
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--config",
            str(ROOT / "configs" / config),
            "--root",
            mnist_root,
            "--preset",
            "paper",
            "--epochs",
            *["1"] * (n - 1),
            "2",
            "--samples",
            *["200"] * n,
            "--test-samples",
            "200",
            "--validation",
            "200",
            "--checkpoint-dir",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == spec.name and metrics["test_images"] == 200
    assert 0.0 <= metrics["accuracy"] <= 1.0
    hist = json.loads((out / "history.json").read_text())
    last = spec.phases[-1].layer  # its 2 epochs (a linear readout is fitted once)
    again = [last] if last != "readout" else []
    assert [h["layer"] for h in hist] == [p.layer for p in spec.phases] + again
    assert (
        main(["eval", "--checkpoint", str(out / "best.pt"), "--root", mnist_root, "--test-samples", "200"])
        == 0
    )
