"""Train the demo checkpoint shipped with ``fastspike serve``.

Trains the tiny Mozafari 2018 preset (seed 0) on MNIST and writes a slimmed copy of
its best checkpoint to ``fastspike/pretrained/mozafari2018-tiny.pt``: the best S3
weights are kept once (in the model state) instead of twice. The checkpoint holds its
metrics on the whole MNIST test set (``progress["test_metrics"]``), which the demo page
shows; ``--metrics-only`` adds them to an existing checkpoint without training it again.

    python scripts/train_demo_checkpoint.py --data /work/shared/data
    python scripts/train_demo_checkpoint.py --data /work/shared/data --metrics-only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import tempfile
import time

import torch

from fastspike.api import evaluate_images, load_model, predict_images, train
from fastspike.data import load_dataset
from fastspike.metrics import classification_metrics
from fastspike.training import checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fastspike", "pretrained", "mozafari2018-tiny.pt")


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def slim(best_path: str, out_path: str) -> dict:
    """``best.pt`` -> a checkpoint holding the best weights once (plain data only)."""
    ckpt = torch.load(best_path, map_location="cpu", weights_only=True)
    prog = ckpt.get("progress") or {}
    best_w = prog.get("best_weight")
    if best_w is not None:
        layer = prog.get("best_layer") or load_model(best_path).layer_names[-1]
        net = load_model(best_path, best=True)
        key = f"conv{net.index(layer) + 1}.weight"
        if not torch.equal(ckpt["model"][key], best_w):
            print(f"model state {key} differs from the best weights: copying them in")
            ckpt["model"][key] = best_w.clone()
        prog["best_weight"] = None
        ckpt["progress"] = prog
    checkpoint.save(out_path, ckpt)  # with a fresh checksum of the slimmed contents
    # the slimmed file must give the very same network as best.pt
    a, b = load_model(best_path), load_model(out_path)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    return ckpt


def add_test_metrics(path: str, data: str) -> dict:
    """Evaluate the checkpoint at ``path`` on the whole MNIST test set and store the metrics
    in it (``progress["test_metrics"]``, with a fresh checksum); the weights stay as they are."""
    ckpt = checkpoint.load(path)
    test = load_dataset("mnist", data, download=False)[1]
    metrics = classification_metrics(predict_images(load_model(path), test.images), test.labels, 10)
    ckpt["progress"] = {**(ckpt.get("progress") or {}), "test_metrics": metrics}
    checkpoint.save(path, {k: v for k, v in ckpt.items() if k != "checksum"})
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("FASTSPIKE_DATA", "/work/shared/data"))
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--metrics-only", action="store_true", help="only add the test metrics to the existing --out file"
    )
    args = ap.parse_args()
    if args.metrics_only:
        m = add_test_metrics(args.out, args.data)
        print(f"{os.path.normpath(args.out)}: test accuracy {m['accuracy']:.4f} on {m['n']} images, stored")
        return

    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        train(
            "mozafari2018",
            "mnist",
            args.data,
            preset="tiny",
            seed=args.seed,
            device="cpu",
            checkpoint_dir=d,
            progress=False,
            download=False,
        )
        slim(os.path.join(d, "best.pt"), args.out)
    took = time.time() - t0
    if "test_metrics" not in (checkpoint.load(args.out).get("progress") or {}):
        add_test_metrics(args.out, args.data)  # a trainer that did not store them

    net = load_model(args.out)
    test = load_dataset("mnist", args.data, download=False)[1]
    acc = evaluate_images(net, test.images, test.labels)
    print(f"wrote {os.path.normpath(args.out)} ({os.path.getsize(args.out) / 1e6:.1f} MB) in {took:.0f} s")
    print(f"test accuracy: {acc}")
    print(f"date: {datetime.date.today().isoformat()}  cpu: {cpu_model()}")


if __name__ == "__main__":
    main()
