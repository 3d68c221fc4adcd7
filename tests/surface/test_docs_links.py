"""The repository's references to its documentation lead somewhere.

* No file of the repository points into the design folder next to the checkout (the
  project's own account of the semantics is ``docs/reference/``; the old design notes are not
  part of the repository).
* Every ``docs/<page>.md`` path cited in the code, tests, scripts, benchmarks, configs,
  examples and docs exists, and where it carries ``#anchor`` the page defines that anchor: an
  explicit attribute-list id (``## Title {#anchor}``) or the MkDocs slug of a heading.
* Every relative Markdown link between the pages under ``docs/`` resolves the same way.

The files are those git knows (tracked, plus new files it does not ignore), without the
benchmark logs under ``bench/results/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: the design folder beside the checkout, spelt in two parts so that this file does not cite it
DESIGN = "shared" + "/design"
#: folders whose files may cite documentation pages
CITING = ("fastspike/", "csrc/", "tests/", "scripts/", "bench/", "configs/", "examples/", "docs/")
EXCLUDED = ("bench/results/",)

#: a cited page, ``docs/<path>.md`` with an optional ``#anchor``, not inside a longer path
CITATION = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md)(?:#([\w-]+))?")
#: a relative Markdown link target in a page: ``[text](target)``
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ATTR_ID = re.compile(r"\{:?\s*([^}]*)\}\s*$")
HTML_ID = re.compile(r"<a\s+[^>]*(?:id|name)=\"([^\"]+)\"")


def repo_files(root: str = ROOT) -> list[str]:
    """Repository-relative paths of the files git knows (tracked, or new and not ignored) that
    exist, without ``bench/results/``."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (the file list comes from git ls-files)")
    names = sorted({n for n in out.decode("utf-8", "replace").split("\0") if n})
    return [n for n in names if not n.startswith(EXCLUDED) and os.path.isfile(os.path.join(root, n))]


