"""Philox-4x32 (known answers), the counter-based Poisson encoder and packed spike trains."""

import math

import numpy as np
import pytest
import torch

from fastspike.spiketrain import PackedSpikes, pack_spikes, philox4x32, poisson_encode

# Philox-4x32 known-answer vectors: (rounds, counter words 0-3, key words 0-1, expected output words 0-3).
KAT = [
    # Known-answer tests "from the original Random123 distribution" as quoted by one of its authors in
    # github.com/johnsalmon/cpp-counter-based-engine, tests.cpp (dokat<philox4x32_prf<10>, 2>).
    (10, "00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    (10, "ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    (10, "243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"),
    # github.com/girving/random123-manual, examples/kat_vectors ("philox4x32 R CTR KEY EXPECTED" lines).
    (10, "00000001 00000000 00000000 00000000", "00000001 00000000", "ac08141b dfc5ccbe 79c07a47 a7f66093"),
    (10, "00000000 00000000 00000000 80000000", "00000000 00000001", "0436a39b 31be9efa 6abd0c76 e7a68f83"),
    (10, "243f6a88 85a308d3 13198a2e 03707344", "00000001 00000000", "38527b8f fad9a48c 20e675c0 f2fea26a"),
    (10, "452821e6 38d01377 be5466cf 34e90c6c", "00000000 80000000", "94ca5566 14924b2f 28214292 59faeaee"),
    (7, "00000001 00000000 00000000 00000000", "00000001 00000000", "6b3257c3 820c5486 4de08b66 8771d665"),
    (7, "a4093822 299f31d0 082efa98 ec4e6c89", "00000000 ffffffff", "55a400f8 90e13684 1ad7c6c6 fdfdd335"),
]


def words(hexes: str) -> torch.Tensor:
    return torch.tensor([int(h, 16) for h in hexes.split()], dtype=torch.int64)


def philox_ref(ctr, key, rounds=10):
    """Plain Python-int Philox-4x32 (independent of the limb arithmetic under test)."""
    c, (k0, k1) = list(ctr), key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


def expected_spikes(x, T, r_max, dt, seed, sample_offset=0):
    """The documented rule, spelled out element by element: float32 p, integer threshold,
    Philox counter (e, t // 4, g_lo, g_hi), key (seed_lo, seed_hi), word t % 4."""
    B = x.shape[0]
    flat = x.reshape(B, -1).double().numpy()
    out = torch.zeros(B, T, flat.shape[1], dtype=torch.uint8)
    key = (seed & 0xFFFFFFFF, seed >> 32)
    for b in range(B):
        g = sample_offset + b
        for e in range(flat.shape[1]):
            p = min(np.float32(1.0), np.float32(flat[b, e]) * np.float32(r_max) * np.float32(dt))
            thr = math.floor(float(p) * 2**32)
            for t in range(T):
                u = philox_ref((e, t // 4, g & 0xFFFFFFFF, g >> 32), key)[t % 4]
                out[b, t, e] = int(u < thr)
    return out.view(B, T, *x.shape[1:])


@pytest.mark.parametrize("rounds,ctr,key,expect", KAT)
def test_philox_known_answers(rounds, ctr, key, expect):
    got = philox4x32(words(ctr), words(key), rounds=rounds)
    assert got.dtype == torch.int64 and got.tolist() == words(expect).tolist()


def test_philox_matches_python_reference_and_broadcasts():
    g = torch.Generator().manual_seed(1)
    ctr = torch.randint(0, 2**32, (64, 4), generator=g, dtype=torch.int64)
    ctr[:4] = torch.tensor([[0xFFFFFFFF] * 4, [0] * 4, [0x80000000, 1, 0xFFFF, 0x10000], [1, 2, 3, 4]])
    key = torch.randint(0, 2**32, (64, 2), generator=g, dtype=torch.int64)
    for rounds in (0, 1, 7, 10, 13):
        got = philox4x32(ctr, key, rounds)
        for i in range(64):
            assert got[i].tolist() == philox_ref(ctr[i].tolist(), key[i].tolist(), rounds), (rounds, i)
    # one key for many counters, and counters [3, 1, 4] x keys [5, 2] -> [3, 5, 4]
    one = philox4x32(ctr, key[7])
    assert torch.equal(one, philox4x32(ctr, key[7].expand(64, 2)))
    grid = philox4x32(ctr[:3, None], key[:5])
    assert grid.shape == (3, 5, 4) and grid[2, 4].tolist() == philox_ref(ctr[2].tolist(), key[4].tolist())


@pytest.mark.parametrize(
    "counter,key,rounds,match",
    [
        (torch.zeros(4), torch.zeros(2, dtype=torch.int64), 10, "counter: expected an integer tensor"),
        (
            torch.zeros(3, dtype=torch.int64),
            torch.zeros(2, dtype=torch.int64),
            10,
            r"counter: expected shape",
        ),
        (torch.tensor([0, 0, 0, 2**32]), torch.zeros(2, dtype=torch.int64), 10, r"counter: expected values"),
        (torch.zeros(4, dtype=torch.int64), torch.tensor([-1, 0]), 10, r"key: expected values"),
        (torch.zeros(4, dtype=torch.int64), torch.zeros(4, dtype=torch.int64), 10, r"key: expected shape"),
        (torch.zeros(4, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), -1, "rounds: expected"),
        ([0, 0, 0, 0], torch.zeros(2, dtype=torch.int64), 10, "counter: expected an integer tensor"),
    ],
)
def test_philox_bad_inputs(counter, key, rounds, match):
    with pytest.raises(ValueError, match=match):
        philox4x32(counter, key, rounds)


def test_poisson_follows_the_documented_layout():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 2, 3, generator=g) * 2.0
    x[0, 0, 0], x[1, 1, 2] = 0.0, 5.0  # p = 0 and p = 1 (clamped)
    # g = sample_offset + b crosses 2**32 (carry into the counter's high word); the seed has a high word
    seed, offset = 2**40 + 12345, 2**32 - 2
    s = poisson_encode(x, 9, r_max=0.35, dt=0.9, seed=seed, sample_offset=offset)
    assert s.dtype == torch.uint8 and s.shape == (3, 9, 2, 3) and s.is_contiguous()
    assert torch.equal(s, expected_spikes(x, 9, 0.35, 0.9, seed, offset))


def test_poisson_batch_invariance():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(10, 4, 7, generator=g)
    kw = dict(T=13, r_max=0.8, dt=1.0, seed=99)
    full = poisson_encode(x, **kw)
    split = torch.cat([poisson_encode(x[:3], **kw), poisson_encode(x[3:], sample_offset=3, **kw)])
    single = torch.cat([poisson_encode(x[i : i + 1], sample_offset=i, **kw) for i in range(10)])
    assert torch.equal(full, split) and torch.equal(full, single)
    # a data set's global indices: batch [5, 10) of a run is the same whichever batch holds it
    assert torch.equal(
        poisson_encode(x[5:], sample_offset=1000 + 5, **kw)[2], poisson_encode(x, sample_offset=1000, **kw)[7]
    )
    # the same image at another global index gets another train
    assert not torch.equal(poisson_encode(x[:1], sample_offset=1, **kw), full[:1])


def test_poisson_chunking_and_T_prefix_do_not_change_the_result():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(5, 37, generator=g)
    kw = dict(r_max=0.6, dt=1.0, seed=5, sample_offset=17)
    ref = poisson_encode(x, 22, **kw)
    for chunk in (1, 3, 37, 40, 200, 1 << 20):
        assert torch.equal(poisson_encode(x, 22, chunk=chunk, **kw), ref), chunk
    for T in (1, 3, 4, 5, 8):
        assert torch.equal(poisson_encode(x, T, chunk=7, **kw), ref[:, :T]), T


def test_poisson_p_zero_never_p_one_always():
    x = torch.tensor([[0.0, 1e-30, 0.5, 1.0, 2.0, 1e30]])
    s = poisson_encode(x, 40, r_max=1.0, dt=1.0, seed=0)
    assert s[0, :, 0].sum() == 0 and s[0, :, 1].sum() == 0  # p = 0, and p * 2**32 < 1
    assert bool((s[0, :, 3:] == 1).all())  # p = min(1, x) = 1
    assert 0 < int(s[0, :, 2].sum()) < 40
    assert poisson_encode(x, 40, r_max=0.0, dt=1.0, seed=0).sum() == 0


def test_poisson_empirical_rate_and_step_independence():
    # n = 32 x 6250 = 200,000 draws per p: |rate - p| <= 5 sigma, sigma = sqrt(p (1 - p) / n)
    # (seeded, so deterministic; a fair sampler fails a 5-sigma check with probability ~6e-7)
    ps = [0.001, 0.05, 0.25, 0.5, 0.8, 0.999]
    x = torch.tensor(ps).repeat_interleave(6250).view(1, -1)
    T = 32
    s = poisson_encode(x, T, r_max=1.0, dt=1.0, seed=2024).view(T, len(ps), 6250).double()
    n = T * 6250
    for i, p in enumerate(ps):
        sigma = math.sqrt(p * (1 - p) / n)
        rate = float(s[:, i].mean())
        assert abs(rate - p) <= 5 * sigma, (p, rate, sigma)
        # consecutive steps (same Philox call for t % 4 != 3, the next call otherwise) are independent
        both = float((s[1:, i] * s[:-1, i]).mean())
        n2 = (T - 1) * 6250
        assert abs(both - p * p) <= 5 * math.sqrt(p * p * (1 - p * p) / n2) + 1e-12, (p, both)
        # and each step on its own has the right rate (4-word layout: every word position is fair)
        per_word = s[:, i].view(T // 4, 4, 6250).mean((0, 2))
        assert float((per_word - p).abs().max()) <= 5 * math.sqrt(p * (1 - p) / (n / 4)), (p, per_word)


def test_poisson_seeds():
    x = torch.full((4, 100), 0.5)
    a = poisson_encode(x, 20, r_max=1.0, dt=1.0, seed=1)
    assert torch.equal(a, poisson_encode(x, 20, r_max=1.0, dt=1.0, seed=1))
    for other in (2, 2**32 + 1, 2**64 - 1):
        b = poisson_encode(x, 20, r_max=1.0, dt=1.0, seed=other)
        differ = float((a != b).double().mean())
        assert abs(differ - 0.5) < 0.03, (other, differ)  # independent trains differ with probability 2p(1-p)


def test_poisson_elements_are_independent_of_each_other():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(3, 4, 4, generator=g) * 0.5
    a = poisson_encode(x, 30, r_max=1.0, dt=1.0, seed=8)
    y = x.clone()
    y.view(3, -1)[:, 5] = 0.95
    b = poisson_encode(y, 30, r_max=1.0, dt=1.0, seed=8)
    changed = (a != b).view(3, 30, 16).any(1)
    assert bool(changed[:, 5].all()) and not bool(changed[:, torch.arange(16) != 5].any())


def test_poisson_input_dtypes_and_shapes():
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, 256, (2, 1, 5, 5), generator=g).float() / 256  # exact in fp16 and fp64
    ref = poisson_encode(x, 6, r_max=0.7, dt=1.0, seed=3)
    for dt in (torch.float64, torch.float16, torch.bfloat16):
        assert torch.equal(poisson_encode(x.to(dt), 6, r_max=0.7, dt=1.0, seed=3), ref), dt
    assert poisson_encode(x[:, 0, 0, 0], 6, r_max=0.7, dt=1.0, seed=3).shape == (2, 6)  # x [B]
    assert poisson_encode(x[:0], 6, r_max=0.7, dt=1.0, seed=3).shape == (0, 6, 1, 5, 5)
    assert poisson_encode(x.transpose(2, 3), 6, r_max=0.7, dt=1.0, seed=3).shape == (2, 6, 1, 5, 5)


def test_poisson_mnist_sized_batch():
    # 784 pixels x 350 steps x 64 images (~17.6 M draws), 100 Hz max rate, 1 ms steps
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(8))
    s = poisson_encode(x, 350, r_max=100.0, dt=1e-3, seed=11)
    assert s.shape == (64, 350, 1, 28, 28)
    mean_p = float((x * 100.0 * 1e-3).mean())
    assert abs(float(s.double().mean()) - mean_p) < 1e-3
    assert torch.equal(
        s[40:41], poisson_encode(x[40:41], 350, r_max=100.0, dt=1e-3, seed=11, sample_offset=40)
    )


def _x():
    return torch.ones(2, 3)


def _with(i, v):
    x = _x()
    x.view(-1)[i] = v
    return x


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(x=torch.ones(2, 3, dtype=torch.int64)), "x: expected a floating-point tensor"),
        (dict(x=torch.ones(2, 3, dtype=torch.uint8)), "x: expected a floating-point tensor"),
        (dict(x=[[1.0, 2.0]]), "x: expected a floating-point tensor"),
        (dict(x=torch.tensor(1.0)), r"x: expected shape \[B, ...\]"),
        (dict(x=_with(4, float("nan"))), "x: expected finite values"),
        (dict(x=_with(0, float("inf"))), "x: expected finite values"),
        (dict(x=_with(1, float("-inf"))), "x: expected finite values"),
        (dict(x=torch.full((1, 2), 1e300, dtype=torch.float64)), "x: expected finite values"),
        (dict(x=_with(2, -0.5)), "x: expected intensities >= 0"),
        (dict(T=0), "T: expected a positive int"),
        (dict(T=-3), "T: expected a positive int"),
        (dict(T=4.0), "T: expected a positive int"),
        (dict(T=True), "T: expected a positive int"),
        (dict(dt=0.0), "dt: expected a finite number > 0"),
        (dict(dt=-1e-3), "dt: expected a finite number > 0"),
        (dict(dt=float("inf")), "dt: expected a finite number > 0"),
        (dict(dt=float("nan")), "dt: expected a finite number > 0"),
        (dict(dt="1"), "dt: expected a finite number > 0"),
        (dict(dt=1e-50), "dt: expected a value > 0 that stays finite and non-zero in float32"),
        (dict(r_max=-1.0), "r_max: expected a finite number >= 0"),
        (dict(r_max=float("inf")), "r_max: expected a finite number >= 0"),
        (dict(r_max=float("nan")), "r_max: expected a finite number >= 0"),
        (dict(r_max=None), "r_max: expected a finite number >= 0"),
        (dict(r_max=1e300), "r_max: expected a value that stays finite in float32"),
        (dict(seed=-1), r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(seed=1.0), r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(seed=2**64), r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(seed=None), r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(sample_offset=-1), "sample_offset: expected an int >= 0"),
        (dict(sample_offset=2.0), "sample_offset: expected an int >= 0"),
        (dict(sample_offset=2**64 - 1), r"sample_offset: expected sample_offset \+ B <= 2\*\*64"),
        (dict(chunk=0), "chunk: expected a positive int"),
    ],
)
def test_poisson_bad_inputs(kwargs, match):
    args = dict(x=_x(), T=5, r_max=1.0, dt=1.0, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        poisson_encode(**args)


def test_poisson_accepts_edge_arguments():
    x = _x()
    assert poisson_encode(x, 5, r_max=0, dt=1, seed=2**64 - 1, sample_offset=2**64 - 2).shape == (2, 5, 3)
    assert poisson_encode(x, np.int64(5), r_max=np.float32(1.0), dt=1.0, seed=np.uint64(3)).shape == (2, 5, 3)


@pytest.mark.cuda
def test_cuda_equals_cpu():
    g = torch.Generator().manual_seed(9)
    ctr = torch.randint(0, 2**32, (1000, 4), generator=g, dtype=torch.int64)
    key = torch.randint(0, 2**32, (1000, 2), generator=g, dtype=torch.int64)
    assert torch.equal(philox4x32(ctr.cuda(), key.cuda()).cpu(), philox4x32(ctr, key))
    for rounds, c, k, e in KAT:
        assert philox4x32(words(c).cuda(), words(k).cuda(), rounds).is_cuda
        if rounds == 10:
            assert philox4x32(words(c).cuda(), words(k).cuda()).tolist() == words(e).tolist()
    x = torch.rand(20, 1, 28, 28, generator=g) * 1.3
    x[0, 0, 0, :5] = torch.tensor([0.0, 1e-30, 0.5, 1.0 / 0.7, 1e30])
    kw = dict(r_max=0.7, dt=1.0, seed=2**33 + 7, sample_offset=2**32 - 5)
    cpu = poisson_encode(x, 37, **kw)
    gpu = poisson_encode(x.cuda(), 37, **kw)
    assert gpu.is_cuda and torch.equal(gpu.cpu(), cpu)
    assert torch.equal(poisson_encode(x.cuda().double(), 37, chunk=1000, **kw).cpu(), cpu)
    packed = pack_spikes(gpu)
    assert packed.bits.is_cuda and torch.equal(packed.bits.cpu(), pack_spikes(cpu).bits)
    assert torch.equal(packed.count().cpu(), cpu.sum(1, dtype=torch.int32))


# ---- packed spike trains ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (8,), (16,), (1,), (), (2, 3, 7)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool])
def test_pack_round_trip_and_count(shape, dtype):
    g = torch.Generator().manual_seed(10)
    dense = (torch.rand(4, 11, *shape, generator=g) < 0.3).to(dtype)
    p = pack_spikes(dense)
    N = math.prod(shape)
    assert p.bits.dtype == torch.uint8 and p.bits.shape == (4, 11, (N + 7) // 8) and p.shape == shape
    assert p.bytes_per_sample == 11 * ((N + 7) // 8) and p.T == 11 and p.batch_size == 4
    un = p.unpack()
    assert un.dtype == torch.uint8 and un.shape == dense.shape and torch.equal(un, dense.to(torch.uint8))
    c = p.count()
    assert c.dtype == torch.int32 and torch.equal(c, dense.to(torch.int32).sum(1))
    assert torch.equal(PackedSpikes(p.bits, list(shape)).unpack(), un)


def test_pack_bit_order_and_memory():
    dense = torch.zeros(1, 2, 3, 5, dtype=torch.uint8)  # N = 15 -> 2 bytes
    dense.view(1, 2, 15)[0, 0, 9] = 1  # neuron 9 -> byte 1, bit 1
    dense.view(1, 2, 15)[0, 1, 0] = 1  # neuron 0 -> byte 0, bit 0
    dense.view(1, 2, 15)[0, 1, 14] = 1  # neuron 14 -> byte 1, bit 6
    assert pack_spikes(dense).bits.tolist() == [[[0, 2], [1, 64]]]
    mnist = pack_spikes(torch.zeros(2, 350, 1, 28, 28, dtype=torch.bool))
    assert mnist.bytes_per_sample == 34_300 and mnist.bits[0].numel() == 34_300  # vs 274,400 dense uint8


@pytest.mark.parametrize(
    "dense,match",
    [
        (torch.zeros(2, 3, 4), "dense: expected a uint8 or bool tensor"),
        (torch.zeros(2, 3, 4, dtype=torch.int64), "dense: expected a uint8 or bool tensor"),
        ([[0, 1]], "dense: expected a uint8 or bool tensor"),
        (torch.zeros(3, dtype=torch.uint8), r"dense: expected shape \[B, T, ...\]"),
        (torch.tensor([[[0, 1, 2]]], dtype=torch.uint8), "dense: expected values 0 or 1"),
        (torch.tensor([[[0, 255]]], dtype=torch.uint8), "dense: expected values 0 or 1"),
    ],
)
def test_pack_bad_inputs(dense, match):
    with pytest.raises(ValueError, match=match):
        pack_spikes(dense)


@pytest.mark.parametrize(
    "bits,shape,match",
    [
        (torch.zeros(1, 2, 3, dtype=torch.uint8), (3, 5), r"bits: expected last dim ceil\(N/8\) = 2"),
        (torch.zeros(1, 2, 2, dtype=torch.int64), (3, 5), "bits: expected a uint8 tensor"),
        (torch.zeros(2, 2, dtype=torch.uint8), (3, 5), "bits: expected a uint8 tensor"),
        (torch.tensor([[[0, 128]]], dtype=torch.uint8), (3, 5), "bits: the 1 unused high bits"),
        (torch.zeros(1, 2, 2, dtype=torch.uint8), (3, -5), "shape: expected non-negative sizes"),
        (torch.zeros(1, 2, 2, dtype=torch.uint8), ("a", 5), "shape: expected a tuple of ints"),
    ],
)
def test_packed_spikes_validation(bits, shape, match):
    with pytest.raises(ValueError, match=match):
        PackedSpikes(bits, shape)
