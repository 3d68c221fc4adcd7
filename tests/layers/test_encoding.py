"""Batched encoding (fastspike.encoding) vs the per-image reference on real MNIST."""

import pytest
import torch

from fastspike import reference as ref
from fastspike.encoding import KHERADPISHEH_DOG, MOZAFARI_DOG, Encoder, dog_filters, rank_order


@pytest.mark.parametrize("specs", [MOZAFARI_DOG, KHERADPISHEH_DOG])
def test_dog_bank_matches_reference_and_is_normalised(specs):
    bank = dog_filters(specs)
    assert torch.equal(bank, ref.dog_bank(list(specs)))
    for n, (size, s1, s2) in enumerate(specs):
        S = bank.shape[-1]
        o = (S - size) // 2
        k = bank[n, 0, o : o + size, o : o + size].double()
        assert abs(float(k.sum())) < 1e-5 and float(k.max()) == pytest.approx(1.0)
        # ON-centre when sigma1 < sigma2
        assert (float(k[size // 2, size // 2]) > 0) == (s1 < s2)


@pytest.mark.parametrize("specs,padding", [(MOZAFARI_DOG, 6), (KHERADPISHEH_DOG, 3)])
def test_encoder_matches_reference_on_real_mnist(mnist, specs, padding):
    train, _ = mnist
    images = train.images[:300]
    enc = Encoder(specs=specs, padding=padding)
    batched = enc(images)
    assert batched.dtype == torch.uint8 and batched.shape == (300, len(specs), 28, 28)
    for i in range(images.shape[0]):
        expect = ref.encode_image(images[i], specs=list(specs), padding=padding)
        assert torch.equal(batched[i], expect), f"image {i}"
    # batch-size independence, and the CPU chunking (300 = 18 chunks of 16 + 12) changes nothing
    assert torch.equal(Encoder(specs=specs, padding=padding)(images[:7]), batched[:7])
    assert torch.equal(Encoder(specs=specs, padding=padding, cpu_chunk=1000)(images), batched)


def test_rank_order_bins_and_edges():
    T = 15
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 6, 6, generator=g) * (torch.rand(3, 2, 6, 6, generator=g) > 0.3)
    t = rank_order(x, T)
    for b in range(3):
        n = int((x[b] > 0).sum())
        counts = torch.bincount(t[b].flatten().long(), minlength=T + 1)
        assert bool((counts[:T] == n // T).all())
        assert torch.equal(t[b], ref.rank_order_times(x[b], T))
        # earlier bins hold larger values
        assert float(x[b][t[b] == 0].min()) >= float(x[b][t[b] == 1].max())
    # all zero -> never; fewer non-zeros than T -> one per bin (clean) / error (compat)
    z = torch.zeros(1, 1, 4, 4)
    assert bool((rank_order(z, T) == T).all())
    few = z.clone()
    few.view(-1)[:3] = torch.tensor([3.0, 1.0, 2.0])
    assert rank_order(few, T).view(-1)[:3].tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="fewer than T"):
        rank_order(few, T, mode="compat")


def test_rank_order_ties():
    T = 2
    x = torch.tensor([[5.0, 5.0, 5.0, 1.0]])  # n = 4, b = 2: a tie straddles the bin boundary
    assert rank_order(x, T).tolist() == [[0, 0, 1, 1]]  # flat index order
    assert rank_order(x, T, tie_consistent=True).tolist() == [[0, 0, 0, 1]]
    assert torch.equal(
        rank_order(x, T, tie_consistent=True)[0], ref.rank_order_times(x[0], T, tie_consistent=True)
    )


def test_encoder_bad_input():
    with pytest.raises(TypeError, match="images: expected uint8"):
        Encoder()(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="images: expected shape"):
        Encoder()(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="T: expected"):
        rank_order(torch.ones(1, 4), 0)


@pytest.mark.parametrize(
    "images,exc,match",
    [
        (torch.tensor(3, dtype=torch.uint8), ValueError, r"images: expected shape \[B, H, W\]"),
        (torch.zeros(28, dtype=torch.uint8), ValueError, r"images: expected shape \[B, H, W\]"),
        (torch.zeros(2, 0, 0, dtype=torch.uint8), ValueError, "images: expected images of at least 1x1"),
        (torch.zeros(2, 28, 0, dtype=torch.uint8), ValueError, "images: expected images of at least 1x1"),
        ([[0, 1], [2, 3]], TypeError, "images: expected a uint8 tensor"),
        (None, TypeError, "images: expected a uint8 tensor"),
        (torch.zeros(2, 28, 28, dtype=torch.int64), TypeError, "images: expected uint8 pixels"),
    ],
)
def test_encoder_rejects_bad_images(images, exc, match):
    with pytest.raises(exc, match=match):
        Encoder()(images)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"norm_radius": -1}, "Encoder.norm_radius: expected an integer in"),
        ({"padding": -3}, "Encoder.padding: expected an integer in"),
        ({"padding": 2.5}, "Encoder.padding: expected an integer in"),
        ({"cpu_chunk": 0}, "Encoder.cpu_chunk: expected a positive integer"),
        ({"threshold": float("nan")}, "Encoder.threshold: expected a finite number"),
        ({"threshold": -1.0}, "Encoder.threshold: expected a finite number"),
        ({"T": 0}, r"Encoder.T: expected 1 to 255"),
        ({"T": 256}, r"Encoder.T: expected 1 to 255"),
        ({"mode": "fast"}, "Encoder.mode: expected 'clean' or 'compat'"),
        ({"specs": ()}, "Encoder.specs: expected at least one"),
        ({"specs": ((4, 1.0, 2.0),)}, r"Encoder.specs\[0\]: expected \(odd size"),
        ({"specs": ((3, 0.0, 2.0),)}, r"Encoder.specs\[0\]: expected \(odd size"),
        ({"specs": ((3, 1.0),)}, r"Encoder.specs\[0\]: expected \(odd size"),
        ({"specs": 5}, "Encoder.specs: expected a sequence"),
    ],
)
def test_encoder_rejects_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        Encoder(**kw)


def test_encoder_empty_batch_and_one_pixel():
    enc = Encoder()
    out = enc(torch.zeros(0, 28, 28, dtype=torch.uint8))
    assert out.shape == (0, 6, 28, 28) and out.dtype == torch.uint8
    one = enc(torch.full((1, 1, 1), 200, dtype=torch.uint8))
    assert one.shape == (1, 6, 1, 1)
