"""Command line: ``python -m fastspike train|eval ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fastspike", description="fastspike: STDP-trained spiking networks")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the Mozafari 2018 network")
    t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    t.add_argument("--root", default="data", help="dataset folder (ROOT/MNIST/raw/*.gz; downloaded if missing)")
    t.add_argument("--preset", default="quick", help="quick | paper")
    t.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--epochs1", type=int, default=None)
    t.add_argument("--epochs2", type=int, default=None)
    t.add_argument("--epochs3", type=int, default=None)
    t.add_argument("--samples", type=int, nargs=3, default=None, metavar=("N1", "N2", "N3"),
                   help="training samples per epoch for S1, S2, S3 (0 = all)")
    t.add_argument("--test-samples", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoint-dir", default=None)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--compat", action="store_true", help="reproduce the reference's quirks")
    t.add_argument("--cache-dir", default=None, help="cache the encoded dataset here")
    t.add_argument("--history", default=None, help="write the per-epoch history as JSON here")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("eval", help="evaluate a checkpoint on the test set")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist"])
    e.add_argument("--root", default="data")
    e.add_argument("--device", default=None)
    e.add_argument("--test-samples", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from fastspike.train import evaluate, load_model, train_mnist

    t0 = time.perf_counter()
    if args.command == "train":
        samples = None if args.samples is None else tuple(n if n > 0 else None for n in args.samples)
        model, history = train_mnist(
            args.root, dataset=args.dataset, device=args.device, preset=args.preset, epochs1=args.epochs1,
            epochs2=args.epochs2, epochs3=args.epochs3, samples=samples, test_samples=args.test_samples,
            batch_size=args.batch_size, seed=args.seed, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
            progress=not args.no_progress, compat=args.compat, cache_dir=args.cache_dir)
        if args.history:
            with open(args.history, "w") as f:
                json.dump(history, f, indent=1)
        best = max(history, key=lambda h: h["test"]["correct"]) if history else None
        acc = best["test"]["correct"] if best else float("nan")
        print(f"fastspike train: dataset={args.dataset} preset={args.preset} device={next(model.buffers()).device} "
              f"test accuracy {acc:.4f} (best of {len(history)} S3 epochs) wall time {time.perf_counter() - t0:.1f} s")
        return 0

    from fastspike.data import load_dataset
    from fastspike.encoding import Encoder

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ckpt_cfg = torch.load(args.checkpoint, map_location="cpu", weights_only=False).get("config", {})
    model = load_model(args.checkpoint, device)
    dataset = args.dataset or ckpt_cfg.get("dataset", "mnist")
    _, test = load_dataset(dataset, args.root)
    test = test.subset(args.test_samples)
    x = Encoder(T=model.T)(test.images.to(device))
    res = evaluate(model, model.layer_input(3, x), test.labels)
    print(f"fastspike eval: {args.checkpoint} on {dataset} ({len(test)} test images): correct {res['correct']:.4f} "
          f"wrong {res['wrong']:.4f} silent {res['silent']:.4f} wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
