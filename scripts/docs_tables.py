"""Write the result tables of README.md and docs/ from the files in bench/results/.

    python scripts/docs_tables.py           # rewrite every generated block
    python scripts/docs_tables.py --check   # exit 1 (and show the diff) when a page differs

A generated block sits between two markers in README.md or any docs/**/*.md:

    <!-- generated: NAME [ARG ...] -->
    (written by this script: do not edit)
    <!-- /generated -->

NAME picks what is written (see GENERATORS): the model zoo's table (every registered network,
measured or not), the README's results table, one run's result in a sentence, a benchmark's
table. Every figure comes from a JSON file of bench/results/ (or examples/results/), so a page
cannot disagree with the measurements; CI runs ``--check``. After a new measurement: commit the
result file, run this script, commit the pages.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import json
import os
import re
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
sys.path.insert(0, ROOT)

MARKER = re.compile(r"<!-- generated: ([^>]+?) -->\n.*?<!-- /generated -->", re.S)
DATA = "../shared/data"  # the --root of the documented commands (this project's data folder)

#: Published MNIST accuracy of the networks that come from a paper (%, the paper's own figure).
PAPER = {
    "mozafari2018": "97.2%",
    "kheradpisheh2018": "98.4%",
    "falez2019": "98.6%",
    "diehlcook2015": "82.9%",
    "diehlcook2015-400": "87.0%",
    "diehlcook2015-6400": "95.0%",
}


# ----------------------------------------------------------------------------------- formatting
def num(x: float) -> str:
    """Samples/s as the benchmark writes them: 1,234 or 98.7."""
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def pct(x: float) -> str:
    """0.9531 -> 95.31%, 0.985 -> 98.5%, 0.804 -> 80.4% (no digit the file does not hold)."""
    s = f"{100 * x:.2f}"
    return (s[:-1] if s.endswith("0") else s) + "%"


def duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def day(date: str) -> str:
    return date[:10]


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def load(name: str) -> dict:
    path = name if os.path.isabs(name) else os.path.join(RESULTS, name)
    if not path.endswith(".json"):
        path += ".json"
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------------------ training runs
def registry():
    from fastspike import registry as reg

    return reg


def run_files() -> list[str]:
    return sorted(glob.glob(os.path.join(RESULTS, "train-*.json")))


def run_network(run: dict, reg) -> str:
    """The registered name (or config file) a training run trained."""
    cmd = run.get("command") or ""
    m = re.search(r"--config (\S+)", cmd)
    if m:
        return m.group(1)
    return reg.ALIASES.get(run["model"], run["model"])


def run_accuracy(run: dict) -> str:
    test = run.get("test")
    if test is None:  # a readout run: the readout epoch's test figure
        return pct(run["history"][-1]["test"]["correct"])
    if "proportion_accuracy" in test:
        return f"{pct(test['accuracy'])} / {pct(test['proportion_accuracy'])}"
    return pct(test["accuracy"])


def _phases_text(phases: list[dict]) -> str:
    parts = []
    for ph in phases:
        epochs, samples = ph["epochs"], ph.get("samples")
        if ph["layer"] == "readout":
            parts.append("readout")
        elif ph["layer"] == "train":  # Diehl & Cook: one pass over the training images
            parts.append(f"{epochs} epoch" + (f" x {samples:,}" if samples else ""))
        else:
            parts.append(f"{ph['layer']} {epochs}" + (f" x {samples:,}" if samples else ""))
    return ", ".join(parts)


def run_schedule(run: dict, reg) -> str:
    """Epochs (x images per epoch) of each phase, and the preset when the run names one."""
    sched = run.get("schedule")
    if sched:
        done = run.get("epochs_done") or {}
        phases = [dict(ph) for ph in sched]
        if not run.get("finished", True) and done.get("phase") is not None:  # stopped early
            phases[done["phase"]]["epochs"] = done.get("epoch", phases[done["phase"]]["epochs"])
    else:  # the registered network's phases under the run's preset
        preset = run.get("preset", "paper")
        spec = reg.get_spec(run["model"])
        over = reg.preset_of(spec, preset)
        phases = [
            {
                "layer": ph.layer,
                "epochs": over.get(ph.layer, {}).get("epochs", ph.epochs),
                "samples": over.get(ph.layer, {}).get("samples", ph.samples),
            }
            for ph in spec.phases
        ]
    text = _phases_text(phases)
    return f"`{run['preset']}` preset: {text}" if run.get("preset") else text


def run_command(run: dict, reg) -> str:
    """The one command that reproduces the run (its own, without where it saved its files)."""
    cmd = run.get("reproduce") or run.get("command")
    if not cmd:
        net = run_network(run, reg)
        cmd = f"python -m fastspike train --model {net} --preset {run.get('preset', 'paper')} --root {DATA}"
        if run.get("threads"):
            cmd += f" --threads {run['threads']}"
        return cmd
    cmd = cmd.split(" (")[0]
    words, out, skip = shlex.split(cmd), [], False
    for i, w in enumerate(words):
        if skip:
            skip = False
            continue
        if w in ("--checkpoint-dir", "--history"):
            skip = True
            continue
        if w == "--no-progress":
            continue
        if i > 0 and words[i - 1] == "--root":
            w = DATA
        if i > 0 and words[i - 1] == "--model":
            w = reg.ALIASES.get(w, w)
        out.append(w)
    return " ".join(out)


def run_machine(run: dict) -> str:
    threads = run.get("threads")
    s = run.get("cpu", "?") + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
    if "shared" in (run.get("note") or "").lower():
        s += " (shared)"
    return s


def runs_by_network(reg) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for path in run_files():
        run = load(path)
        out.setdefault(run_network(run, reg), []).append((path, run))
    order = {"tiny": 0, "quick": 1, "paper": 2}
    for rows in out.values():
        rows.sort(key=lambda pr: order.get(pr[1].get("preset", "paper"), 3))
    return out


LEGEND = (
    "Schedule: the epochs of each phase (x the training images per epoch, where not all of them). "
    "(shared): other jobs ran on the machine, so the time is an upper bound."
)


def gen_zoo(args: list[str]) -> str:
    """Every registered network (and every config file with a measured run): its runs."""
    reg = registry()
    runs = runs_by_network(reg)
    names = [n for n in reg.MODELS] + sorted(n for n in runs if n not in reg.MODELS)
    rows = []
    for name in names:
        label = f"`{name}`"
        if name not in runs:
            preset = " --preset paper" if getattr(reg.get_spec(name), "phases", None) else ""
            cmd = f"python -m fastspike train --model {name}{preset} --root {DATA}"
            rows.append([label, "not measured yet", PAPER.get(name, "-"), "-", "-", "-", "-", f"`{cmd}`"])
            continue
        for _, run in runs[name]:
            rows.append(
                [
                    label,
                    pct_cell(run),
                    PAPER.get(name.split("/")[-1].removesuffix(".yaml"), "-"),
                    run_schedule(run, reg),
                    duration(run["wall_s"]),
                    run_machine(run),
                    day(run["date"]),
                    f"`{run_command(run, reg)}`",
                ]
            )
    header = [
        "network",
        "MNIST test accuracy",
        "paper",
        "schedule",
        "wall time",
        "machine",
        "date",
        "command",
    ]
    return (
        table(header, rows)
        + "\n\n"
        + LEGEND
        + " Each run's record (every epoch, the test metrics): "
        + ("`bench/results/train-<network>-*.json`.")
    )


def pct_cell(run: dict) -> str:
    acc = run_accuracy(run)
    if run.get("test") and "proportion_accuracy" in run["test"]:
        return f"**{acc}** (all activity / proportion weighting)"
    return f"**{acc}**"


def gen_results(args: list[str]) -> str:
    """The README's table: every measured run in one line."""
    reg = registry()
    rows = []
    for name, runs in runs_by_network(reg).items():
        for _, run in runs:
            rows.append(
                [
                    f"`{name}`",
                    run_schedule(run, reg),
                    pct_cell(run),
                    duration(run["wall_s"]),
                    run_machine(run),
                ]
            )
    order = {n: i for i, n in enumerate(reg.MODELS)}
    rows.sort(key=lambda r: order.get(r[0].strip("`"), len(order)))
    return (
        table(["network", "schedule", "MNIST test accuracy", "wall time", "machine"], rows) + "\n\n" + LEGEND
    )


