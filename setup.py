"""Build fastspike's compiled operators with torch.utils.cpp_extension (ninja).

Switches (environment variables):
  FORCE_CPU=1             build the C++ CPU kernels only
  FORCE_CUDA=1            build the CUDA kernels even when no GPU is visible
  TORCH_CUDA_ARCH_LIST    CUDA architectures (default "8.0;9.0+PTX": A100, H100/H200)
  CUDA_HOME               CUDA toolkit root (the folder holding bin/nvcc and lib64/)
  MAX_JOBS                parallel compile jobs
  CXX_FLAGS, NVCC_FLAGS   extra g++ / nvcc flags, after the build's own (CI: CXX_FLAGS=-g0,
                          no debug information; CFLAGS would replace Python's flags instead)
  FASTSPIKE_KEEP_CUDA_OBJECTS=1  (with CUDA) compile the C++ sources only and link the CUDA
                          objects of the last CUDA build unchanged (the mutation check's rebuilds)

Objects are kept in build/cpu-<python>/ or build/cuda-<python>/, also by pip install -e, so
a rebuild compiles only what changed.

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
    cxx = ["-O3", "-ffp-contract=off", "-fno-fast-math", *os.environ.get("CXX_FLAGS", "").split()]
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
    cu, kept = _sources("csrc/ops/cuda/*.cu"), []
    if _flag("FASTSPIKE_KEEP_CUDA_OBJECTS"):
        # The mutation check's rebuilds: link the CUDA objects of the last CUDA build as they
        # are. A bug it plants in a header the .cu files share would otherwise recompile every
        # one of them (twice, with the restore) for tests that run the CPU kernels only.
        kept = [os.path.join(_build_temp(True), os.path.splitext(s)[0] + ".o") for s in cu]
        missing = [o for o in kept if not os.path.exists(o)]
        if missing:
            raise RuntimeError(
                f"FASTSPIKE_KEEP_CUDA_OBJECTS=1 but there is no {missing[0]}: build once without it"
            )
        cu = []
    return CUDAExtension(
        "fastspike._C",
        cpp + cu,
        include_dirs=include,
        define_macros=define + [("FASTSPIKE_WITH_CUDA", "1")],
        extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        extra_link_args=link,
        extra_objects=kept,
    )


def _build_temp(cuda: bool) -> str:
    return os.path.join(ROOT, "build", f"{'cuda' if cuda else 'cpu'}-{sys.implementation.cache_tag}")


class _BuildExt(BuildExtension.with_options(use_ninja=True)):
    """Compile into one fixed folder per configuration, build/<cpu|cuda>-<python tag>/.

    ``pip install -e .`` would otherwise compile every source again in a new temporary
    folder each time (setuptools' editable build does that); here a second install (CI's
    ``bench/gpu_check.sh --only build`` after its first, or a rebuild after an edit)
    recompiles only what changed: ninja compares each object with its source, the headers
    it included and its command line (flags, architectures, the torch version). The CPU-only
    and CUDA builds keep separate folders, so switching between them (the mutation check's
    CPU builds) does not recompile the other's objects. ``--build-temp`` still wins. Builds in
    the same folder wait for each other (a file lock), since ninja does not.
    """

    def finalize_options(self):
        given = "build_temp" in self.distribution.get_option_dict("build_ext") or (
            "build_temp" in self.distribution.get_option_dict("build")
        )
        super().finalize_options()
        if not given:
            self.build_temp = _build_temp(_use_cuda())

    def run(self):
        os.makedirs(self.build_temp, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not on Linux/macOS: no lock
            return super().run()
        with open(os.path.join(self.build_temp, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return super().run()


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": _BuildExt},
)
