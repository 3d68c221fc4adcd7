"""The bad-input corpus (tests/bad_input_corpus.py), run in a subprocess so that a crash is a
test failure that names the case, not a dead test run."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_bad_input_gets_an_error_that_names_the_argument():
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "bad_input_corpus.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    lines = proc.stdout.splitlines()
    n = json.loads(lines[0])["n"]
    results = [json.loads(ln) for ln in lines[1:] if ln.startswith("{")]
    started = [int(ln.split()[1]) for ln in lines if ln.startswith("START ")]
    if proc.returncode != 0 or len(results) != n:
        crashed = started[-1] if started else None
        raise AssertionError(
            f"the corpus process ended with status {proc.returncode} after {len(results)} of {n} cases; "
            f"case {crashed} was running\n{proc.stderr[-3000:]}"
        )
    assert n >= 200, n  # generated systematically: every operator, argument and mutation class
    bad = [r for r in results if r["status"] not in ("named", "equal")]
    assert not bad, "\n".join(f"{r['case']}: {r['status']} ({r['detail']})" for r in bad)
