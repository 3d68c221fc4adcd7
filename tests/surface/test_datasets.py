"""Datasets beyond MNIST: KMNIST, EMNIST (digits), CIFAR-10 (grey), Fashion-MNIST and any
image folder, read from files the tests make (nothing downloads), and training on them."""

import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from fastspike.data import load_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_DATA = os.environ.get("FASTSPIKE_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    head = b"".join(int(v).to_bytes(4, "big") for v in (2051, n, h, w))
    return head + images.astype(np.uint8).tobytes()


def _idx_labels(labels) -> bytes:
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)


def _write(path, data: bytes, compress: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _rng_images(n, h=28, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_kmnist_reads_idx_files_compressed_or_not(tmp_path, compress):
    raw = tmp_path / "KMNIST" / "raw"
    tr, te = _rng_images(6, seed=1), _rng_images(4, seed=2)
    _write(raw / "train-images-idx3-ubyte", _idx_images(tr), compress)
    _write(raw / "train-labels-idx1-ubyte", _idx_labels([0, 1, 2, 3, 4, 9]), compress)
    _write(raw / "t10k-images-idx3-ubyte", _idx_images(te), compress)
    _write(raw / "t10k-labels-idx1-ubyte", _idx_labels([5, 6, 7, 8]), compress)
    train, test = load_dataset("kmnist", str(tmp_path), download=False)
    assert torch.equal(train.images, torch.from_numpy(tr)) and torch.equal(test.images, torch.from_numpy(te))
    assert train.labels.tolist() == [0, 1, 2, 3, 4, 9] and test.labels.dtype == torch.int64
    assert train.classes == tuple("0123456789")


def test_emnist_digits_are_turned_upright(tmp_path):
    """EMNIST stores each image transposed; the loader returns it as MNIST does."""
    raw = tmp_path / "EMNIST" / "raw"
    upright = np.zeros((2, 28, 28), np.uint8)
    upright[:, 3, 20] = 255  # row 3, column 20: not symmetric under transposition
    upright[1, 25, 1] = 7
    stored = upright.transpose(0, 2, 1)
    for split in ("train", "test"):
        _write(raw / f"emnist-digits-{split}-images-idx3-ubyte", _idx_images(stored), False)
        _write(raw / f"emnist-digits-{split}-labels-idx1-ubyte", _idx_labels([3, 8]), False)
    train, test = load_dataset("emnist", str(tmp_path), download=False)
    assert torch.equal(train.images, torch.from_numpy(upright))
    assert test.labels.tolist() == [3, 8] and train.images.is_contiguous()


def _cifar_records(n, seed):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    return rgb, labels


def _luma(rgb):
    """0.299 R + 0.587 G + 0.114 B, rounded half up (in exact integers: 1000 Y = ...)."""
    r, g, b = (rgb[:, i].astype(np.int64) for i in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


def test_cifar10_binary_version_as_grey_images(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    batches = {f"data_batch_{i}.bin": _cifar_records(3, i) for i in range(1, 6)}
    batches["test_batch.bin"] = _cifar_records(4, 9)
    # pure red, green, blue and white: 76.245, 149.685, 29.07 and 255 -> 76, 150, 29, 255
    batches["test_batch.bin"][0][0, :, 0, :4] = np.array(
        [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]
    )
    for name, (rgb, lab) in batches.items():
        (d / name).write_bytes(np.concatenate([lab[:, None], rgb.reshape(len(lab), -1)], axis=1).tobytes())
    train, test = load_dataset("cifar10", str(tmp_path), download=False)
    rgb = np.concatenate([batches[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    assert train.images.shape == (15, 32, 32) and test.images.shape == (4, 32, 32)
    assert torch.equal(train.images, torch.from_numpy(_luma(rgb)))  # ITU-R 601 luma, rounded
    assert test.labels.tolist() == batches["test_batch.bin"][1].tolist()
    assert test.images[0, 0, :4].tolist() == [76, 150, 29, 255]
    assert train.classes[0] == "airplane" and len(train.classes) == 10
    (d / "test_batch.bin").write_bytes(b"\0" * 100)  # not whole records
    with pytest.raises(ValueError, match="test_batch.bin: 100 bytes, not a whole number of CIFAR-10 records"):
        load_dataset("cifar10", str(tmp_path), download=False)


def test_cifar10_python_version_is_read_without_running_code(tmp_path):
    """The Python version is a pickle; it is read with an unpickler that builds numpy arrays
    and nothing else, so a pickle that would call a function is refused, not run."""
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    batches = {f"data_batch_{i}": _cifar_records(2, i) for i in range(1, 6)}
    batches["test_batch"] = _cifar_records(3, 7)
    for name, (rgb, lab) in batches.items():
        (d / name).write_bytes(
            pickle.dumps({b"batch_label": b"x", b"labels": lab.tolist(), b"data": rgb.reshape(len(lab), -1)})
        )
    train, test = load_dataset("cifar10", str(tmp_path), download=False)
    assert torch.equal(test.images, torch.from_numpy(_luma(batches["test_batch"][0])))
    assert train.labels.tolist() == sum((batches[f"data_batch_{i}"][1].tolist() for i in range(1, 6)), [])

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (d / "test_batch").write_bytes(pickle.dumps({b"labels": [1], b"data": Evil()}))
    with pytest.raises(ValueError, match="refusing to load"):
        load_dataset("cifar10", str(tmp_path), download=False)
    assert not marker.exists()


def _png(path, array, mode):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def _image_folder(root, classes=("cat", "dog"), per_class=2, size=(20, 30), test_classes=None):
    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for c in names:
            for i in range(per_class):
                if i % 2:
                    _png(
                        root / split / c / f"{i}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8), "RGB"
                    )
                else:
                    _png(root / split / c / f"{i}.png", rng.integers(0, 256, size, dtype=np.uint8), "L")
            (root / split / c / "notes.txt").write_text("not an image: skipped")


def test_image_folder_grey_resized_with_sorted_classes(tmp_path):
    _image_folder(tmp_path, classes=("dog", "cat", "bird"), per_class=3)
    train, test = load_dataset("folder", str(tmp_path), download=False)
    assert train.classes == ("bird", "cat", "dog") and test.classes == train.classes
    assert train.images.shape == (9, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    train32, _ = load_dataset("folder", str(tmp_path), image_size=(32, 16))
    assert train32.images.shape == (9, 32, 16)
    # an image already of the asked size is taken as it is (grey)
    from PIL import Image

    with Image.open(tmp_path / "train" / "bird" / "0.png") as im:
        assert im.size == (30, 20)
    same, _ = load_dataset("folder", str(tmp_path), image_size=(20, 30))
    with Image.open(tmp_path / "train" / "bird" / "0.png") as im:
        assert torch.equal(same.images[0], torch.from_numpy(np.array(im)))


@pytest.mark.parametrize(
    "damage,error,match",
    [
        ("no-test", FileNotFoundError, r"no 'test' folder in .*train/<class>/<images>"),
        ("other-classes", ValueError, r"the train and test class folders differ"),
        ("one-class", ValueError, r"holds 1 class folders, expected at least 2"),
        ("bad-image", ValueError, r"broken\.png: not a readable image"),
        ("empty", ValueError, r"no images"),
    ],
)
def test_image_folder_errors_name_what_is_wrong(tmp_path, damage, error, match):
    if damage == "no-test":
        _image_folder(tmp_path)
        import shutil

        shutil.rmtree(tmp_path / "test")
    elif damage == "other-classes":
        _image_folder(tmp_path, test_classes=("cat", "cow"))
    elif damage == "one-class":
        _image_folder(tmp_path, classes=("cat",))
    elif damage == "bad-image":
        _image_folder(tmp_path)
        (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    else:
        for split in ("train", "test"):
            for c in ("a", "b"):
                (tmp_path / split / c).mkdir(parents=True)
    with pytest.raises(error, match=match):
        load_dataset("folder", str(tmp_path), download=False)


@pytest.mark.parametrize("size", [(28,), (0, 28), (28.0, 28), "28x28"])
def test_image_folder_rejects_bad_sizes(tmp_path, size):
    _image_folder(tmp_path)
    with pytest.raises(ValueError, match="image_size: expected"):
        load_dataset("folder", str(tmp_path), image_size=size)


@pytest.mark.parametrize(
    "name,where",
    [
        ("kmnist", r"KMNIST/raw \(train-images-idx3-ubyte, .* each \.gz or not\)"),
        ("emnist", r"EMNIST/raw \(emnist-digits-train-images-idx3-ubyte"),
        ("cifar10", r"cifar-10-batches-bin \(data_batch_1\.bin .* or .*cifar-10-batches-py"),
        ("fashion-mnist", r"FashionMNIST/raw"),
    ],
)
def test_missing_files_say_where_to_put_them(tmp_path, name, where):
    with pytest.raises(FileNotFoundError, match=where):
        load_dataset(name, str(tmp_path), download=False)
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_fashion_mnist_from_the_shared_files():
    if not os.path.exists(os.path.join(SHARED_DATA, "FashionMNIST", "raw")):
        pytest.skip(f"Fashion-MNIST not found at {SHARED_DATA} (set FASTSPIKE_DATA)")
    train, test = load_dataset("fashion-mnist", SHARED_DATA, download=False)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert sorted(train.labels.unique().tolist()) == list(range(10))


def test_training_takes_the_dataset_image_size_and_checks_its_classes(tmp_path):
    """A 10-class folder of 32x32 images trains Mozafari 2018 (its layers re-checked for
    32x32 input; the run saved and evaluated); a 3-class folder is refused before training."""
    from fastspike.api import train

    root = tmp_path / "ten"
    _image_folder(root, classes=tuple(f"c{i}" for i in range(10)), per_class=2, size=(32, 32))
    net, hist = train(
        "mozafari2018",
        "folder",
        str(root),
        image_size=(32, 32),
        epochs=[1, 1, 1],
        samples=[10, 10, 10],
        validation=5,
        progress=False,
        download=False,
    )
    assert net.spec.input_size == (32, 32)
    assert net.test_metrics["n"] == 20 and [h["layer"] for h in hist] == ["S3"]
    three = tmp_path / "three"
    _image_folder(three, classes=("a", "b", "c"))
    with pytest.raises(
        ValueError, match=r"has 3 classes \(a, b, c\) but network 'mozafari2018' decides among 10"
    ):
        train("mozafari2018", "folder", str(three), epochs=[1, 1, 1], progress=False, download=False)


def test_cli_trains_on_an_image_folder(tmp_path):
    root = tmp_path / "imgs"
    _image_folder(root, classes=tuple(f"c{i}" for i in range(10)), per_class=2, size=(24, 24))
    out = subprocess.run(
        [sys.executable, "-m", "fastspike", "train", "--dataset", "folder", "--root", str(root)]
        + ["--image-size", "28", "28", "--preset", "tiny", "--samples", "10", "10", "10"]
        + ["--validation", "5", "--no-progress", "--checkpoint-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "dataset=folder" in out.stdout
    ev = subprocess.run(
        [sys.executable, "-m", "fastspike", "eval", "--checkpoint", str(tmp_path / "run" / "best.pt")]
        + ["--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ev.returncode == 0, ev.stderr
    assert "on folder (20 test images)" in ev.stdout