def gen_run(args: list[str]) -> str:
    """One run in a sentence: ``run train-mozafari2018-tiny-cpu-amd-epyc``."""
    (stem,) = args
    run = load(stem)
    reg = registry()
    sel = (run.get("test") or {}).get("selected") or run.get("selected") or {}
    chosen = ""
    if sel.get("layer") and sel.get("epoch", -1) > 0:
        chosen = f", with the weights of {sel['layer']} epoch {sel['epoch']} (chosen on the validation split)"
    return (
        f"Measured: **{run_accuracy(run)}** MNIST test accuracy in {duration(run['wall_s'])}, whole run, "
        f"on {run_machine(run)}, {day(run['date'])}{chosen}; "
        f"`{run_command(run, reg)}`; record: `{rel(os.path.join(RESULTS, stem + '.json'))}`."
    )


# -------------------------------------------------------------------------------- benchmarks
CONTENDERS = ("reference", "fastspike_b1", "fastspike_batched")


def bench_caption(res: dict, stem: str) -> str:
    m = res["machine"]
    quick = " --quick" if res.get("quick") else ""
    model = res.get("model", "mozafari2018")
    return (
        f"`python -m bench --model {model} --device {m['device']} --repeats {res['repeats']}{quick}` on "
        f"{m['device_name']} ({m['threads']} threads), torch {m['torch']}, {res['date']}; "
        f"{res['samples']:,} MNIST images per phase, median samples/s of {res['repeats']} repeats; "
        f"ratio = fastspike / reference in the same run; full output: `bench/results/{stem}.md`."
    )


