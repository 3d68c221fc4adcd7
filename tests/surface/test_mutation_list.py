"""Every planted bug of scripts/mutation_check.py still applies to the sources (a stale
mutation is caught by the quick test run, not only by the slow mutation check)."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


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


def test_every_first_test_names_one_test_file_and_a_mutation():
    mod = _module()
    keys = {m.key for m in mod.MUTATIONS}
    for key, node in mod.FIRST.items():
        assert key in keys, f"FIRST names {key}, which is not a mutation"
        found = mod._find_test(node)
        assert found is not None, f"{key}: {node} is not one file under tests/"
        test_file = found.split("::")[0]
        name = node.split("::")[1].split("[")[0]
        with open(os.path.join(ROOT, test_file)) as f:
            assert f"def {name}(" in f.read(), f"{key}: no test {name} in {test_file}"
