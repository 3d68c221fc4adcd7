"""Build fastspike's compiled operators with torch.utils.cpp_extension (ninja).

Switches (environment variables):
  FORCE_CPU=1             build the C++ CPU kernels only
  FORCE_CUDA=1            build the CUDA kernels even when no GPU is visible
  TORCH_CUDA_ARCH_LIST    CUDA architectures (default "8.0;9.0+PTX": A100, H100/H200)
  CUDA_HOME               CUDA toolkit root (the folder holding bin/nvcc and lib64/)
  MAX_JOBS                parallel compile jobs

Build against the torch that will run it: pip install --no-build-isolation .
Sources are globbed from csrc/ exactly as CMakeLists.txt does, so the two
builds cannot drift.
"""

import glob
import os
import shutil
import sys

from setuptools import setup


def _guess_cuda_home() -> None:
    """Set CUDA_HOME when nvcc is reached through a wrapper outside the toolkit.

    torch.utils.cpp_extension derives the toolkit from `which nvcc`, which is
    wrong when nvcc is a wrapper script in another bin folder.
    """
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    nvcc = shutil.which("nvcc")
    if nvcc and os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(nvcc)), "lib64")):
        return
    for root in ["/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]:
        if os.path.exists(os.path.join(root, "bin", "nvcc")):
            os.environ["CUDA_HOME"] = root
            return


_guess_cuda_home()

import torch  # noqa: E402
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def _sources(pattern: str) -> list[str]:
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def _use_cuda() -> bool:
    if _flag("FORCE_CPU"):
        return False
    if _flag("FORCE_CUDA"):
        if CUDA_HOME is None:
            raise RuntimeError("FORCE_CUDA=1 but no CUDA toolkit was found: set CUDA_HOME to its root")
        return True
    return torch.version.cuda is not None and CUDA_HOME is not None


def _extension():
    cpp = _sources("csrc/*.cpp") + _sources("csrc/ops/*.cpp") + _sources("csrc/ops/cpu/*.cpp")
    define = [("FASTSPIKE_TORCH_VERSION", f'"{torch.__version__}"')]
    cxx = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
    # at::parallel_for is inline and runs on OpenMP only where the extension itself
    # is compiled with it: without -fopenmp every CPU kernel ran on one thread.
    # (libgomp.so.1 resolves to the copy torch has already loaded.)
    link = []
    if sys.platform.startswith("linux"):
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    include = [os.path.join(ROOT, "csrc", "include")]
    if not _use_cuda():
        return CppExtension(
            "fastspike._C",
            cpp,
            include_dirs=include,
            define_macros=define,
            extra_compile_args={"cxx": cxx},
            extra_link_args=link,
            py_limited_api=False,
        )
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"
    nvcc = [
        "-O3",
        "--fmad=false",
        "-ftz=true",
        "-prec-div=true",
        "-prec-sqrt=true",
        "-lineinfo",
        *os.environ.get("NVCC_FLAGS", "").split(),
    ]
    return CUDAExtension(
        "fastspike._C",
        cpp + _sources("csrc/ops/cuda/*.cu"),
        include_dirs=include,
        define_macros=define + [("FASTSPIKE_WITH_CUDA", "1")],
        extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        extra_link_args=link,
    )


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