def ratio(a: dict | None, b: dict | None) -> str:
    return "-" if a is None or b is None else f"{a['samples_per_s'] / b['samples_per_s']:.1f}x"


def gen_bench(args: list[str]) -> str:
    """A ``python -m bench`` result: every phase, fresh and trained weights."""
    (stem,) = args
    res = load(stem)
    rows = []
    for p in res["phases"]:
        ref, b1, bb = (p.get(c) for c in CONTENDERS)
        rows.append(
            [
                p["phase"],
                p["state"],
                num(ref["samples_per_s"]) if ref else "-",
                num(b1["samples_per_s"]) if b1 else "-",
                num(bb["samples_per_s"]) if bb else "-",
                ratio(b1, ref),
                ratio(bb, ref),
            ]
        )
    header = ["phase", "weights", "reference", "fastspike B=1", f"fastspike B={res['batch']}"]
    header += ["ratio B=1", f"ratio B={res['batch']}"]
    return table(header, rows) + "\n\n" + bench_caption(res, stem)


def gen_bench_zoo(args: list[str]) -> str:
    """Several ``python -m bench`` results in one table: trained-weight figures, both ratios."""
    rows, dates = [], set()
    for stem in args:
        res = load(stem)
        dates.add(day(res["date"]))
        fresh = {p["phase"]: p for p in res["phases"] if p["state"] == "fresh"}
        for p in res["phases"]:
            if p["state"] != "trained" or p["phase"] == "encoding":
                continue
            ref, b1, bb = (p.get(c) for c in CONTENDERS)
            f = fresh.get(p["phase"], {})
            rows.append(
                [
                    f"`{res['model']}`",
                    p["phase"],
                    num(ref["samples_per_s"]),
                    num(b1["samples_per_s"]),
                    num(bb["samples_per_s"]),
                    f"{ratio(f.get('fastspike_batched'), f.get('reference'))} / {ratio(bb, ref)}",
                ]
            )
    res = load(args[0])
    m = res["machine"]
    header = ["network", "phase", "reference", "fastspike B=1", f"fastspike B={res['batch']}"]
    header.append(f"ratio B={res['batch']} (fresh / trained)")
    caption = (
        f"`python -m bench --model NAME --repeats {res['repeats']}` on {m['device_name']} ({m['threads']} "
        f"threads), torch {m['torch']}, {', '.join(sorted(dates))}; {res['samples']:,} MNIST images per "
        "phase, median samples/s with trained weights; files: "
        + ", ".join(f"`bench/results/{s}.json`" for s in args)
        + "."
    )
    return table(header, rows) + "\n\n" + caption


