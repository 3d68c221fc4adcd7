"""Test accuracy as a function of the batch size, same schedule and data order.

    python -m bench.batch_accuracy [--batches 1 16 64 256] [--samples 10000 20000 20000] [--epochs 1 1 3]

Mozafari 2018 (S1/S2 STDP, S3 R-STDP) trained by ``fastspike.train.train_mnist``.
Batched STDP runs each batch's forward pass with the weights at the start of the
batch and applies the per-sample updates in order (docs/reference/semantics.md#batched-stdp);
batch_size=1 is the exact sequential algorithm. Writes JSON + Markdown, by default
``bench/results/batch-accuracy-<device>-<cpu slug>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import time

import torch

from bench.run import cpu_name, result_stem
from fastspike.api import train_mnist

MODEL = "mozafari2018"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.batch_accuracy")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    p.add_argument("--samples", type=int, nargs=3, default=[10000, 20000, 20000])
    p.add_argument("--epochs", type=int, nargs=3, default=[1, 1, 3])
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument(
        "--validation", type=int, default=10000, help="held-out training images to choose the epoch"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=os.environ.get("FASTSPIKE_DATA", os.path.join("..", "shared", "data")))
    p.add_argument("--out", default=os.path.join("bench", "results"))
    p.add_argument(
        "--name", default=None, help="output file stem (default: batch-accuracy-<device>-<cpu slug>)"
    )
    args = p.parse_args(argv)
    rows = []
    for b in args.batches:
        t0 = time.perf_counter()
        net, hist = train_mnist(
            args.data,
            model=MODEL,
            device=args.device,
            samples=tuple(args.samples),
            epochs=list(args.epochs[:3]),
            batch_size=b,
            test_samples=args.test_samples,
            validation=args.validation,
            progress=False,
            download=False,
        )
        hist = [h for h in hist if h.get("layer", "S3") == "S3"]  # the evaluated (R-STDP) epochs
        rows.append(
            {
                "batch_size": b,
                "test_accuracy": net.test_metrics["accuracy"],
                "test_silent": net.test_metrics["silent"],
                "chosen_epoch": net.selection["epoch"],
                "val_per_epoch": [h["val"]["correct"] for h in hist],
                "wall_s": time.perf_counter() - t0,
            }
        )
        print(
            f"batch {b}: test accuracy {net.test_metrics['accuracy']:.4f} (S3 epoch "
            f"{net.selection['epoch']}, chosen on the validation split), "
            f"{rows[-1]['wall_s']:.0f} s",
            flush=True,
        )
    cpu = cpu_name()
    dev = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else cpu
    res = {
        "model": MODEL,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": dev,
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "samples": args.samples,
        "epochs": args.epochs,
        "test_samples": args.test_samples or 10000,
        "validation": args.validation,
        "rows": rows,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, args.name or result_stem("batch-accuracy", args.device, cpu))
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    md = [
        f"Accuracy vs batch size ({dev}, {res['date']}): S1/S2/S3 trained on the first "
        f"{args.samples[0]}/{args.samples[1]}/{args.samples[2]} MNIST images for "
        f"{args.epochs[0]}/{args.epochs[1]}/{args.epochs[2]} epochs; the S3 epoch chosen on the "
        f"last {args.validation} training images, then {res['test_samples']} test images once.",
        "",
        "| batch size | chosen S3 epoch | test correct | silent | wall time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['batch_size']} | {r['chosen_epoch']} | {r['test_accuracy']:.4f} | {r['test_silent']:.4f} "
            f"| {r['wall_s']:.0f} s |"
        )
    with open(stem + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
