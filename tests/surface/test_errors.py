"""Bad input raises an error that names the argument and what was expected."""

import os

import pytest
import torch

import fastspike
from fastspike.ops.final_potential import FinalPotentialCache

T = 15
U8 = torch.uint8


def times(*shape, dtype=U8):
    return torch.zeros(shape, dtype=dtype)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: fastspike.fire(torch.zeros(2, 3, dtype=torch.int32), 1.0),
            "potentials: expected dtype float32",
        ),
        (lambda: fastspike.fire(torch.zeros(5), 1.0), r"potentials: expected shape \[B, T, ...\]"),
        (lambda: fastspike.fire(torch.zeros(2, 0, 3), 1.0), "potentials: expected at least 1 time step"),
        (lambda: fastspike.fire(torch.zeros(2, 3, 4), -1.0), "threshold: expected a value >= 0"),
        (lambda: fastspike.first_spike(torch.zeros(2, 0, 4), 1.0), "at least 1 time step"),
        (
            lambda: fastspike.first_spike_from_wave(torch.zeros(2, 3), torch.zeros(2, 4)),
            "potentials: expected the same shape",
        ),
        (
            lambda: fastspike.spike_wave(torch.zeros(2, 3), 15),
            "times: expected first-spike times of dtype uint8 or int16",
        ),
        (lambda: fastspike.spike_wave(times(2, 3), 0), "T: expected at least 1 time step"),
        (lambda: fastspike.spike_wave(times(2, 3), 256), "do not fit first-spike times of dtype"),
        (
            lambda: fastspike.pointwise_inhibition(times(2, 3, 4), torch.zeros(2, 3, 4), T),
            r"times: expected a 4-D tensor",
        ),
        (
            lambda: fastspike.pointwise_inhibition(times(2, 3, 4, 4), torch.zeros(2, 3, 4, 5), T),
            "values: expected the same shape",
        ),
        (
            lambda: fastspike.pointwise_inhibition(
                times(2, 3, 4, 4), torch.zeros(2, 3, 4, 4, dtype=torch.float64), T
            ),
            "values: expected dtype float32",
        ),
        (
            lambda: fastspike.kwta(times(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), T, 0, 1),
            "k: expected 1 to 33554431 winners, got 0",
        ),
        (
            lambda: fastspike.kwta(times(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), T, 2, -1),
            "radius: expected a lateral-inhibition radius >= 0",
        ),
        (
            lambda: fastspike.kwta(times(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), 0, 2, 1),
            "T: expected at least 1 time step",
        ),
        (
            lambda: fastspike.conv_fire(times(2, 3, 8, 8), torch.zeros(4, 2, 3, 3), T, 1.0),
            "weight: expected 3 input channels",
        ),
        (
            lambda: fastspike.conv_fire(times(2, 3, 2, 2), torch.zeros(4, 3, 3, 3), T, 1.0),
            "smaller than the 3x3 kernel",
        ),
        (
            lambda: fastspike.conv_fire(times(2, 3, 8, 8), -torch.ones(4, 3, 3, 3), T, 1.0),
            "weight: expected finite, non-negative weights",
        ),
        (
            lambda: fastspike.conv_fire(
                times(2, 3, 8, 8), torch.ones(4, 3, 3, 3).index_fill_(0, torch.tensor([2]), torch.nan), T, 1.0
            ),
            "weight: expected finite, non-negative weights",
        ),
        (
            lambda: fastspike.conv_fire(times(2, 3, 8, 8), torch.full((4, 3, 3, 3), float("inf")), T, None),
            "weight: expected finite, non-negative weights",
        ),
        (
            lambda: fastspike.final_potential(times(2, 3, 8, 8), torch.full((4, 3, 3, 3), float("nan")), T),
            "weight_rows: expected finite, non-negative weights",
        ),
        (
            lambda: fastspike.final_potential(times(2, 3, 8, 8), torch.full((4, 3, 3, 3), float("inf")), T),
            "weight_rows: expected finite, non-negative weights",
        ),
        (
            lambda: fastspike.conv_fire(
                times(2, 3, 8, 8), torch.zeros(4, 3, 3, 3, dtype=torch.float64), T, 1.0
            ),
            "weight: expected dtype float32",
        ),
        (
            lambda: fastspike.conv_fire(torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3), T, 1.0),
            "times_in: expected first-spike times",
        ),
    ],
)
def test_operator_argument_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), -0.5])
def test_weight_checks_of_the_python_layer(bad):
    """fastspike.ops.check_weights (the CUDA path's check, one host sync) refuses what the
    CPU kernels refuse, naming the argument and the first bad element."""
    w = torch.rand(4, 3, 3, 3)
    w[2, 1, 0, 2] = bad
    flat = 2 * 27 + 1 * 9 + 0 * 3 + 2
    msg = f"weight: expected finite, non-negative weights .* at flat index {flat}"
    with pytest.raises(ValueError, match=msg):
        fastspike.ops.check_weights(w)
    with pytest.raises(ValueError, match="weight: expected finite, non-negative weights"):
        FinalPotentialCache(w).tensors()  # the decision layer's kept tap sums
    fastspike.ops.check_weights(torch.rand(4, 3, 3, 3))  # fine weights pass
    fastspike.ops.check_weights(torch.zeros(0, 3, 3, 3))


