"""Turn a training run folder into a committed result file.

    python scripts/run_result.py RUN_DIR [--command "the command that made it"] [--note TEXT]

Reads ``RUN_DIR/history.json`` (every epoch of every phase), ``RUN_DIR/metrics.json`` (the
test-set figures, written at the end of a finished run) and the spec and schedule from
``RUN_DIR/last.pt``; writes ``bench/results/train-<model>-cpu-<cpu slug>.json`` with the
machine (lscpu's model name, threads, torch) and the date. A run stopped before its end has
no metrics.json: evaluate its ``last.pt`` first with ``python -m fastspike eval --checkpoint
RUN_DIR/last.pt`` (the weights of the epoch chosen on validation so far) and pass the file it
writes with ``--metrics RUN_DIR/eval-mnist.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.run import cpu_name, cpu_slug  # noqa: E402
from fastspike.families.conv import spec_of_checkpoint  # noqa: E402
from fastspike.training import checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--command", default=None)
    p.add_argument("--note", default=None)
    p.add_argument("--metrics", default=None, help="test metrics JSON (default RUN/metrics.json)")
    p.add_argument("--out", default=os.path.join("bench", "results"))
    args = p.parse_args(argv)
    hist = json.load(open(os.path.join(args.run, "history.json")))
    mpath = args.metrics or os.path.join(args.run, "metrics.json")
    metrics = json.load(open(mpath)) if os.path.exists(mpath) else None
    ckpt = checkpoint.load(os.path.join(args.run, "last.pt"))
    spec, cfg = spec_of_checkpoint(ckpt, args.run)
    prog = ckpt["progress"]
    phases_done = prog["phase"]
    result = {
        "model": spec.name,
        "dataset": cfg.get("dataset"),
        "schedule": [{"layer": ph.layer, "epochs": ph.epochs, "samples": ph.samples} for ph in spec.phases],
        "finished": phases_done == len(spec.phases),
        "epochs_done": {
            "phase": phases_done,
            "epoch": prog["epoch"],
        },
        "selected": {
            "layer": prog["best_layer"],
            "epoch": prog["best_epoch"],
            "val_correct": prog["best_accuracy"],
        },
        "validation": cfg.get("validation"),
        "batch_size": cfg.get("batch_size"),
        "seed": cfg.get("seed"),
        "test": metrics,
        "wall_s": hist[-1]["wall"] if hist else None,
        "history": hist,
        "command": args.command,
        "note": args.note,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"train-{spec.name}-cpu-{cpu_slug()}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
