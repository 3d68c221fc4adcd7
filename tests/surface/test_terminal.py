"""What a user sees at the terminal (issue 31 item 4): help that says each default once,
progress bars only on a terminal (one line per epoch in a log file), one-line errors that
say what to do (in the CLI's words from the CLI, in Python's from Python), checkpoints
that say what is wrong with them, and install commands for the optional packages."""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import os
import re
import subprocess
import sys
import warnings
import zipfile

import pytest
import torch

import fastspike
from fastspike import api
from fastspike.__main__ import _parser, main
from fastspike.batching import on_terminal, progress_bar
from fastspike.data import load_dataset
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.usage import CheckpointError, DataNotFoundError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRETRAINED = os.path.join(os.path.dirname(fastspike.__file__), "pretrained", "mozafari2018-tiny.pt")
COMMANDS = ("train", "eval", "plot", "serve", "models")


def _one_line_error(err: str, command: str) -> str:
    """The error output: exactly one line, ``python -m fastspike COMMAND: error: ...``."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"python -m fastspike {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ----------------------------------------------------------------------------- --help
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    p = _parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_says_each_default_once(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one option per line
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text, text
    # each option's help (formatted as --help prints it) names its default at most once
    parser = _subparsers()[command]
    formatter = parser.formatter_class(prog=parser.prog)
    for action in parser._actions:
        shown = formatter._expand_help(action) if action.help else ""
        assert shown.count("default") <= 1, (action.option_strings, shown)
        assert shown in " ".join(text.split()), (action.option_strings, shown)
    if command == "train":
        assert "samples per batched update (default: 64)\n" in text
        assert "time steps (default: the network's)\n" in text
        assert "initial weights (default: 0)\n" in text  # a real default is still said


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "lenet"])
    assert exit_.value.code == 2
    line = _one_line_error(capsys.readouterr().err, "train")
    assert "invalid choice: 'lenet'" in line and line.endswith("(see python -m fastspike train --help)")


def test_every_error_is_one_line_without_a_traceback(monkeypatch, capsys):
    import fastspike.__main__ as cli

    for raised, code, said in [
        (ValueError("first line\n  second line\n"), 2, "error: first line; second line"),
        (PermissionError(13, "Permission denied", "/x/eval.json"), 2, "error: [Errno 13] Permission denied"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ]:

        def boom(args, raised=raised):
            raise raised

        monkeypatch.setattr(cli, "_models", boom)
        assert main(["models"]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("python -m fastspike models: "), err
        assert said in err and "Traceback" not in err, err


# ----------------------------------------------------------------------------- progress bars
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_are_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not on_terminal()
    with progress_bar(10, "log file", True) as bar:
        assert bar.disable
        bar.update(10)
    assert sys.stderr.getvalue() == ""  # nothing drawn into a log
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert on_terminal()
    with progress_bar(10, "terminal", True) as bar:
        assert not bar.disable
        bar.update(10)
    assert "terminal" in sys.stderr.getvalue()
    with progress_bar(10, "asked for none", False) as bar:
        assert bar.disable


@pytest.mark.slow
def test_a_run_logged_to_a_file_writes_one_line_per_epoch(mnist_root, tmp_path):
    """The tiny preset (fewer samples) with its output redirected to a file: no redrawn bars,
    one line per epoch, under 20 KB; the run folder is announced once it exists, and its
    best.pt holds the test metrics."""
    run = tmp_path / "run"
    log = tmp_path / "train.log"
    with open(log, "w") as f:
        r = subprocess.run(
            [sys.executable, "-m", "fastspike", "train", "--preset", "tiny", "--root", mnist_root]
            + ["--samples", "400", "400", "600", "--validation", "300", "--test-samples", "300"]
            + ["--device", "cpu", "--checkpoint-dir", str(run)],
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    text = log.read_text()
    assert r.returncode == 0, text
    assert log.stat().st_size < 20_000, text
    assert "\r" not in text and "\x1b[" not in text, text[:2000]  # no bar redrawn in place
    lines = text.splitlines()
    assert lines[0] == f"fastspike train: run folder {run}", lines[:3]
    # tiny Mozafari 2018: S1 1 epoch, S2 1 epoch, S3 4 epochs: one line each
    assert sum(line.startswith("S1 epoch 1/1 (STDP): 400 samples in ") for line in lines) == 1, text
    assert sum(line.startswith("S2 epoch 1/1 (STDP): 400 samples in ") for line in lines) == 1, text
    assert [int(m.group(1)) for m in map(re.compile(r"S3 epoch (\d+): train ").match, lines) if m] == [
        1,
        2,
        3,
        4,
    ], text
    assert lines[-1].startswith("fastspike train: model=mozafari2018 dataset=mnist preset=tiny"), lines[-1]
    best = fastspike.load_model(str(run / "best.pt"))
    assert best.test_metrics["n"] == 300
    assert f"test accuracy {best.test_metrics['accuracy']:.4f}" in lines[-1]


# ----------------------------------------------------------------------------- --root
@pytest.fixture()
def offline(monkeypatch):
    """torchvision's MNIST download, failing as it does without a network (and counted)."""
    import torchvision.datasets as tvd

    calls = []

    class Offline:
        def __init__(self, root, train, download):
            calls.append(root)
            raise RuntimeError(
                "Error downloading train-images-idx3-ubyte.gz:\nTried https://example.invalid/mnist/, got:\n"
                "<urlopen error [Errno -2] Name or service not known>\n)"
            )

    monkeypatch.setattr(tvd, "MNIST", Offline)
    return calls


