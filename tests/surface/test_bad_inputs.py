"""The bad-input corpus (tests/helpers/bad_input_corpus.py), run in a subprocess so that a crash is a
test failure that names the case, not a dead test run: its size, and the cases of the encoder,
a model's forward pass and the checkpoint loader. Each operator's cases are checked in
tests/ops/test_<stem>.py (helpers.ops.assert_bad_inputs_named)."""

from helpers.ops import OPERATORS, bad_input_results


def test_every_bad_input_gets_an_error_that_names_the_argument():
    n, results = bad_input_results()
    assert n >= 200, n  # generated systematically: every operator, argument and mutation class
    others = [r for r in results if r["case"].split(":")[0] not in OPERATORS]
    assert others
    bad = [r for r in others if r["status"] not in ("named", "equal")]
    assert not bad, "\n".join(f"{r['case']}: {r['status']} ({r['detail']})" for r in bad)
