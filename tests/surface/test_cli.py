"""python -m fastspike train / eval, end to end on a small real subset."""

import json
import re

import pytest

from fastspike.__main__ import main


def test_cli_train_then_eval(mnist_root, tmp_path, capsys):
    ck = tmp_path / "ck"
    hist = tmp_path / "h.json"
    assert (
        main(
            [
                "train",
                "--root",
                mnist_root,
                "--samples",
                "600",
                "600",
                "800",
                "--epochs1",
                "1",
                "--epochs2",
                "1",
                "--epochs3",
                "2",
                "--test-samples",
                "300",
                "--validation",
                "300",
                "--batch-size",
                "32",
                "--checkpoint-dir",
                str(ck),
                "--history",
                str(hist),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fastspike train: model=mozafari2018 dataset=mnist preset=quick with epochs1=1" in out
    assert "samples=[600, 600, 800]" in out and "validation=300" in out
    chosen = r"test accuracy 0\.\d{4} \(weights of S3 epoch [12] of 2, chosen on 300 validation images"
    assert re.search(chosen, out), out
    assert "wall time" in out
    assert len(json.loads(hist.read_text())) == 2
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(ck / "best.pt"),
                "--root",
                mnist_root,
                "--test-samples",
                "300",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "correct" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(mnist_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run folder goes under ./runs
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "imagenet"])
    with pytest.raises(SystemExit):
        main(["train", "--model", "lenet"])
    with pytest.raises(SystemExit):
        main(["train", "--preset", "slow"])
    with pytest.raises(SystemExit):
        main(["train", "--model", "mozafari2018", "--config", "net.json"])
    capsys.readouterr()
    # errors a user makes end with one line naming the argument, exit status 2, no traceback
    bad = [
        (["--samples", "-5"], "--samples: expected numbers >= 0"),
        (["--epochs", "1", "-1", "1"], "--epochs: expected numbers >= 0"),
        (["--test-samples", "-1"], "test_samples: expected a positive number"),
        (["--test-samples", "0"], "test_samples: expected a positive number"),
        (["--validation", "-1"], "validation: expected a number of held-out training images >= 0"),
        (["--validation", "60000"], "validation: 60000 held-out images leave none to train on"),
        (["--validation", "20000", "--samples", "0", "45000"], "samples: phase 'S2' asks for 45000"),
        (["--batch-size", "0"], "batch_size: expected a positive integer"),
        (["--epochs", "1", "1"], "epochs: expected 3 values (one per phase), got 2"),
        (["--checkpoint-dir", "/proc/no-such-dir"], "checkpoint_dir: cannot write to '/proc/no-such-dir'"),
        (
            ["--history", "/no/such/dir/h.json"],
            "--history: cannot write a file at '/no/such/dir/h.json'",
        ),
        (["--history", str(tmp_path)], "--history: cannot write a file at"),
        (["--threads", "0"], "--threads: expected a positive number"),
        (["--device", "tpu"], "device: expected 'cpu' or 'cuda'"),
        (["--config", str(tmp_path / "missing.json")], "config: no file"),
    ]
    for args, message in bad:
        assert main(["train", "--root", mnist_root, "--no-progress", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("python -m fastspike train: error: ") and message in err, (args, err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no empty run left
