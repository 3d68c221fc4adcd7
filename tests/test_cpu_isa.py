"""Every CPU build of the conv_fire gather code (generic, AVX2, AVX-512) against the reference.

The library compiles the gather kernels three times and runs the best one the CPU has, so on
an AVX-512 machine the AVX2 and generic code would otherwise never run. FASTSPIKE_CPU_ISA
forces one (read once per process), so each build runs here in a subprocess."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_conv_fire_every_isa_matches_the_reference(isa):
    flags = _cpu_flags()
    if isa == "avx2" and " avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    if isa == "avx512" and " avx512bw" not in flags:
        pytest.skip("this CPU has no AVX-512")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            os.path.join(HERE, "test_conv_fire.py"),
            "-k",
            "exact_threshold_hits or matches_reference_exactly or gather_path_bitwise or int16"
            " or forced_path",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "FASTSPIKE_CPU_ISA": isa},
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout.splitlines()[-1]


def test_unknown_isa_is_a_clear_error():
    code = (
        "import torch, fastspike; "
        "fastspike.conv_fire(torch.zeros(1, 1, 3, 3, dtype=torch.uint8), torch.ones(1, 1, 2, 2), 15, 1.0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "FASTSPIKE_CPU_ISA": "sse9"},
    )
    assert r.returncode != 0 and "FASTSPIKE_CPU_ISA: expected generic, avx2 or avx512, got 'sse9'" in r.stderr