def stdp_args(**over):
    a = dict(
        weight=torch.rand(4, 3, 3, 3),
        times_in=times(2, 3, 6, 6),
        times_out=times(2, 4, 4, 4),
        winners=torch.tensor([[[0, 1, 1]], [[2, 0, 3]]], dtype=torch.int32),
        lr=torch.ones(2, 2),
        T=T,
    )
    a.update(over)
    return a


@pytest.mark.parametrize(
    "over,match",
    [
        (
            dict(winners=torch.tensor([[[4, 0, 0]], [[0, 0, 0]]], dtype=torch.int32)),
            "winners: sample 0 row 0 .* out of range",
        ),
        (dict(winners=torch.tensor([[[0, 4, 0]], [[0, 0, 0]]], dtype=torch.int32)), "out of range"),
        (dict(winners=torch.tensor([[[0, 0, -2]], [[0, 0, 0]]], dtype=torch.int32)), "out of range"),
        (
            dict(
                winners=torch.tensor([[[1, 0, 0], [1, 2, 2]], [[0, 0, 0], [-1, -1, -1]]], dtype=torch.int32)
            ),
            "lists feature 1 twice",
        ),
        (dict(winners=torch.zeros(2, 1, 3)), "winners: expected an int32 or int64 tensor"),
        (dict(winners=torch.zeros(3, 1, 3, dtype=torch.int32)), r"winners: expected shape \[2, k, 3\]"),
        (dict(lr=torch.ones(2, 3)), r"lr: expected shape \[2, 2\]"),
        (dict(lr=torch.ones(2, 2, dtype=torch.float64)), "lr: expected a float32 tensor"),
        (dict(times_out=times(2, 4, 5, 5)), r"times_out: expected shape \[2, 4, 4, 4\]"),
        (
            dict(times_out=times(2, 4, 4, 4, dtype=torch.int16)),
            "times_out: expected the same dtype as times_in",
        ),
        (dict(weight=torch.rand(4, 3, 3, 3).transpose(2, 3)), "weight: expected a contiguous tensor"),
        (dict(times_out=torch.full((2, 4, 4, 4), T, dtype=U8)), "did not fire"),
    ],
)
def test_stdp_argument_errors(over, match):
    a = stdp_args(**over)
    w0 = a["weight"].clone()
    with pytest.raises(RuntimeError, match=match):
        fastspike.stdp_update(**a)
    assert torch.equal(a["weight"], w0) or not a["weight"].is_contiguous()  # nothing written on error


def test_stdp_bounds_error():
    with pytest.raises(RuntimeError, match="lb, ub: expected lb <= ub"):
        fastspike.stdp_update(**stdp_args(), lb=1.0, ub=0.5)


def test_validate_winners_python_checks():
    a = stdp_args(winners=torch.tensor([[[9, 0, 0]], [[0, 0, 0]]]))
    with pytest.raises(ValueError, match="out of range"):
        fastspike.ops.validate_winners(a["winners"], a["times_out"], T)
    with pytest.raises(ValueError, match="twice"):
        fastspike.ops.validate_winners(torch.tensor([[[1, 0, 0], [1, 1, 1]]]), times(1, 4, 4, 4), T)


def _gz(path, data):
    import gzip

    if isinstance(data, tuple):  # ("raw", bytes): written as they are, not compressed
        path.write_bytes(data[1])
        return
    with gzip.open(path, "wb") as f:
        f.write(data)