def test_a_root_without_the_data_is_one_line_naming_the_layout(tmp_path, monkeypatch, capsys, offline):
    monkeypatch.chdir(tmp_path)  # a default run folder would go under ./runs
    assert main(["train", "--preset", "tiny", "--root", str(tmp_path / "nowhere")]) == 2
    out, err = capsys.readouterr()
    line = _one_line_error(err, "train")
    assert line.endswith(
        f"--root: dataset 'mnist': its files are not in {tmp_path / 'nowhere' / 'MNIST' / 'raw'} "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each .gz or not) and the download failed "
        "(urlopen error [Errno -2] Name or service not known)"
    ), line
    assert out == ""  # no run folder announced
    assert sorted(os.listdir(tmp_path)) == []  # and none made: no runs/, no nowhere/
    assert len(offline) == 1


@pytest.mark.parametrize("inside", [("MNIST", "raw"), ("MNIST",)])
def test_a_root_at_the_dataset_folder_itself_says_where_to_point_it(
    mnist_root, inside, tmp_path, monkeypatch, capsys, offline
):
    monkeypatch.chdir(tmp_path)
    root = os.path.join(mnist_root, *inside)
    assert main(["train", "--preset", "tiny", "--root", root]) == 2
    out, err = capsys.readouterr()
    line = _one_line_error(err, "train")
    assert f"point --root at the folder that holds MNIST/raw ({os.path.abspath(mnist_root)})" in line, line
    assert out == "" and os.listdir(tmp_path) == [] and offline == []  # nothing downloaded into it
    # from Python: a FileNotFoundError naming the argument as Python spells it
    with pytest.raises(DataNotFoundError) as err_:
        load_dataset("mnist", root)
    assert isinstance(err_.value, FileNotFoundError) and err_.value.argument == "root"
    assert "point root at the folder that holds MNIST/raw" in str(err_.value)
    assert "--root" not in str(err_.value) and offline == []


def test_misplaced_files_say_where_they_go(mnist_root, tmp_path, offline):
    raw = os.path.join(mnist_root, "MNIST", "raw")
    other = r"another dataset's \(MNIST\); point root at the folder that holds FashionMNIST/raw$"
    with pytest.raises(DataNotFoundError, match=other):
        load_dataset("fashion-mnist", raw)
    loose = tmp_path / "loose"
    loose.mkdir()
    for name in os.listdir(raw):
        os.symlink(os.path.join(raw, name), loose / name)
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("mnist", str(loose))
    assert str(err.value) == (
        f"root: dataset 'mnist': the files are in {str(loose)!r}, but it is read from ROOT/MNIST/raw: "
        f"move them to {loose / 'MNIST' / 'raw'}"
    )
    assert offline == []


# ----------------------------------------------------------------------------- checkpoints
def _checksum_mismatch(path):
    ck = torch.load(PRETRAINED, map_location="cpu", weights_only=True)
    ck["config"] = {**ck["config"], "seed": 12345}  # edited, the old checksum kept
    torch.save(ck, path)


def _code(path):
    torch.save({"format": checkpoint.FORMAT, "version": 3, "x": _Touch(str(path) + ".ran")}, path)


