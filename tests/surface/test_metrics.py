"""Metrics against hand-computed values; eval prints and saves them; the tiny preset; device errors."""

import json
import os
import shutil

import pytest
import torch
from conftest import SHARED_DATA

from fastspike.__main__ import main
from fastspike.api import train
from fastspike.metrics import classification_metrics, format_metrics


def test_metrics_hand_computed():
    # true:  0 0 0 1 1 2 2 2 2 2      predicted: 0 1 -1 1 1 2 0 2 -1 1
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    pred = torch.tensor([0, 1, -1, 1, 1, 2, 0, 2, -1, 1])
    m = classification_metrics(pred, labels, 3)
    assert m["n"] == 10
    assert m["accuracy"] == 0.5 and m["silent"] == 0.2 and m["wrong"] == pytest.approx(0.3)
    assert m["confusion"] == [[1, 1, 0, 1], [0, 2, 0, 0], [1, 1, 2, 1]]
    # class 0: predicted twice (1 right) -> P 1/2; support 3 -> R 1/3; F1 = 2 * (1/6) / (5/6) = 0.4
    # class 1: predicted 4 times (2 right) -> P 1/2; support 2 -> R 1;   F1 = 2/3
    # class 2: predicted once (right)     -> P 1;   support 5 -> R 2/5; F1 = 2 * 0.4 / 1.4 = 4/7
    p = m["per_class"]
    assert [c["precision"] for c in p] == [0.5, 0.5, 1.0]
    assert [c["recall"] for c in p] == pytest.approx([1 / 3, 1.0, 0.4])
    assert [c["f1"] for c in p] == pytest.approx([0.4, 2 / 3, 4 / 7])
    assert [c["support"] for c in p] == [3, 2, 5]
    assert m["macro_f1"] == pytest.approx((0.4 + 2 / 3 + 4 / 7) / 3)
    text = format_metrics(m)
    assert "accuracy 0.5000" in text and "silent 0.2000" in text and "    2      1     1     2     1" in text


def test_metrics_edge_cases():
    m = classification_metrics(torch.tensor([-1, -1]), torch.tensor([0, 1]), 2)
    assert m["accuracy"] == 0 and m["silent"] == 1 and m["macro_f1"] == 0  # nothing predicted: P = 0, not NaN
    assert classification_metrics(torch.tensor([1]), torch.tensor([1]), 2)["per_class"][0]["support"] == 0
    with pytest.raises(ValueError, match="pred, labels: expected the same length"):
        classification_metrics(torch.tensor([0, 1]), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match=r"labels: expected classes in \[0, 2\)"):
        classification_metrics(torch.tensor([0]), torch.tensor([2]), 2)
    with pytest.raises(ValueError, match=r"pred: expected classes in \[0, 2\) or -1"):
        classification_metrics(torch.tensor([-2]), torch.tensor([0]), 2)


def test_train_saves_metrics_and_eval_prints_them(mnist_root, tmp_path, capsys):
    ck = tmp_path / "run"
    net, hist = train(
        "mozafari2018",
        "mnist",
        mnist_root,
        samples=[400, 400, 500],
        epochs=[1, 1, 2],
        test_samples=300,
        validation=300,
        checkpoint_dir=str(ck),
        progress=False,
        download=False,
    )
    saved = json.loads((ck / "metrics.json").read_text())
    assert saved["model"] == "mozafari2018" and saved["n"] == 300
    assert saved["accuracy"] == net.test_metrics["accuracy"]  # the chosen weights, on the test set
    assert saved["validation_images"] == 300 and saved["selected"]["layer"] == "S3"
    best = max(hist, key=lambda h: h["val"]["correct"])
    assert saved["selected"]["epoch"] == best["epoch"]
    assert saved["selected"]["val_correct"] == best["val"]["correct"]
    assert sum(map(sum, saved["confusion"])) == 300
    # eval: the same metrics for the checkpoint, printed and saved; a warning for another dataset
    assert (
        main(["eval", "--checkpoint", str(ck / "best.pt"), "--root", mnist_root, "--test-samples", "300"])
        == 0
    )
    out = capsys.readouterr().out
    assert "macro F1" in out and "confusion" in out
    ev = json.loads((ck / "eval-mnist.json").read_text())
    assert ev["confusion"] == saved["confusion"] and ev["accuracy"] == saved["accuracy"]
    fashion = os.path.join(SHARED_DATA, "FashionMNIST", "raw")
    if os.path.isdir(fashion):
        shutil.copytree(fashion, os.path.join(mnist_root, "FashionMNIST", "raw"), dirs_exist_ok=True)
        out_json = tmp_path / "f.json"
        assert (
            main(
                [
                    "eval",
                    "--checkpoint",
                    str(ck / "best.pt"),
                    "--root",
                    mnist_root,
                    "--dataset",
                    "fashion-mnist",
                    "--test-samples",
                    "100",
                    "--out",
                    str(out_json),
                ]
            )
            == 0
        )
        assert "was trained on mnist, evaluating it on fashion-mnist" in capsys.readouterr().err
        assert json.loads(out_json.read_text())["dataset"] == "fashion-mnist"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when no GPU is visible")
def test_cuda_device_without_gpu_is_a_clear_error(mnist_root, capsys):
    assert main(["train", "--root", mnist_root, "--device", "cuda", "--no-progress"]) == 2
    assert "device: 'cuda' asked for, but torch sees no GPU here" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_preset(mnist_root):
    """--preset tiny: the first thing to try; about a minute on 2 cores and >= 85% on MNIST."""
    net, hist = train("mozafari2018", "mnist", mnist_root, preset="tiny", progress=False, download=False)
    assert [(p.epochs, p.samples) for p in net.spec.phases] == [(1, 10000), (1, 20000), (4, 20000)]
    assert len(hist) == 4
    assert net.test_metrics["n"] == 10000 and net.test_metrics["accuracy"] >= 0.85, net.test_metrics[
        "accuracy"
    ]


def test_tensorboard_logs(mnist_root, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ck = tmp_path / "run"
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
                "2",
                "--test-samples",
                "100",
                "--validation",
                "200",
                "--checkpoint-dir",
                str(ck),
                "--tensorboard",
                "--no-progress",
            ]
        )
        == 0
    )
    ev = EventAccumulator(str(ck / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    ev.Reload()
    tags = ev.Tags()
    assert {
        "S1/samples_per_s",
        "S1/at_bounds",
        "S3/val_correct",
        "S3/train_correct",
        "spike_rate/S1",
        "spike_rate/S2",
        "spike_rate/S3",
    } <= set(tags["scalars"])
    assert {"weights/S1", "weights/S2", "weights/S3"} <= set(tags["histograms"])
    assert "features/S1" in tags["images"]
    assert [e.step for e in ev.Scalars("spike_rate/S1")] == [1, 2, 3, 4]  # one point per epoch of every phase
    acc = [e.value for e in ev.Scalars("S3/val_correct")]
    log = json.loads((ck / "history.json").read_text())
    assert acc == pytest.approx([r["val_correct"] for r in log if r["layer"] == "S3"])
    assert all(0 <= e.value <= 1 for e in ev.Scalars("spike_rate/S2"))


def test_tensorboard_needs_a_run_folder(mnist_root):
    with pytest.raises(ValueError, match="tensorboard: needs checkpoint_dir"):
        train("mozafari2018", "mnist", mnist_root, tensorboard=True, progress=False, download=False)
