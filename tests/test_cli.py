"""python -m fastspike train / eval, end to end on a small real subset."""

import json

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
    assert "fastspike train: model=mozafari2018 dataset=mnist preset=quick" in out
    assert "test accuracy" in out and "wall time" in out
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


def test_cli_rejects_bad_arguments(mnist_root, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "cifar10"])
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
        (["--batch-size", "0"], "batch_size: expected a positive integer"),
        (["--epochs", "1", "1"], "epochs: expected 3 values (one per phase), got 2"),
        (["--checkpoint-dir", "/proc/no-such-dir"], "checkpoint_dir: cannot write to '/proc/no-such-dir'"),
        (["--threads", "0"], "--threads: expected a positive number"),
        (["--device", "tpu"], "device: expected 'cpu' or 'cuda'"),
        (["--config", str(tmp_path / "missing.json")], "config: no file"),
    ]
    for args, message in bad:
        assert main(["train", "--root", mnist_root, "--no-progress", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("python -m fastspike train: error: ") and message in err, (args, err)
