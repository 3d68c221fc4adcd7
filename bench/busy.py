"""Throughput on a busy machine: fastspike with one CPU-bound process beside it.

    python -m bench.busy [--threads 2 1] [--samples 1024] [--repeats 5]

For each thread count, times trained-weight inference (encoded test images -> decisions,
batch 64) and S1 STDP training (batch 64) of Mozafari 2018, first on a quiet machine, then
with one other process spinning on one core (a plain Python busy loop, started before and
stopped after the timed calls). Each measurement runs in a fresh process that imports
fastspike first, as ``python -m fastspike`` does, so fastspike's OpenMP wait policy
(``PASSIVE`` unless ``OMP_WAIT_POLICY`` is set) applies; the JSON records it.
The trained weights are those of the packaged demo checkpoint. Writes JSON + Markdown,
by default ``bench/results/busy-<cpu slug>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import time

import torch

from bench.run import cpu_name, cpu_slug

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_MEASURE = r"""
import json, os, sys
import fastspike  # first, as `python -m fastspike` runs: its OpenMP wait policy applies
import torch
from bench.run import Timer
from fastspike.data import load_dataset
from fastspike.encoding import Encoder
from fastspike.api import load_model
from fastspike.training import learner, predict, train_epoch
threads, n, repeats = (int(a) for a in sys.argv[1:4])
data, ckpt = sys.argv[4:6]
torch.set_num_threads(threads)
train, test = load_dataset("mnist", data, download=False)
model = load_model(ckpt)
times = Encoder()(test.images[:n])
x1 = model.layer_input(1, Encoder()(train.images[:n]), training=True)
w1 = model.conv1.weight.clone()
def inference():
    predict(model, times, batch_size=64)
def s1():
    train_epoch(model, 1, x1, learner(model, 1), batch_size=64)
    model.conv1.weight.copy_(w1)
res = Timer(torch.device("cpu"), repeats).run({"inference": (inference, n), "S1 STDP training": (s1, n)})
rates = {name: r["samples_per_s"] for name, r in res.items()}
print(json.dumps({"rates": rates, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}))
"""

_HOG = "while True: pass"


def _measure(
    threads: int, n: int, repeats: int, data: str, ckpt: str, busy: bool
) -> tuple[dict[str, float], str | None]:
    """``(samples/s per phase, the OpenMP wait policy the measurement ran with)``."""
    hog = subprocess.Popen([sys.executable, "-c", _HOG]) if busy else None
    try:
        if hog:
            time.sleep(1.0)  # the hog is running before the measurement starts
        r = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(threads), str(n), str(repeats), os.path.abspath(data), ckpt],
            capture_output=True,
            text=True,
            check=False,
            cwd=_ROOT,  # where `bench` imports from
        )
    finally:
        if hog:
            hog.kill()
            hog.wait()
    if r.returncode != 0:
        raise RuntimeError(f"bench.busy: the measurement failed:\n{r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out["rates"], out["OMP_WAIT_POLICY"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.busy", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--samples", type=int, default=1024, help="images per timed call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--data", default=os.environ.get("FASTSPIKE_DATA", os.path.join("..", "shared", "data")))
    p.add_argument("--out", default=os.path.join("bench", "results"))
    args = p.parse_args(argv)
    if min(args.threads) < 1 or args.samples < 1 or args.repeats < 1:
        p.error("--threads, --samples and --repeats must be positive")
    ckpt = os.path.join(_ROOT, "fastspike", "pretrained", "mozafari2018-tiny.pt")
    rows, policies = [], set()
    for threads in args.threads:
        quiet, p_quiet = _measure(threads, args.samples, args.repeats, args.data, ckpt, busy=False)
        busy, p_busy = _measure(threads, args.samples, args.repeats, args.data, ckpt, busy=True)
        policies |= {str(p_quiet), str(p_busy)}
        for phase in quiet:
            rows.append(
                {
                    "threads": threads,
                    "phase": phase,
                    "quiet": quiet[phase],
                    "busy": busy[phase],
                    "kept": busy[phase] / quiet[phase],
                }
            )
            print(
                f"{threads} threads, {phase}: quiet {quiet[phase]:,.0f}/s, busy {busy[phase]:,.0f}/s "
                f"({busy[phase] / quiet[phase]:.0%} kept)",
                flush=True,
            )
    names = ("GOMP_SPINCOUNT", "OMP_NUM_THREADS")
    env = {k: os.environ[k] for k in names if k in os.environ}
    env["OMP_WAIT_POLICY"] = "/".join(sorted(policies))
    res = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "samples": args.samples,
        "repeats": args.repeats,
        "environment": env,
        "rows": rows,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"busy-{cpu_slug()}")
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    lines = [
        f"### fastspike on a busy machine: {res['cpu']} ({res['date']})",
        "",
        f"torch {res['torch']}, {res['cores']} cores, one other CPU-bound process in the busy runs; "
        f"{args.samples} images per call, median of {args.repeats} repeats; "
        f"environment: {env or 'defaults'}.",
        "",
        "| threads | phase | quiet samples/s | busy samples/s | kept |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['threads']} | {r['phase']} | {r['quiet']:,.0f} | {r['busy']:,.0f} | {r['kept']:.0%} |"
        for r in rows
    ]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
