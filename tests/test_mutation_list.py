"""Every planted bug of scripts/mutation_check.py still applies to the sources (a stale
mutation is caught by the quick test run, not only by the slow mutation check)."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _module():
    path = os.path.join(ROOT, "scripts", "mutation_check.py")
    spec = importlib.util.spec_from_file_location("mutation_check", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mutation_check"] = mod  # its dataclasses look themselves up there
    spec.loader.exec_module(mod)
    return mod


def test_every_mutation_applies_and_its_tests_exist():
    mod = _module()
    keys = [m.key for m in mod.MUTATIONS]
    assert len(keys) == len(set(keys)) and len(keys) >= 28
    for m in mod.MUTATIONS:
        with open(os.path.join(ROOT, m.path)) as f:
            src = f.read()
        assert src.count(m.old) > m.occurrence, f"{m.key}: {m.old!r} not found in {m.path}"
        assert m.old != m.new, m.key
        for t in m.tests:
            assert os.path.exists(os.path.join(ROOT, t.split("::")[0])), f"{m.key}: no test file {t}"
