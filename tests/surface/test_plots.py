"""fastspike.plots: every figure renders to a non-blank PNG of the expected size."""

import io
import os
import struct
import sys

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("matplotlib")

import matplotlib.image  # noqa: E402

from fastspike import plots  # noqa: E402
from fastspike.encoding import dog_filters  # noqa: E402
from fastspike.models import Kheradpisheh2018, Mozafari2018  # noqa: E402

# what save_all writes, in its order
ALL_IMAGES = (
    "s1_features.png",
    "s2_features.png",
    "spike_maps.png",
    "spike_raster.png",
    "weights.png",
    "accuracy.png",
    "confusion.png",
)


@pytest.fixture(scope="module")
def tiny(mnist_root, tmp_path_factory):
    """A tiny trained Mozafari 2018 (1000 samples per phase, one epoch each) and its history."""
    from fastspike.api import train_mnist

    ckpt = tmp_path_factory.mktemp("ckpt")
    net, hist = train_mnist(
        mnist_root,
        samples=(1000, 1000, 1000),
        epochs=(1, 1, 1),
        test_samples=200,
        validation=200,
        progress=False,
        download=False,
        checkpoint_dir=str(ckpt),
    )
    return net, hist


@pytest.fixture(scope="module")
def image(mnist):
    return mnist[1].images[0]


