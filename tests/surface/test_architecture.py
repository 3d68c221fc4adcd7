"""The package's layering: imports point one way, no private names cross modules, modules stay small,
and the trainer drives rules and layers through their methods only."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "fastspike")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for folder, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str) -> list[tuple[str, list[str], int]]:
    """``(imported module, names, line)`` of every fastspike import in ``mod``, at any depth
    (an import inside a function counts)."""
    tree = ast.parse(open(MODULES[mod]).read())
    is_pkg = MODULES[mod].endswith("__init__.py")
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("fastspike"):
                    out.append((a.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = mod.split(".")[: len(mod.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([base] if base else []))
            if not base.startswith("fastspike"):
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub if sub in MODULES else base, [a.name], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs (its own imports, and the packages above them,
    but not the lazy root package ``fastspike``)."""
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _ in _imports(m):
            t = _resolve(target)
            while t and t != "fastspike":
                # a module's own packages are already running when it runs: no edge to them
                if t != m and not m.startswith(t + "."):
                    g[m].add(t)
                t = t.rpartition(".")[0]
    return g


def test_no_import_cycle():
    g = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for m in MODULES:
        for target, names, line in _imports(m):
            for n in names:
                if n == "_C" and target == "fastspike":
                    continue  # the compiled library itself (a module, loaded by fastspike._loader)
                if n.startswith("_") and not n.startswith("__") and _resolve(target) != m:
                    bad.append(f"{MODULES[m]}:{line}: {n} from {target}")
    assert not bad, "\n".join(bad)


def test_no_module_over_800_lines():
    long = {m: sum(1 for _ in open(p)) for m, p in MODULES.items()}
    assert not {m: n for m, n in long.items() if n > 800}, long


RULE_AND_LAYER_TYPES = {
    "STDP",
    "RSTDP",
    "Conv",
    "Parallel",
    "Pad",
    "Pool",
    "Inhibit",
    "SpikingConv",
    "ParallelConv",
    "DoublingRates",
    "FixedRates",
    "AdaptiveRates",
    "DiehlCookSpec",
    "NetworkSpec",
}


@pytest.mark.parametrize(
    "module", ["fastspike.training.loop", "fastspike.api", "fastspike.__main__", "fastspike.families"]
)
def test_the_trainer_and_the_user_surface_ask_no_rule_or_layer_type(module):
    tree = ast.parse(open(MODULES[module]).read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
            for n in ast.walk(node.args[1]):
                if isinstance(n, ast.Name) and n.id in RULE_AND_LAYER_TYPES:
                    found.append(f"line {node.lineno}: {n.id}")
    assert not found, found


BLOCK_C = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "fastspike._C":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
import fastspike.spec, fastspike.reference, fastspike.registry
spec = fastspike.registry.get_spec("mozafari2018")
assert "fastspike._C" not in sys.modules
print("ok", spec.name)
"""


def test_spec_reference_and_registry_import_without_the_compiled_library():
    r = subprocess.run([sys.executable, "-c", BLOCK_C], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok mozafari2018", r.stderr[-2000:]


def test_package_attributes_are_not_both_a_module_and_a_function():
    import fastspike

    for name in ("train", "train_mnist", "evaluate", "load_model"):
        assert callable(getattr(fastspike, name)) and not hasattr(getattr(fastspike, name), "__path__")
    import fastspike.training  # noqa: F401  (importing the package keeps fastspike.train the function)

    assert callable(fastspike.train)