def _idx_images(n, h, w, body=None):
    head = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + h.to_bytes(4, "big") + w.to_bytes(4, "big")
    return head + (bytes(n * h * w) if body is None else body)


def _idx_labels(labels):
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)


@pytest.mark.parametrize(
    "files,match",
    [
        (
            {"train-images-idx3-ubyte.gz": ("raw", b"not gzip at all")},
            "not a readable gzip-compressed IDX file",
        ),
        ({"train-images-idx3-ubyte.gz": _idx_images(5, 28, 28)[:100]}, r"announces 5 images of 28x28"),
        ({"train-images-idx3-ubyte.gz": b"\x00\x00"}, "shorter than an IDX images header"),
        ({"train-labels-idx1-ubyte.gz": _idx_labels([1, 2])[:9]}, "announces 2 labels, the file holds 1"),
        (
            {"train-labels-idx1-ubyte.gz": _idx_labels([1, 2, 3, 4, 12])},
            "labels must be classes 0-9, got 12",
        ),
        ({"train-labels-idx1-ubyte.gz": _idx_labels([1, 2])}, "5 images but 2 labels"),
        ({"train-images-idx3-ubyte.gz": _idx_images(5, 20, 20)}, "expected 28x28 images, got 20x20"),
        ({"train-images-idx3-ubyte.gz": _idx_labels([1] * 12)}, r"not an IDX image file \(magic 2049"),
    ],
)
def test_corrupt_dataset_files_name_the_file(tmp_path, files, match):
    """Damaged IDX files: a ValueError naming the file (or the split) and what is wrong."""
    from fastspike.data import load_dataset

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    good = {
        "train-images-idx3-ubyte.gz": _idx_images(5, 28, 28),
        "train-labels-idx1-ubyte.gz": _idx_labels([1, 2, 3, 4, 5]),
        "t10k-images-idx3-ubyte.gz": _idx_images(3, 28, 28),
        "t10k-labels-idx1-ubyte.gz": _idx_labels([0, 1, 2]),
    }
    for name, data in {**good, **files}.items():
        _gz(raw / name, data)
    with pytest.raises(ValueError, match=match):
        load_dataset("mnist", str(tmp_path), download=False)
    for name, data in good.items():  # and the good files load
        _gz(raw / name, data)
    train, test = load_dataset("mnist", str(tmp_path), download=False)
    assert train.images.shape == (5, 28, 28) and test.labels.tolist() == [0, 1, 2]


def test_encoded_dataset_cache_is_reused_and_a_damaged_one_remade(tmp_path):
    from fastspike.data import encode_dataset
    from fastspike.encoding import Encoder

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 28, 28), generator=g, dtype=torch.uint8)
    first = encode_dataset(images, Encoder(), cache_dir=str(tmp_path))
    (cache,) = tmp_path.iterdir()
    assert torch.equal(encode_dataset(images, Encoder(), cache_dir=str(tmp_path)), first)
    for damage in (b"garbage", None):
        if damage is None:  # a readable file holding the wrong thing
            torch.save(torch.zeros(2, 2), cache)
        else:
            cache.write_bytes(damage)
        with pytest.warns(UserWarning, match="encoding again and replacing it"):
            again = encode_dataset(images, Encoder(), cache_dir=str(tmp_path))
        assert torch.equal(again, first)
        assert torch.equal(torch.load(cache, weights_only=True), first)  # replaced


def test_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from fastspike.data import load_dataset

    class Offline:
        def __init__(self, root, train, download):
            os.makedirs(os.path.join(root, "MNIST", "raw"), exist_ok=True)  # as torchvision does
            raise RuntimeError("no network")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="the download failed"):
        load_dataset("mnist", str(root), download=True)
    assert not root.exists()


def test_openmp_threads_sleep_while_they_wait_unless_told_otherwise():
    """fastspike sets OMP_WAIT_POLICY=PASSIVE when it loads torch itself, keeps a value the user
    set, and cannot (so does not pretend to) change it once torch is loaded."""
    import subprocess
    import sys

    code = "import os, {mods}; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}

    def policy(mods, **extra):
        argv = [sys.executable, "-c", code.format(mods=mods)]
        r = subprocess.run(argv, capture_output=True, text=True, env={**env, **extra})
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.strip().splitlines()[-1]

    assert policy("fastspike") == "PASSIVE"
    assert policy("fastspike", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert policy("torch, fastspike") == "None"
