"""A --quick bench run end to end writes a well-formed JSON (no timing assertions)."""

import json

from conftest import SHARED_DATA


def test_bench_quick_runs_and_writes_json(mnist_root, tmp_path):
    from bench.run import main

    assert main(["--quick", "--samples", "8", "--repeats", "1", "--trained-samples", "16", "8", "8",
                 "--data", mnist_root, "--out", str(tmp_path), "--name", "q"]) == 0
    res = json.loads((tmp_path / "q.json").read_text())
    assert res["quick"] is True and res["machine"]["torch"] and res["date"]
    phases = {(r["phase"], r["state"]) for r in res["phases"]}
    for phase in ("encoding", "S1 STDP training", "S2 STDP training", "S3 R-STDP training", "inference"):
        assert (phase, "fresh") in phases and (phase, "trained") in phases
    for r in res["phases"]:
        for c in ("reference", "fastspike_b1", "fastspike_batched"):
            assert r[c]["samples_per_s"] > 0 and r[c]["min_s"] <= r[c]["median_s"] <= r[c]["max_s"]
            assert r[c]["peak_rss_mb"] > 0 and r[c]["peak_rss_delta_mb"] >= 0
    assert {r["operator"].split(" ")[0] for r in res["operators"]} >= {
        "encoding", "fire", "first_spike", "conv_fire", "pointwise_inhibition", "kwta", "stdp_update"}
    assert [r["T"] for r in res["memory_vs_T"]] == [15, 30]
    assert (tmp_path / "q.md").read_text().startswith("### fastspike benchmark")
    assert SHARED_DATA  # the bench reads real MNIST only, never downloads