class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _zip_without_data(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello")


BAD_FILES = {
    "text": (lambda p: p.write_text("epoch 1: accuracy 0.9\n"), "not a fastspike checkpoint: a text file"),
    "empty": (lambda p: p.write_bytes(b""), "not a fastspike checkpoint: the file is empty"),
    "zip": (_zip_without_data, "not a fastspike checkpoint: a zip archive without data.pkl"),
    "truncated": (
        lambda p: p.write_bytes(open(PRETRAINED, "rb").read()[:100_000]),
        "not a fastspike checkpoint: a damaged zip archive (cut short?)",
    ),
    "state_dict": (
        lambda p: torch.save({"conv1.weight": torch.zeros(2)}, p),
        "not a fastspike checkpoint: a torch file holding a dict of 1 entries (conv1.weight) without "
        "format 'fastspike-checkpoint' (a bare state_dict?)",
    ),
    "tensor": (
        lambda p: torch.save(torch.zeros(3), p),
        "not a fastspike checkpoint: a torch file holding a Tensor",
    ),
    "code": (
        _code,
        "not a fastspike checkpoint: it pickles code or objects that are not plain data (refused",
    ),
    "edited": (_checksum_mismatch, "checksum mismatch: its contents do not match the checksum"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_damaged_or_foreign_checkpoint_says_what_is_wrong(kind, tmp_path, capsys):
    make, message = BAD_FILES[kind]
    path = tmp_path / "best.pt"
    make(path)
    with pytest.raises(CheckpointError) as err:
        fastspike.load_model(str(path))
    assert isinstance(err.value, ValueError) and err.value.argument == "checkpoint"
    assert str(err.value).startswith(f"checkpoint {str(path)!r}: {message}"), str(err.value)
    assert "\n" not in str(err.value)
    assert main(["eval", "--checkpoint", str(path), "--device", "cpu"]) == 2
    assert message in _one_line_error(capsys.readouterr().err, "eval")
    assert not os.path.exists(str(path) + ".ran")  # nothing in the file ran


# ----------------------------------------------------------------------------- optional packages
def _extras() -> dict[str, list[str]]:
    """pyproject.toml's [project.optional-dependencies] (read without tomllib: Python 3.10)."""
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        text = f.read()
    section = text.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    extras = {}
    for line in section.splitlines():
        m = re.match(r"([\w-]+) = (\[.*\])", line.split("#")[0].strip())
        if m:
            extras[m.group(1)] = ast.literal_eval(m.group(2))
    return extras


def test_optional_packages_have_extras():
    extras = _extras()
    assert extras["plots"] == ["matplotlib"] and extras["demo"] == ["flask"]
    assert extras["tensorboard"] == ["tensorboard"]
    assert set(extras["all"]) >= {"matplotlib", "flask", "tensorboard", "pyyaml"}


def _install_hint(text: str, package: str) -> str:
    """The extra the message names, checked against pyproject.toml."""
    m = re.search(rf'pip install {package} \(or the "(\w+)" extra: pip install -e "\.\[(\w+)\]"', text)
    assert m and m.group(1) == m.group(2), text
    assert package in _extras()[m.group(1)], (m.group(1), text)
    return m.group(1)


def test_serve_and_plot_without_their_packages_name_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "flask", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "fastspike.serve", raising=False)
    assert main(["serve"]) == 2
    line = _one_line_error(capsys.readouterr().err, "serve")
    assert "the web demo needs flask" in line and _install_hint(line, "flask") == "demo"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", "--checkpoint", PRETRAINED, "--root", "/nonexistent"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # said before any work
    assert _install_hint(_one_line_error(err, "plot"), "matplotlib") == "plots"


def test_tensorboard_without_its_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ValueError, match="tensorboard: logging to TensorBoard needs tensorboard") as err:
        fastspike.train(root=str(tmp_path), tensorboard=True, checkpoint_dir=str(tmp_path / "run"))
    assert _install_hint(str(err.value), "tensorboard") == "tensorboard"


# ----------------------------------------------------------------------------- Python's words
def test_errors_speak_python_from_python_and_flags_from_the_cli(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        fastspike.train(root=str(tmp_path), device="cuda", progress=False)
    assert str(err.value) == "device: 'cuda' asked for, but torch sees no GPU here (use device=\"cpu\")"
    assert main(["train", "--device", "cuda", "--root", str(tmp_path)]) == 2
    out, err_ = capsys.readouterr()
    line = _one_line_error(err_, "train")
    assert line.endswith("--device: 'cuda' asked for, but torch sees no GPU here (use --device cpu)"), line
    assert out == "" and not os.path.exists(tmp_path / "runs")


def test_train_and_train_mnist_take_the_same_names(monkeypatch, tmp_path):
    train_names = set(inspect.signature(api.train).parameters) | set(RunConfig.fields())
    mnist_names = {
        p.name for p in inspect.signature(api.train_mnist).parameters.values() if p.kind != p.VAR_KEYWORD
    }
    assert mnist_names <= train_names, mnist_names - train_names
    assert {"epochs", "samples"} <= mnist_names
    seen = []
    monkeypatch.setattr(api, "train", lambda model, dataset, root, **options: seen.append(options))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the train() names warn about nothing
        api.train_mnist(str(tmp_path), epochs=[1, None, 2], samples=[100])
    assert seen[-1] == {"epochs": [1, None, 2], "samples": [100, None, None]}
    with pytest.warns(DeprecationWarning, match=r"epochs1, epochs3 are deprecated; pass epochs=\[\.\.\.\]"):
        api.train_mnist(str(tmp_path), epochs1=1, epochs3=2)
    assert seen[-1] == {"epochs": [1, None, 2]}
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="give either epochs or epochs1"):
        api.train_mnist(str(tmp_path), epochs=[1, 1, 1], epochs2=3)