def gen_busy(args: list[str]) -> str:
    res = load("busy-amd-epyc")
    rows = [
        [str(r["threads"]), r["phase"], num(r["quiet"]), num(r["busy"]), f"{100 * r['kept']:.0f}%"]
        for r in res["rows"]
    ]
    env = ", ".join(f"{k}={v}" for k, v in (res.get("environment") or {}).items())
    caption = (
        f"`python -m bench.busy` on {res['cpu']} ({res['cores']} cores), torch {res['torch']}, "
        f"{res['date']}; {res['samples']:,} samples, median of {res['repeats']}; {env}; "
        "file: `bench/results/busy-amd-epyc.json`."
    )
    header = ["threads", "phase", "quiet (samples/s)", "one busy core (samples/s)", "kept"]
    return table(header, rows) + "\n\n" + caption


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def gen_distributed(args: list[str]) -> str:
    res = load("distributed-cpu-amd-epyc")
    rows = []
    for r in res["rows"]:
        rows.append(
            [
                r["layer"],
                num(_median(r["one"]["samples_per_s"])),
                num(_median(r["single"]["samples_per_s"])),
                num(_median(r["torchrun"]["samples_per_s"])),
                f"{r['ratio_vs_one']:.2f}x",
                f"{r['ratio_vs_threads']:.2f}x",
                f"{100 * r['one']['update_share']:.0f}%",
                f"{r['torchrun']['bytes_per_sample']:,.0f}",
            ]
        )
    header = [
        "layer",
        "1 process x 1 thread",
        "1 process x 2 threads",
        f"{res['procs']} processes x 1 thread",
    ]
    header += ["vs 1 x 1", "vs 1 x 2", "update share", "bytes exchanged / sample"]
    caption = (
        f"`python -m bench.distributed` on {res['cpu']} ({res['cores']} cores), torch {res['torch']}, "
        f"{res['when']}; Mozafari 2018, {res['samples']:,} MNIST images per epoch, global batch "
        f"{res['batch']}, median samples/s of {res['repeats']} epochs; every run ends with the same weights; "
        "file: `bench/results/distributed-cpu-amd-epyc.json`."
    )
    return table(header, rows) + "\n\n" + caption


def gen_diehlcook(args: list[str]) -> str:
    res = load("diehlcook-cpu-amd-epyc")
    rows = []
    for n, s in res["sizes"].items():
        rows.append(
            [
                n,
                num(s["train_images_per_s"]["median"]),
                num(s["infer_images_per_s"]["median"]),
                f"{s['reference_train_images_per_s']:.1f}",
                f"{s['speedup_vs_reference']:.0f}x",
                "yes" if s["reference_identical"] else "no",
            ]
        )
    header = ["neurons", "training (img/s)", "inference (img/s)", "per-step torch reference (img/s)"]
    header += ["fused / reference", "same bits"]
    caption = (
        f"`python -m bench.diehlcook` on {res['cpu']}, torch {res['torch']}, {res['date']}; training on one "
        f"thread (the algorithm is sequential), inference on {res['threads']}; median of "
        f"{res['args']['repeats']}; file: `bench/results/diehlcook-cpu-amd-epyc.json`."
    )
    return table(header, rows) + "\n\n" + caption


def gen_batch_accuracy(args: list[str]) -> str:
    res = load("batch-accuracy-cpu-intel-r-xeon-r-processor")
    rows = [
        [str(r["batch_size"]), pct(r["best_test"]["correct"]), duration(r["wall_s"])] for r in res["rows"]
    ]
    sched = ", ".join(
        f"S{i + 1} {e} x {n:,}" for i, (e, n) in enumerate(zip(res["epochs"], res["samples"], strict=True))
    )
    caption = (
        f"`python -m bench.batch_accuracy` on {res['device']} ({res['threads']} threads), "
        f"torch {res['torch']}, {res['date']}; Mozafari 2018, {sched} (epochs x images), best S3 "
        f"epoch on the {res['test_samples']:,} test images; "
        "file: `bench/results/batch-accuracy-cpu-intel-r-xeon-r-processor.json`."
    )
    return table(["batch size", "test accuracy", "wall time"], rows) + "\n\n" + caption


