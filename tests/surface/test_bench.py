"""Quick bench runs end to end write well-formed JSON and Markdown (no timing assertions)."""

import json
import re

import pytest
import torch

CONTENDERS = ("reference", "fastspike_b1", "fastspike_batched")


def _check_timing(r: dict) -> None:
    assert r["samples_per_s"] > 0 and 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
    assert 0 <= r["peak_rss_delta_mb"] <= r["peak_rss_mb"]


def test_timer_measures_the_memory_a_call_needs():
    """The bench's per-call peak memory: a call that touches 256 MB reads as about that much
    above the RSS before it, and a call that allocates nothing as (nearly) nothing."""
    from bench.run import Timer

    def big():
        x = torch.ones(64 * 2**20)  # 256 MB, every page written
        return float(x[-1])

    res = Timer(torch.device("cpu"), repeats=1).run({"big": (big, 1), "none": (lambda: None, 1)})
    assert 230 <= res["big"]["peak_rss_delta_mb"] <= 300, res
    assert res["none"]["peak_rss_delta_mb"] < 10, res
    assert res["big"]["repeats"] == 1 and res["big"]["samples_per_s"] > 0


@pytest.mark.slow
def test_bench_quick_runs_and_writes_json(mnist_root, tmp_path):
    from bench.run import main

    argv = ["--quick", "--samples", "4", "--repeats", "1", "--trained-samples", "8", "4", "4"]
    argv += ["--operator-batches", "1", "2", "--threads", "1"]
    before = torch.get_num_threads()
    try:
        assert main([*argv, "--data", mnist_root, "--out", str(tmp_path), "--name", "q"]) == 0
    finally:
        torch.set_num_threads(before)
    res = json.loads((tmp_path / "q.json").read_text())
    assert res["machine"]["threads"] == 1
    assert res["model"] == "mozafari2018"
    assert res["quick"] is True and res["machine"]["torch"] and res["date"]
    assert res["trained_samples"] == [8, 4, 4] and set(res["trained_subnormal_fraction"]) == {
        "w1",
        "w2",
        "w3",
    }
    phases = {(r["phase"], r["state"]) for r in res["phases"]}
    for phase in ("encoding", "S1 STDP training", "S2 STDP training", "S3 R-STDP training", "inference"):
        assert (phase, "fresh") in phases and (phase, "trained") in phases
    assert len(res["phases"]) == 10
    for r in res["phases"]:
        for c in CONTENDERS:
            _check_timing(r[c])
    assert {r["operator"].split(" ")[0] for r in res["operators"]} >= {
        "encoding",
        "fire",
        "first_spike",
        "conv_fire",
        "pointwise_inhibition",
        "kwta",
        "stdp_update",
    }
    assert sorted({r["batch"] for r in res["operators"]}) == [1, 2]
    for r in res["operators"]:
        _check_timing(r["reference"])
        _check_timing(r["fastspike"])
    assert [r["T"] for r in res["memory_vs_T"]] == [15, 30]
    assert (tmp_path / "q.md").read_text().startswith("### fastspike benchmark")
    # the bench reads real MNIST only and never downloads: a folder without it is an error
    with pytest.raises(SystemExit):
        main(["--quick", "--threads", "0", "--data", mnist_root, "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="download=False"):
        main(["--quick", "--data", str(tmp_path / "no-mnist"), "--out", str(tmp_path)])
    assert not (tmp_path / "no-mnist").exists()


@pytest.fixture(scope="module")
def kheradpisheh_out(mnist_root, tmp_path_factory):
    """One quick Kheradpisheh 2018 run with the default output name (shared by two tests)."""
    from bench.run import main

    out = tmp_path_factory.mktemp("bench-kheradpisheh")
    argv = ["--model", "kheradpisheh2018", "--quick", "--samples", "4", "--repeats", "1"]
    argv += ["--trained-samples", "8", "4", "--readout-max-iter", "5"]
    assert main([*argv, "--data", mnist_root, "--out", str(out)]) == 0
    return out


def test_bench_quick_kheradpisheh(kheradpisheh_out):
    from bench.run import READOUT_PHASE

    (path,) = kheradpisheh_out.glob("*.json")
    res = json.loads(path.read_text())
    assert res["model"] == "kheradpisheh2018" and res["quick"] is True and res["samples"] == 4
    assert res["trained_samples"] == [8, 4] and set(res["trained_subnormal_fraction"]) == {"w1", "w2"}
    assert res["readout"] == {"method": "svm", "C": 2.4, "max_iter": 5}
    rows = {(r["phase"], r["state"]): r for r in res["phases"]}
    for state in ("fresh", "trained"):
        for phase in ("encoding", "S1 STDP training", "S2 STDP training", "feature extraction"):
            for c in CONTENDERS:
                _check_timing(rows[phase, state][c])
        fit = rows[READOUT_PHASE, state]
        assert "fastspike only" in fit["phase"] and "reference" not in fit and "fastspike_b1" not in fit
        _check_timing(fit["fastspike_batched"])
    assert "cached" in rows["S2 STDP training", "fresh"]["note"]
    assert len(res["phases"]) == 10
    assert res["operators"] == []  # the per-operator table is Mozafari 2018's
    assert [r["T"] for r in res["memory_vs_T"]] == [15, 30]
    md = path.with_suffix(".md").read_text()
    assert (
        md.startswith("### fastspike benchmark, kheradpisheh2018") and "| feature extraction | fresh |" in md
    )


def test_bench_default_name_is_model_device_cpu_slug(kheradpisheh_out):
    from bench.run import cpu_name, cpu_slug, result_stem

    slug = cpu_slug()
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)
    assert slug == re.sub(r"[^a-z0-9]+", "-", cpu_name().lower()).strip("-")
    stem = f"kheradpisheh2018-cpu-{slug}-quick"  # a --quick run never overwrites the real results
    assert sorted(p.name for p in kheradpisheh_out.iterdir()) == [stem + ".json", stem + ".md"]
    assert json.loads((kheradpisheh_out / (stem + ".json")).read_text())["machine"]["cpu"] == cpu_name()
    # the committed results' names
    assert cpu_slug("Intel(R) Xeon(R) Processor") == "intel-r-xeon-r-processor"
    assert result_stem("mozafari2018", "cpu", "Intel(R) Xeon(R) Processor") == (
        "mozafari2018-cpu-intel-r-xeon-r-processor"
    )
    assert result_stem("batch-accuracy", "cuda:0", "AMD EPYC 7B13") == "batch-accuracy-cuda-amd-epyc-7b13"


def test_batch_accuracy_tiny_run_default_name(mnist_root, tmp_path):
    from bench.batch_accuracy import main
    from bench.run import cpu_slug

    argv = [
        "--batches",
        "1",
        "4",
        "--samples",
        "16",
        "16",
        "16",
        "--epochs",
        "1",
        "1",
        "1",
        "--test-samples",
        "32",
        "--validation",
        "40",
    ]
    assert main([*argv, "--data", mnist_root, "--out", str(tmp_path)]) == 0
    stem = f"batch-accuracy-cpu-{cpu_slug()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [stem + ".json", stem + ".md"]
    res = json.loads((tmp_path / (stem + ".json")).read_text())
    assert res["model"] == "mozafari2018" and [r["batch_size"] for r in res["rows"]] == [1, 4]
    assert res["validation"] == 40
    for r in res["rows"]:
        assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["test_silent"] <= 1 - r["test_accuracy"]
        assert r["chosen_epoch"] == 1 and len(r["val_per_epoch"]) == 1


def test_gpu_check_script_parses_and_plans(tmp_path):
    """bench/gpu_check.sh: valid bash; --dry-run lists every step with its command; bad
    arguments and a machine without a GPU are refused with a message, not run."""
    import os
    import shutil
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "gpu_check.sh")
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    r = subprocess.run(["bash", script, "--dry-run"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    steps = [ln.split("]")[0][1:] for ln in lines[1:]]
    assert steps == ["build", "env", "cuda-tests", "suite", "memcheck", "racecheck", "bench"]
    assert "pip install --no-build-isolation --no-deps -e ." in lines[1]
    assert "TORCH_CUDA_ARCH_LIST=9.0" in lines[0] or "TORCH_CUDA_ARCH_LIST" in os.environ
    assert "compute-sanitizer --tool memcheck" in r.stdout and "-m bench --device cuda" in r.stdout
    r = subprocess.run(["bash", script, "--dry-run", "--only", "build,nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown step 'nope'" in r.stderr
    if shutil.which("nvidia-smi") is None:
        r = subprocess.run(["bash", script, "--only", "env"], capture_output=True, text=True)
        assert r.returncode == 2 and "no GPU" in r.stderr


@pytest.mark.slow
def test_busy_machine_bench_runs_and_writes_json(mnist_root, tmp_path):
    """python -m bench.busy end to end, small: quiet and busy rows per phase, no timing asserted."""
    from bench.busy import main

    argv = ["--threads", "1", "--samples", "64", "--repeats", "1"]
    argv += ["--data", mnist_root, "--out", str(tmp_path)]
    assert main(argv) == 0
    (path,) = tmp_path.glob("busy-*.json")
    res = json.loads(path.read_text())
    assert [(r["threads"], r["phase"]) for r in res["rows"]] == [(1, "inference"), (1, "S1 STDP training")]
    for r in res["rows"]:
        assert r["quiet"] > 0 and r["busy"] > 0 and r["kept"] == r["busy"] / r["quiet"]
    md = (tmp_path / path.name.replace(".json", ".md")).read_text()
    assert md.startswith("### fastspike on a busy machine")
    with pytest.raises(SystemExit):
        main(["--threads", "0", "--out", str(tmp_path)])


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,trained,phases",
    [
        ("deepr2024", ["4", "2", "2", "4"], ["S1 STDP", "S2 STDP", "S3 STDP", "S4+S3 R-STDP"]),
        ("majority2024", ["4", "2", "4"], ["S1 STDP", "S2 STDP", "heads R-STDP"]),
        (
            "inception2024",
            ["4", "2", "2", "2", "2", "4"],
            ["S1 STDP", "S2 STDP", "S3a STDP", "S3b STDP", "S3c STDP", "S4 R-STDP"],
        ),
    ],
)
def test_bench_times_every_phase_of_a_zoo_network(model, trained, phases, mnist_root, tmp_path):
    """A joint decision phase, a block of heads and branches are timed phase by phase against
    the reference, like any other network's layers."""
    from bench.run import main

    argv = ["--model", model, "--quick", "--samples", "2", "--repeats", "1", "--trained-samples", *trained]
    assert main([*argv, "--data", mnist_root, "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    res = json.loads(path.read_text())
    assert res["model"] == model and res["trained_samples"] == [int(t) for t in trained]
    names = [f"{p} training" for p in phases]
    assert [r["phase"] for r in res["phases"]] == ["encoding", *names, "inference"] * 2
    for r in res["phases"]:
        for c in CONTENDERS:
            _check_timing(r[c])
