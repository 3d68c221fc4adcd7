"""Settings shared by the Diehl & Cook tests (tests/networks/test_diehlcook.py and
tests/ops/test_diehl_cook.py)."""

# short presentations keep the per-step reference quick; the default (350 + 150 ms at
# 0.5 ms) runs in test_default_presentation_matches_the_reference. 123 steps: a retry
# starts inside a 4-step Philox block
SHORT = dict(t_present=61.5, t_rest=20.0)