def png(fig, dpi=50):
    """Render ``fig``; check the PNG's size against the figure's and that it is not uniform."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    ew, eh = fig.get_size_inches() * dpi
    assert abs(w - ew) <= 1 and abs(h - eh) <= 1, ((w, h), (ew, eh))
    pixels = matplotlib.image.imread(io.BytesIO(data))
    assert pixels.shape[:2] == (h, w)
    assert float(pixels[..., :3].std()) > 0
    return pixels


# ----------------------------------------------------------------------------- feature reconstructions
def test_s1_filters_compose_dog_and_weights():
    """Correlating with the effective filter == the DoG correlation then the S1 correlation."""
    net = Mozafari2018(seed=1)
    e = plots.s1_filters(net)
    assert e.shape == (30, 17, 17)
    dog = dog_filters(net.spec.encoder.dog)
    dog = dog / dog.flatten(1).abs().amax(1).view(-1, 1, 1, 1)
    x = torch.rand(2, 1, 40, 40, generator=torch.Generator().manual_seed(0))
    two = F.conv2d(F.conv2d(x, dog), net.spiking_layers[0].weight)
    one = F.conv2d(x, e.unsqueeze(1))
    torch.testing.assert_close(one, two, rtol=1e-4, atol=1e-4)
    raw = plots.s1_filters(net, normalise_dog=False)
    two = F.conv2d(F.conv2d(x, dog_filters(net.spec.encoder.dog)), net.spiking_layers[0].weight)
    torch.testing.assert_close(F.conv2d(x, raw.unsqueeze(1)), two, rtol=1e-4, atol=1e-3)


def test_s2_filters_place_s1_images_at_pooled_positions():
    """One S2 tap (c, i, j) = S1 image c averaged over the 2x2 pooled cells at (2i, 2j)."""
    net = Mozafari2018(seed=1)
    w = net.spiking_layers[1].weight
    w.zero_()
    w[0, 3, 1, 2] = 1.0
    e1 = plots.s1_filters(net)
    e2 = plots.s2_filters(net, 2)
    assert e2.shape == (2, 22, 22)  # (3 - 1) * 2 + 2 + 17 - 1
    want = torch.zeros(22, 22)
    for a in range(2):
        for b in range(2):
            want[2 + a : 2 + a + 17, 4 + b : 4 + b + 17] += e1[3] / 4
    torch.testing.assert_close(e2[0], want)
    assert float(e2[1].abs().max()) == 0.0
    assert plots.s2_filters(Kheradpisheh2018(seed=2), None).shape == (150, 14, 14)


# ----------------------------------------------------------------------------- figures
def test_feature_figures(tiny):
    net, _ = tiny
    png(plots.s1_features(net))
    fig = plots.s2_features(net)
    assert len([ax for ax in fig.axes if ax.images]) == 64
    png(fig)


def test_spike_figures(tiny, image):
    net, _ = tiny
    png(plots.spike_maps(net, image))
    png(plots.spike_raster(net, image, max_neurons=500))
    with pytest.raises(ValueError, match="one image"):
        plots.spike_maps(net, image[None, None].expand(2, 1, 28, 28))
    with pytest.raises(TypeError, match="uint8"):
        plots.spike_raster(net, image.float())


def test_weight_and_training_figures(tiny):
    net, hist = tiny
    png(plots.weight_histograms(net))
    png(plots.accuracy_curves(hist))
    fake = [
        {
            "layer": "S3",
            "epoch": e,
            "train": {"correct": 0.5 + e / 10, "wrong": 0.1, "silent": 0.0},
            "test": {"correct": 0.4 + e / 10, "wrong": 0.1, "silent": 0.05},
        }
        for e in (1, 2, 3)
    ] + [{"layer": "readout", "epoch": 1, "test": {"correct": 0.9, "wrong": 0.1, "silent": 0.0}}]
    fig = plots.accuracy_curves(fake)
    assert len(fig.axes) == 2
    png(fig)
    with pytest.raises(ValueError, match="history"):
        plots.accuracy_curves([])


def test_confusion_matrix():
    g = torch.Generator().manual_seed(0)
    m = torch.randint(0, 50, (10, 11), generator=g) + 200 * torch.eye(10, 11, dtype=torch.long)
    png(plots.confusion_matrix(m))
    png(plots.confusion_matrix(m[:, :10].numpy(), classes=[f"c{i}" for i in range(10)]))
    png(plots.confusion_matrix([[3.5, 1.0], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="matrix"):
        plots.confusion_matrix(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="classes"):
        plots.confusion_matrix(torch.zeros(3, 3), classes=["a", "b"])


def test_save_all(tiny, image, tmp_path):
    net, hist = tiny
    matrix = torch.randint(0, 20, (10, 11), generator=torch.Generator().manual_seed(1))
    paths = plots.save_all(net, str(tmp_path / "all"), history=hist, image=image, matrix=matrix)
    names = [os.path.basename(p) for p in paths]
    assert names == list(ALL_IMAGES)
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(p)[..., :3].std() > 0
    # no history, matrix or image: the default test pattern, and no accuracy / confusion
    names = [os.path.basename(p) for p in plots.save_all(net, str(tmp_path / "few"))]
    assert names == [
        "s1_features.png",
        "s2_features.png",
        "spike_maps.png",
        "spike_raster.png",
        "weights.png",
    ]


def test_kheradpisheh_untrained(image):
    net = Kheradpisheh2018(seed=7)
    png(plots.s1_features(net))
    png(plots.s2_features(net))
    png(plots.weight_histograms(net))
    png(plots.spike_maps(net, image))
    png(plots.spike_raster(net, image))


def test_missing_matplotlib(monkeypatch, tmp_path, image):
    net = Kheradpisheh2018(seed=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    calls = [
        lambda: plots.s1_features(net),
        lambda: plots.s2_features(net),
        lambda: plots.spike_maps(net, image),
        lambda: plots.spike_raster(net, image),
        lambda: plots.weight_histograms(net),
        lambda: plots.accuracy_curves([{"layer": "S3", "epoch": 1}]),
        lambda: plots.confusion_matrix(torch.eye(3)),
        lambda: plots.save_all(net, str(tmp_path / "none")),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"plots need matplotlib: pip install matplotlib"):
            call()
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_cli_plot_writes_the_images(mnist_root, tmp_path, capsys):
    from fastspike.__main__ import main
    from fastspike.api import train

    ck = tmp_path / "run"
    train(
        "mozafari2018",
        "mnist",
        mnist_root,
        samples=[300, 300, 300],
        epochs=[1, 1, 1],
        test_samples=100,
        validation=100,
        checkpoint_dir=str(ck),
        progress=False,
        download=False,
    )
    assert main(["plot", "--checkpoint", str(ck / "best.pt"), "--root", mnist_root, "--image", "3"]) == 0
    names = sorted(p.name for p in (ck / "plots").iterdir())
    assert names == sorted(ALL_IMAGES)
    assert all((ck / "plots" / n).stat().st_size > 10_000 for n in names)
    assert "wrote 7 images" in capsys.readouterr().out
    assert main(["plot", "--checkpoint", str(ck / "best.pt"), "--root", mnist_root, "--image", "10000"]) == 2


@pytest.mark.parametrize("name", ["majority2024", "inception2024"])
def test_zoo_networks_plot(name, image, tmp_path):
    """Blocks of heads and of branches: one weight histogram per conv, spike maps of the block."""
    from fastspike.network import Network
    from fastspike.registry import get_spec

    net = Network(get_spec(name), seed=0)
    png(plots.weight_histograms(net))
    assert len(plots.weight_histograms(net).axes) == len(net.named_convs())
    paths = plots.save_all(net, str(tmp_path), image=image)
    assert [os.path.basename(p) for p in paths] == list(ALL_IMAGES[:5])
