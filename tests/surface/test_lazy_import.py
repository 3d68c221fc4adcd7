"""The package loads lazily: ``import fastspike``, :mod:`fastspike.spec` and
:mod:`fastspike.reference` work without the compiled library, which loads with the first
module that needs an operator; every name the package exports is still there."""

import subprocess
import sys

import pytest

import fastspike

# a Python without the compiled library: importing fastspike._C fails as if it were missing
_NO_LIBRARY = """
import sys

class _NoLibrary:
    def find_spec(self, name, path=None, target=None):
        if name == "fastspike._C":
            raise ImportError("fastspike._C hidden by the test")
        return None

sys.meta_path.insert(0, _NoLibrary())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_package_spec_and_reference_import_without_the_library():
    r = _run(
        _NO_LIBRARY
        + "import fastspike, fastspike.spec, fastspike.reference, fastspike.registry\n"
        + "from fastspike.spec import NetworkSpec\n"
        + "assert 'fastspike._C' not in sys.modules and 'fastspike.ops' not in sys.modules\n"
        + "print('imported', fastspike.__version__)\n"
    )
    assert r.returncode == 0 and "imported" in r.stdout, r.stderr[-3000:]


NEEDS_THE_LIBRARY = [
    "import fastspike.ops",
    "from fastspike import conv_fire",
    "import fastspike; fastspike.WITH_CUDA",
]


@pytest.mark.parametrize("code", NEEDS_THE_LIBRARY)
def test_what_needs_the_library_says_how_to_rebuild_it(code):
    r = _run(_NO_LIBRARY + code)
    assert r.returncode != 0
    assert "ImportError: fastspike: the compiled operator library fastspike._C could not" in r.stderr
    assert "pip install --no-build-isolation" in r.stderr


def test_the_library_loads_with_the_operators():
    r = _run(
        "import sys, fastspike\n"
        "assert 'fastspike._C' not in sys.modules\n"
        "from fastspike import conv_fire\n"
        "assert 'fastspike._C' in sys.modules and 'fastspike.ops.conv_fire' in sys.modules\n"
        "print(fastspike.WITH_CUDA in (True, False))\n"
    )
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr[-3000:]


def test_every_exported_name_resolves():
    for name in fastspike.__all__:
        assert getattr(fastspike, name) is not None, name
    assert isinstance(fastspike.WITH_CUDA, bool)
    assert callable(fastspike.train) and callable(fastspike.conv_fire)
    assert fastspike.ops.conv_fire is fastspike.conv_fire
    assert set(dir(fastspike)) >= set(fastspike.__all__)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        fastspike.no_such_name  # noqa: B018
