import os
import shutil

import pytest
import torch

import fastspike  # noqa: F401  (loads the compiled library)

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_DATA = os.environ.get("FASTSPIKE_DATA", os.path.join(HERE, "..", "..", "shared", "data"))

HAS_CUDA = torch.cuda.is_available() and fastspike.WITH_CUDA
cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and a CUDA build of fastspike")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU and a CUDA build of fastspike"))


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory):
    """A temporary copy of the real MNIST IDX files (never downloaded)."""
    src = os.path.join(SHARED_DATA, "MNIST", "raw")
    if not os.path.isdir(src):
        pytest.skip(f"real MNIST not found at {src} (set FASTSPIKE_DATA)")
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(src, root / "MNIST" / "raw")
    return str(root)


@pytest.fixture(scope="session")
def mnist(mnist_root):
    from fastspike.data import load_dataset

    return load_dataset("mnist", mnist_root, download=False)


def random_times(shape, T, gen, p_never=0.3, dtype=torch.uint8):
    """Random first-spike times with a fraction of "never" (T)."""
    t = torch.randint(0, T, shape, generator=gen)
    never = torch.rand(shape, generator=gen) < p_never
    return torch.where(never, torch.full_like(t, T), t).to(dtype)


def dyadic_weights(shape, gen, denom=64):
    """Non-negative weights on a 1/denom grid: every sum is exact in fp32 in any
    order, so kernels and the reference must agree bit for bit, and potentials
    land exactly on integer thresholds (testing the strict comparison)."""
    return torch.randint(0, denom + 1, shape, generator=gen).float() / denom
