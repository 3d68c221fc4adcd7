"""Every ```python and ```bash block of README.md and docs/**/*.md runs as written.

A python block runs in a fresh process of this interpreter, a bash block through
``bash -euo pipefail`` with this interpreter's folder first on PATH (so ``python``,
``torchrun`` and ``fastspike`` are the ones under test). Each runs in an empty folder that
holds ``data`` (the real MNIST: the ``mnist_root`` fixture), ``../shared/data`` (the same),
copies of ``configs/``, ``examples/``, ``bench/`` (without results) and ``scripts/``, and
``runs/tiny/best.pt`` (the shipped demo checkpoint, so a page can evaluate or plot the run its
first command trained without depending on another block).

HTML comments on the lines right before a block's fence change how it runs:

    <!-- docs-test: skip REASON -->      not run; the reason is required and the skips are few
    <!-- docs-test: excerpt PATH -->     not run: a quoted piece of PATH; every code line of the
                                         block (comments and lines with "..." aside) is a line of PATH
    <!-- docs-test: slow -->             marked slow (deselected by -m "not slow")
    <!-- docs-test: no-install -->       drop the steps (lines, or && parts) that make a venv or pip install
    <!-- docs-test: sub OLD => NEW -->   replace OLD (which must occur) by NEW: smaller sizes
    <!-- docs-test: env NAME=VALUE -->   set in the block's environment
    <!-- docs-test: timeout SECONDS -->  the block's time limit (default 300 s)
    <!-- docs-test: repo -->             run in the repository root (read-only commands: pytest, lists)

A block with no marker must run and exit 0 as written.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = re.compile(r"^<!-- docs-test: (.*?) -->$")
COMMENT = re.compile(r"^<!--.*-->$")
FENCE = re.compile(r"^```(\w*)\s*$")
#: The most blocks that may be skipped (each with its reason); raise it only with a good reason.
MAX_SKIPPED = 8
INSTALL = re.compile(r"^\s*(python3? -m venv|\. \.venv/bin/activate|pip install|\.venv/bin/pip install)")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marks: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    def marked(self, kind: str) -> list[str]:
        return [m[len(kind) :].strip() for m in self.marks if m == kind or m.startswith(kind + " ")]


def pages() -> list[str]:
    docs = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    return ["README.md", *sorted(os.path.relpath(p, ROOT) for p in docs)]


def blocks_of(page: str) -> list[Block]:
    with open(os.path.join(ROOT, page)) as f:
        lines = f.read().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        marks, k = [], start - 1
        while k >= 0 and COMMENT.match(lines[k].strip()):  # e.g. <!-- test-command --> in between
            m = MARK.match(lines[k].strip())
            if m:
                marks.insert(0, m.group(1).strip())
            k -= 1
        if lang in ("python", "bash"):
            out.append(Block(page, start + 1, lang, "\n".join(lines[start + 1 : j]) + "\n", marks))
        i = j + 1
    return out


ALL = [b for p in pages() for b in blocks_of(p)]
KNOWN = ("skip", "excerpt", "slow", "no-install", "sub", "env", "timeout", "repo")


def _without_install(line: str) -> str:
    """The line without its install steps: a line of ``&&``-joined steps loses each step that
    makes a virtual environment or installs (the README's one install-and-train command keeps
    its train step); nothing left, no line."""
    steps = [step for step in line.split("&&") if not INSTALL.match(step)]
    return " && ".join(step.strip() for step in steps) + "\n" if steps else ""


def _param(b: Block):
    return pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.marked("slow") else [])


RUN = [_param(b) for b in ALL if not b.marked("skip") and not b.marked("excerpt")]
EXCERPTS = [pytest.param(b, id=b.id) for b in ALL if b.marked("excerpt")]


def test_markers_are_known_and_skips_are_few_and_give_a_reason():
    assert ALL, "no code blocks found"
    for b in ALL:
        for m in b.marks:
            assert m.split(" ")[0] in KNOWN, f"{b.id}: unknown marker {m!r} (known: {KNOWN})"
        for reason in b.marked("skip"):
            assert reason.startswith("(") and reason.endswith(")") and len(reason) > 10, (
                f"{b.id}: a skipped block says why, as in <!-- docs-test: skip (installs packages) -->"
            )
        for s in b.marked("sub"):
            assert " => " in s, f"{b.id}: expected <!-- docs-test: sub OLD => NEW -->, got {s!r}"
    skipped = [f"{b.id} {b.marked('skip')[0]}" for b in ALL if b.marked("skip")]
    assert len(skipped) <= MAX_SKIPPED, "too many skipped blocks:\n" + "\n".join(skipped)


def _code_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        code = line.split("  #")[0].strip()
        if code and not code.startswith("#") and "..." not in code:
            out.append(code)
    return out


@pytest.mark.parametrize("block", EXCERPTS)
def test_excerpt_matches_its_source(block: Block):
    (path,) = block.marked("excerpt")
    with open(os.path.join(ROOT, path)) as f:
        source = {line.split("  #")[0].strip() for line in f.read().splitlines()}
    missing = [line for line in _code_lines(block.code) if line not in source]
    assert not missing, f"{block.id}: lines not in {path} (the excerpt is stale):\n" + "\n".join(missing)


@pytest.fixture(scope="module")
def workspace(mnist_root, tmp_path_factory):
    """A folder laid out like a checkout beside this project's data (see the module docstring)."""
    base = tmp_path_factory.mktemp("docs")
    os.makedirs(base / "shared")
    os.symlink(mnist_root, base / "shared" / "data")
    template = base / "template"
    os.makedirs(template / "runs" / "tiny")
    os.symlink(mnist_root, template / "data")
    ignore = shutil.ignore_patterns("__pycache__", "results", "*.pyc")
    for d in ("configs", "examples", "bench", "scripts"):
        shutil.copytree(os.path.join(ROOT, d), template / d, ignore=ignore)
    demo = os.path.join(ROOT, "fastspike", "pretrained", "mozafari2018-tiny.pt")
    shutil.copy(demo, template / "runs" / "tiny" / "best.pt")
    return base


def _prepare(block: Block) -> str:
    code = block.code
    if block.marked("no-install"):
        code = "".join(_without_install(line) for line in code.splitlines())
    for s in block.marked("sub"):
        old, new = s.split(" => ", 1)
        assert old in code, f"{block.id}: the marker's text {old!r} is not in the block any more"
        code = code.replace(old, new)
    return code


@pytest.mark.parametrize("block", RUN)
def test_block_runs(block: Block, workspace):
    code = _prepare(block)
    work = workspace / re.sub(r"\W", "_", block.id)
    shutil.copytree(workspace / "template", work, symlinks=True)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTEST_ADDOPTS", None)
    for assignment in block.marked("env"):
        name, value = assignment.split("=", 1)
        env[name] = value
    timeout = int((block.marked("timeout") or ["300"])[0])
    if block.lang == "python":
        script = work / "block.py"
        script.write_text(code)
        cmd = [sys.executable, str(script)]
    else:
        script = work / "block.sh"
        script.write_text(code)
        cmd = ["bash", "-euo", "pipefail", str(script)]
    try:
        cwd = ROOT if block.marked("repo") else work
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id}: still running after {timeout} s (smaller sizes, or a timeout marker)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, (
        f"{block.id}: exit status {proc.returncode}\n--- block as run:\n{code}\n"
        f"--- stdout (tail):\n{proc.stdout[-3000:]}\n--- stderr (tail):\n{proc.stderr[-3000:]}"
    )