def gen_liquid(args: list[str]) -> str:
    res = load(os.path.join(ROOT, "examples", "results", "rstdp_liquid.json"))
    a = res["args"]
    return (
        f"Measured: **{pct(res['test_accuracy'])}** on {res['test_images']:,} MNIST test images after "
        f"{res['epochs']} pass over {res['train_images']:,} training images, "
        f"{duration(res['wall_time_s'])} on {res['threads']} thread of the {res['machine']}, "
        f"torch {res['torch']} "
        f"(`python examples/rstdp_liquid.py --train {a['train']} --val {a['val']} --test {a['test']} "
        f"--seed {a['seed']}`; record: `examples/results/rstdp_liquid.json`)."
    )


def _default(f) -> str:
    import dataclasses

    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value):
        args = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(value).items())
        return f"`{type(value).__name__}({args})`" if len(args) < 60 else f"`{type(value).__name__}()`"
    text = (
        json.dumps(value) if isinstance(value, (tuple, list, str)) and len(str(value)) < 60 else repr(value)
    )
    return f"`{text}`" if len(text) < 60 else "the paper's (see the class)"


def gen_spec_fields(args: list[str]) -> str:
    """The fields of a spec class (``spec-fields MODULE.CLASS``): name, type, default, and the
    ``type`` a config file names it by."""
    import dataclasses
    import importlib

    import fastspike.rules  # noqa: F401  (registers every rule type)
    from fastspike import spec

    (path,) = args
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    rows = []
    for f in dataclasses.fields(cls):
        ftype = str(f.type).replace("|", "or")
        rows.append([f"`{f.name}`", f"`{ftype}`", _default(f)])
    type_name = getattr(spec, "_TYPE_NAMES", {}).get(cls)
    head = f"In a file: `type: {type_name}`.\n\n" if type_name else ""
    return head + (table(["field", "type", "default"], rows) if rows else "No fields.")


def gen_ci(args: list[str]) -> str:
    """The newest recorded CI run (bench/results/ci-*.json, written by scripts/ci_record.py)."""
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "results", "ci-*.json")))
    if not files:
        return "CI's time on a clean clone: not recorded yet (scripts/ci_record.py)."
    runs = []
    for path in files:
        with open(path) as f:
            runs.append(json.load(f))
    run = max(runs, key=lambda r: r["date"])
    stages = ", ".join(f"{k} {duration(v)}" for k, v in run.get("stages", {}).items())
    note = f" ({run['note']})" if run.get("note") else ""
    return (
        f"CI on a clean clone takes **{duration(run['seconds'])}** on the {run['cores']}-core {run['cpu']}"
        f" machine (limit 30 min; commit `{run['commit']}`, {day(run['date'])}{note}): {stages}."
    )


GENERATORS = {
    "ci": gen_ci,
    "spec-fields": gen_spec_fields,
    "zoo": gen_zoo,
    "results": gen_results,
    "run": gen_run,
    "bench": gen_bench,
    "bench-zoo": gen_bench_zoo,
    "busy": gen_busy,
    "distributed": gen_distributed,
    "diehlcook": gen_diehlcook,
    "batch-accuracy": gen_batch_accuracy,
    "liquid": gen_liquid,
}


# ------------------------------------------------------------------------------------- pages
def pages() -> list[str]:
    docs = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    return [os.path.join(ROOT, "README.md"), *sorted(docs)]


def render(text: str, where: str) -> str:
    def block(m: re.Match) -> str:
        name, *args = m.group(1).split()
        if name not in GENERATORS:
            raise SystemExit(f"{where}: unknown generated block {name!r} (known: {', '.join(GENERATORS)})")
        body = GENERATORS[name](args).rstrip("\n")
        return f"<!-- generated: {m.group(1)} -->\n\n{body}\n\n<!-- /generated -->"

    return MARKER.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a page differs")
    args = p.parse_args(argv)
    stale = 0
    for path in pages():
        with open(path) as f:
            old = f.read()
        new = render(old, rel(path))
        if new == old:
            continue
        if args.check:
            stale += 1
            diff = difflib.unified_diff(
                old.splitlines(), new.splitlines(), rel(path), "from bench/results", lineterm=""
            )
            print("\n".join(diff))
        else:
            with open(path, "w") as f:
                f.write(new)
            print(f"wrote {rel(path)}")
    if stale:
        print(
            f"{stale} page(s) differ from bench/results/: run python scripts/docs_tables.py", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