def slugify(text: str) -> str:
    """The id Python-Markdown's ``toc`` extension (MkDocs' and Material's default) gives a
    heading: inline markup dropped, ASCII only, punctuation removed, lower case, runs of
    spaces and hyphens made one hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(markdown: str) -> set[str]:
    """The anchors a Markdown page defines: every heading's (its attribute-list ``#id``, else
    its slug, numbered ``_1``, ``_2``... when repeated, as ``toc`` does) and HTML ``id``s."""
    found: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(HTML_ID.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        title = m.group(2)
        attrs = ATTR_ID.search(title)
        if attrs:
            ids = re.findall(r"#([\w-]+)", attrs.group(1))
            if ids:
                found.add(ids[-1])
                continue
            title = title[: attrs.start()].rstrip()
        slug, n = slugify(title), 0
        unique = slug
        while unique in found:
            n += 1
            unique = f"{slug}_{n}"
        found.add(unique)
    return found


def _read(root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, OSError):
        return None


def _check(root: str, target: str, anchor: str | None, pages: dict[str, set[str] | None]) -> str | None:
    """Why ``target`` (repository-relative) with ``anchor`` leads nowhere, or ``None``."""
    target = os.path.normpath(target).replace(os.sep, "/")
    if target not in pages:
        text = _read(root, target) if os.path.isfile(os.path.join(root, target)) else None
        pages[target] = anchors(text) if text is not None else None
    defined = pages[target]
    if defined is None:
        return f"{target} does not exist"
    if anchor and anchor not in defined:
        near = sorted(a for a in defined if anchor[:3] in a)[:8]
        return f"{target} has no anchor #{anchor}" + (f" (similar: {', '.join(near)})" if near else "")
    return None


def citation_problems(root: str, files: list[str]) -> list[str]:
    """``file:line: citation: why`` for every documentation page cited in ``files`` (those under
    :data:`CITING`) that does not exist or lacks the cited anchor."""
    pages: dict[str, set[str] | None] = {}
    problems = []
    for rel in files:
        if not rel.startswith(CITING):
            continue
        text = _read(root, rel)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in CITATION.finditer(line):
                why = _check(root, m.group(1), m.group(2), pages)
                if why:
                    problems.append(f"{rel}:{lineno}: {m.group(0)}: {why}")
    return problems


def link_problems(root: str, files: list[str]) -> list[str]:
    """``page:line: link: why`` for every relative link of a ``docs/`` page to a page or an
    anchor that does not exist."""
    pages: dict[str, set[str] | None] = {}
    problems = []
    for rel in files:
        if not (rel.startswith("docs/") and rel.endswith(".md")):
            continue
        text = _read(root, rel)
        if text is None:
            continue
        fenced = False
        for lineno, line in enumerate(text.splitlines(), 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if fenced:
                continue
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
                    continue
                path, _, anchor = target.partition("#")
                if path and not path.endswith(".md"):
                    continue  # an image, a source file, a folder: not a page
                full = os.path.join(os.path.dirname(rel), path) if path else rel
                why = _check(root, full, anchor or None, pages)
                if why:
                    problems.append(f"{rel}:{lineno}: ({target}): {why}")
    return problems


def design_folder_mentions(root: str, files: list[str]) -> list[str]:
    """``file:line`` of every mention of the design folder beside the checkout."""
    out = []
    needle = DESIGN.encode()
    for rel in files:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError:
            continue
        start = data.find(needle)
        while start >= 0:
            line = data.count(b"\n", 0, start) + 1
            out.append(f"{rel}:{line}")
            start = data.find(needle, start + 1)
    return out


@pytest.fixture(scope="module")
def files() -> list[str]:
    return repo_files()


def test_nothing_points_into_the_design_folder(files):
    found = design_folder_mentions(ROOT, files)
    assert not found, (
        f"{len(found)} mention(s) of {DESIGN}/, which is not part of the repository; cite "
        "docs/reference/semantics.md or docs/reference/networks.md instead:\n  " + "\n  ".join(found)
    )


def test_cited_documentation_pages_and_anchors_exist(files):
    problems = citation_problems(ROOT, files)
    assert not problems, "documentation cited but missing:\n  " + "\n  ".join(problems)


def test_links_between_documentation_pages_resolve(files):
    problems = link_problems(ROOT, files)
    assert not problems, "broken links in docs/:\n  " + "\n  ".join(problems)


# ----------------------------------------------------------------------------- the checker itself
def test_slugs_and_explicit_ids_are_the_anchors_of_a_page():
    page = "\n".join(
        [
            "# Semantics",
            "## k-winners-take-all and lateral inhibition",
            "## Fire {#fire}",
            "### Tables { #tables .wide }",
            "## Diehl & Cook 2015",
            "## Diehl & Cook 2015",
            "## `pool_times` (CPU)",
            "```",
            "## not a heading",
            "```",
            '<a id="extra"></a>',
        ]
    )
    assert anchors(page) == {
        "semantics",
        "k-winners-take-all-and-lateral-inhibition",
        "fire",
        "tables",
        "diehl-cook-2015",
        "diehl-cook-2015_1",
        "pool_times-cpu",
        "extra",
    }


def test_a_bad_citation_or_link_is_reported_with_its_place(tmp_path):
    docs = "docs"
    (tmp_path / docs / "reference").mkdir(parents=True)
    (tmp_path / "fastspike").mkdir()
    (tmp_path / docs / "reference" / "page.md").write_text("# Page\n\n## Fire {#fire}\n\n[up](../index.md)\n")
    (tmp_path / docs / "guide.md").write_text("[ok](reference/page.md#fire) [bad](reference/page.md#kwta)\n")
    page = docs + "/reference/page.md"
    (tmp_path / "fastspike" / "mod.py").write_text(
        f"# {page}#fire\n# {page}#kwta\n# {docs}/reference/gone.md\n# ../{DESIGN}/NOTES.md\n"
    )
    files = ["fastspike/mod.py", f"{docs}/guide.md", page]
    assert citation_problems(str(tmp_path), files) == [
        f"fastspike/mod.py:2: {page}#kwta: {page} has no anchor #kwta",
        f"fastspike/mod.py:3: {docs}/reference/gone.md: {docs}/reference/gone.md does not exist",
    ]
    assert link_problems(str(tmp_path), files) == [
        f"{docs}/guide.md:1: (reference/page.md#kwta): {page} has no anchor #kwta",
        f"{page}:5: (../index.md): {docs}/index.md does not exist",
    ]
    assert design_folder_mentions(str(tmp_path), files) == ["fastspike/mod.py:4"]
