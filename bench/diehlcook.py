"""Diehl & Cook (2015) throughput: the fused operators against the per-step torch reference.

    python -m bench.diehlcook [--neurons 100 400] [--train 2000] [--test 5000] [--ref 3]
                              [--repeats 3] [--data ../shared/data] [--out bench/results]

For each network size, on real MNIST:

* **training** (the exact sequential algorithm, one image after another, the state carried;
  one thread, as the algorithm has no batch): ``--train`` images, after the network has
  learned from 1,000 images (not timed) so that the thresholds, and so the intensity retry
  rate, are those of a network in training;
* **inference** (frozen, every image independent, all threads): ``--test`` test images;
* **the reference**: :func:`fastspike.reference.diehl_cook_reference`, the plain
  per-step torch loop the established simulators run (one image at a time), on ``--ref``
  of the same training images, learning; the fused operator's result is checked to be
  bit-identical to it.

Each figure is the median (min-max) of ``--repeats`` runs from the same starting state.
Images/s counts images; presentations/image (the retry rule shows an image again while
fewer than 5 neurons spiked) is reported beside it. Writes ``diehlcook-cpu-<cpu>.json`` and
``.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import statistics
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: BindsNET 0.3.4 on this project's 2-core machine (issue 16's anchors; its own example loops,
#: 250 steps of 1 ms per image, CPU, torch 2.14.1).
ANCHORS = {
    100: {"train_b1": 19.8, "train_batched": 170.0, "infer_b1": 27.5, "infer_batched": 202.0},
    400: {"train_b1": 14.2, "train_batched": 81.0},
}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _slug(name: str) -> str:
    s = "".join(c if c.isalnum() else "-" for c in name.lower())
    for word in ("-processor", "-with-radeon-graphics"):
        s = s.replace(word, "")
    parts = [p for p in s.split("-") if p and not p.isdigit() and not p.endswith("-core")]
    return "-".join(parts[:3])


def _med(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def run(args) -> dict:
    from fastspike.data import load_dataset
    from fastspike.diehlcook import DiehlCook, diehlcook2015
    from fastspike.reference import diehl_cook_reference

    train, test = load_dataset("mnist", args.data, download=False)
    threads = torch.get_num_threads()
    out = {"sizes": {}}
    for N in args.neurons:
        m = DiehlCook(diehlcook2015(n_neurons=N), seed=0)
        torch.set_num_threads(1)
        m.learn(train.images[:1000], seed=0)  # a network in training (not timed)
        start = copy.deepcopy(m)
        xs = train.images[1000 : 1000 + args.train]
        tr, pres = [], 0.0
        for _ in range(args.repeats):
            m = copy.deepcopy(start)
            t = time.perf_counter()
            _, a = m.learn(xs, seed=0)
            tr.append(args.train / (time.perf_counter() - t))
            pres = float(a.float().mean())
        # the reference on the first --ref of the same images, from the same state
        ref_rates = []
        m = copy.deepcopy(start)
        x = xs[: args.ref].reshape(args.ref, -1).float() / 255.0
        w0, th0, st0, rf0, xp0 = (
            m.weight.clone(),
            m.theta.clone(),
            m.state.clone(),
            m.refs.clone(),
            m.x_pre.clone(),
        )
        t = time.perf_counter()
        ref = diehl_cook_reference(x, w0, th0, m.spec.params, 0, int(m.seen), True, st0, rf0, xp0)
        ref_rates.append(args.ref / (time.perf_counter() - t))
        c, _ = m.learn(xs[: args.ref], seed=0)
        same = (
            torch.equal(c, ref["counts"])
            and torch.equal(m.weight, ref["w"])
            and torch.equal(m.theta, ref["theta"])
        )
        torch.set_num_threads(threads)
        inf, ipres = [], 0.0
        for _ in range(args.repeats):
            t = time.perf_counter()
            _, a = start.respond(test.images[: args.test], seed=1)
            inf.append(args.test / (time.perf_counter() - t))
            ipres = float(a.float().mean())
        out["sizes"][str(N)] = {
            "train_images_per_s": _med(tr),
            "train_presentations_per_image": round(pres, 3),
            "infer_images_per_s": _med(inf),
            "infer_presentations_per_image": round(ipres, 3),
            "reference_train_images_per_s": ref_rates[0],
            "reference_images": args.ref,
            "reference_identical": bool(same),
            "speedup_vs_reference": statistics.median(tr) / ref_rates[0],
            "bindsnet_anchor": ANCHORS.get(N),
        }
        print(N, json.dumps(out["sizes"][str(N)]), flush=True)
    return out


def _markdown(res: dict) -> str:
    lines = [
        f"# Diehl & Cook 2015 throughput, {res['cpu']}",
        "",
        f"{res['date']}; torch {res['torch']}; {res['threads']} threads for inference, 1 for training "
        f"(the exact sequential algorithm); {res['args']['repeats']} repeats, median (min-max). "
        "350 ms + 150 ms per presentation at dt 0.5 ms (1,000 steps; inference: 700, no rest).",
        "",
        "| neurons | training img/s | presentations/img | inference img/s | presentations/img | "
        "reference img/s (per-step torch) | fused / reference | identical | BindsNET 0.3.4 (issue anchors) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in res["sizes"].items():
        t, i = r["train_images_per_s"], r["infer_images_per_s"]
        a = r["bindsnet_anchor"] or {}
        anchor = ", ".join(f"{k} {v:g}/s" for k, v in a.items()) or "-"
        lines.append(
            f"| {n} | {t['median']:.0f} ({t['min']:.0f}-{t['max']:.0f}) | "
            f"{r['train_presentations_per_image']} | "
            f"{i['median']:.0f} ({i['min']:.0f}-{i['max']:.0f}) | {r['infer_presentations_per_image']} | "
            f"{r['reference_train_images_per_s']:.2f} ({r['reference_images']} images) | "
            f"{r['speedup_vs_reference']:.0f}x | {r['reference_identical']} | {anchor} |"
        )
    lines += [
        "",
        "The BindsNET figures are the issue's anchors (250 steps of 1 ms per image, no retry rule in its "
        "example loop), measured on this project's 2-core machine, not in this run.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, nargs="+", default=[100, 400])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=5000)
    p.add_argument("--ref", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    res = run(args)
    res.update(
        cpu=_cpu_name(),
        date=_dt.date.today().isoformat(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        args=vars(args),
    )
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"diehlcook-cpu-{_slug(res['cpu'])}")
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(_markdown(res))
    print(_markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
