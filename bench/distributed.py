"""Data-parallel scaling on one machine: N processes x 1 thread against 1 process.

    python -m bench.distributed [--procs 2] [--samples 4096] [--batch 64] [--repeats 3]
                                [--data ../shared/data] [--out bench/results]

Times a Mozafari 2018 training epoch of each layer (S1 and S2 STDP, S3 R-STDP) on real
MNIST in three runs: one process with one thread, one process with ``--procs`` threads,
and ``--procs`` processes of one thread each under ``torchrun`` (gloo), the same global
batch in all three (so the same weights, bit for bit: checked). Before timing, S1 and S2
are trained on 2,000 images (not timed) so that S2 and S3 see realistic inputs; the lower
layers' outputs are cached, as the trainer runs it. Each figure is the median (min-max) of
``--repeats`` epochs, every epoch from the same weights, after a warm-up epoch. Also
reported: the bytes one sample adds to the exchange (winners, post times, receptive
fields, decisions) against the bytes of the layer's weights (what a weight all-reduce
would move per batch and rank, twice), and the share of a one-thread epoch spent applying
the updates (every rank applies all of them, so that part does not shrink with more
ranks). Writes ``distributed-cpu-<cpu>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@torch.no_grad()
def _restore(conv, w0: torch.Tensor) -> None:
    conv.weight.copy_(w0)  # not .data: the copy must bump the version that keys cached layouts


def _worker(args) -> None:
    from fastspike import distributed
    from fastspike.data import encode_dataset, load_dataset
    from fastspike.models import Mozafari2018
    from fastspike.training import learner, train_epoch

    torch.set_num_threads(args.threads)
    world, _ = distributed.init_from_env("cpu")
    train, _ = load_dataset("mnist", args.data, download=False)
    n, warm = args.samples, 2000
    m = Mozafari2018(seed=0)
    full = encode_dataset(train.images[warm : warm + n], m.encoder)
    x_warm = encode_dataset(train.images[:warm], m.encoder)
    for layer in (1, 2):  # realistic inputs for S2 and S3 (every rank the same: not split)
        train_epoch(m, layer, m.layer_input(layer, x_warm, training=True), learner(m, layer), batch_size=64)
    labels = train.labels[warm : warm + n]
    spent = [0.0]  # seconds inside SpikingConv.stdp (the updates)
    layer_cls = type(m.conv(1))
    plain_stdp = layer_cls.stdp

    def timed_stdp(self, *a, **kw):
        t = time.perf_counter()
        plain_stdp(self, *a, **kw)
        spent[0] += time.perf_counter() - t

    layer_cls.stdp = timed_stdp
    rows = []
    for layer in (1, 2, 3):
        x = m.layer_input(layer, full if world is None else world.shard(full), training=True)
        conv = m.conv(layer)
        w0 = conv.weight.detach().clone()
        kw = {"labels": labels} if layer == 3 else {}
        arg = x if world is None else distributed.Shard(x, n, world)
        times, shares = [], []
        sent = 0
        for _ in range(args.repeats + 1):  # the first is a warm-up
            _restore(conv, w0)
            if world is not None:
                world.barrier()
                before = world.bytes_sent
            spent[0] = 0.0
            t0 = time.perf_counter()
            train_epoch(m, layer, arg, learner(m, layer), batch_size=args.batch, **kw)
            if world is not None:
                world.barrier()
                sent = world.bytes_sent - before
            times.append(time.perf_counter() - t0)
            shares.append(spent[0] / times[-1])
        times, shares = times[1:], shares[1:]
        digest = float(conv.weight.double().sum())
        _restore(conv, w0)
        if world is not None:  # every rank's payload bytes, summed
            sent = int(world.all_reduce_sum(torch.tensor([sent], dtype=torch.int64)))
        rows.append(
            {
                "layer": m.layer_names[layer - 1],
                "seconds": times,
                "samples_per_s": [n / t for t in times],
                "bytes_per_sample": sent / n if world is not None else None,
                "update_share": statistics.median(shares),
                "weight_bytes": conv.weight.numel() * conv.weight.element_size(),
                "weight_digest": digest,
            }
        )
    if world is None or world.is_main:
        with open(args.result, "w") as f:
            json.dump(rows, f)
    if world is not None:
        world.barrier()
        torch.distributed.destroy_process_group()


def _med(v: list[float]) -> str:
    return f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    from bench.run import cpu_name, cpu_slug

    common = [
        "--worker", "--samples", str(args.samples), "--batch", str(args.batch),
        "--repeats", str(args.repeats), "--data", args.data,
    ]  # fmt: skip
    path = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launch += ["--nproc-per-node", str(args.procs)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in (
            ("one", [sys.executable, "-m", "bench.distributed", *common, "--threads", "1"]),
            ("single", [sys.executable, "-m", "bench.distributed", *common, "--threads", str(args.procs)]),
            ("torchrun", [*launch, "-m", "bench.distributed", *common, "--threads", "1"]),
        ):
            out = os.path.join(tmp, f"{name}.json")
            print(f"bench.distributed: {name}: {' '.join(cmd[1:])}", flush=True)
            subprocess.run([*cmd, "--result", out], env=env, check=True, cwd=ROOT)
            with open(out) as f:
                results[name] = json.load(f)
    cpu = cpu_name()
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for o, a, b in zip(results["one"], results["single"], results["torchrun"], strict=True):  # per layer
        if not o["weight_digest"] == a["weight_digest"] == b["weight_digest"]:
            raise SystemExit(f"bench.distributed: {a['layer']}: the runs' weights differ (a bug)")
        med = {
            k: statistics.median(r["samples_per_s"]) for k, r in (("one", o), ("single", a), ("torchrun", b))
        }
        rows.append(
            {
                "layer": a["layer"],
                "weight_bytes": a["weight_bytes"],
                "ratio_vs_one": med["torchrun"] / med["one"],
                "ratio_vs_threads": med["torchrun"] / med["single"],
                "one": o,
                "single": a,
                "torchrun": b,
            }
        )
    res = {
        "when": when,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "procs": args.procs,
        "samples": args.samples,
        "batch": args.batch,
        "repeats": args.repeats,
        "rows": rows,
    }
    P = args.procs
    lines = [
        f"### fastspike data-parallel scaling, Mozafari 2018 on MNIST ({when})",
        "",
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}; global batch {args.batch}, "
        f"{args.samples} samples per epoch, {args.repeats} repeats, median (min-max) samples/s; "
        f"all runs end with the same weights (checked).",
        "",
        f"| layer | 1 process x 1 thread | 1 process x {P} threads | {P} processes x 1 thread (gloo) "
        f"| {P} processes / 1 thread | {P} processes / {P} threads | update share (1 thread) "
        "| exchanged bytes / sample | weight bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {_med(r['one']['samples_per_s'])} | {_med(r['single']['samples_per_s'])} | "
            f"{_med(r['torchrun']['samples_per_s'])} | {r['ratio_vs_one']:.2f}x | "
            f"{r['ratio_vs_threads']:.2f}x | {100 * r['one']['update_share']:.0f}% | "
            f"{r['torchrun']['bytes_per_sample']:,.0f} | {r['weight_bytes']:,} |"
        )
    md = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"distributed-cpu-{cpu_slug(cpu)}")
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
